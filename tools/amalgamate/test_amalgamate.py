"""Unit tests of the amalgamation generator's pure parts, and one run of the
whole generator over the real sources (it needs no compiler)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import amalgamate as am  # noqa: E402


class FileScopeNames(unittest.TestCase):
    def test_finds_statics_types_and_enum_constants(self):
        text = """
static int helper(int x);
static void *worker(void *arg)
{
    int local = 0;
    return arg;
}
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[4];
typedef struct entry {
    int id;
} entry;
struct plain {
    int x;
};
typedef int handle_t;
enum { SLOT_FREE = 0, SLOT_VALID = 2 /* published */ };
int pk_public(void) { return 0; }
"""
        names = am.file_scope_names(text)
        for want in ("helper", "worker", "lock", "names", "entry", "plain", "handle_t", "SLOT_FREE", "SLOT_VALID"):
            self.assertIn(want, names)
        self.assertNotIn("local", names)
        self.assertNotIn("pk_public", names)  # external: the linker already keeps it unique

    def test_static_inline_is_a_function(self):
        self.assertEqual({"fast"}, am.file_scope_names("static inline int fast(void) { return 1; }\n"))


class Macros(unittest.TestCase):
    def test_each_define_once_in_order(self):
        text = "#define A 1\n#  define B(x) (x)\n#if X\n#define A 2\n#endif\n#undef B\n"
        self.assertEqual(["A", "B"], am.defined_macros(text))

    def test_a_fallback_for_a_system_macro_is_kept(self):
        text = "#ifndef SIGPIPE\n#define SIGPIPE 13\n#endif\n#define OWN 1\n"
        self.assertEqual(["OWN"], am.defined_macros(text))


class Includes(unittest.TestCase):
    def test_only_internal_headers_are_dropped(self):
        index = {"loop.h": "api/src/loop.h"}
        out = am.strip_includes('#include <stdio.h>\n#include "loop.h"\n#include "processkit.h"\nint x;\n', index, "f.c")
        self.assertIn("#include <stdio.h>", out)
        self.assertNotIn('#include "loop.h"\n', out)
        self.assertIn("inlined above", out)
        self.assertIn("included at the top", out)
        self.assertIn("int x;", out)


class RealSources(unittest.TestCase):
    """The generator over the repository's own sources."""

    @classmethod
    def setUpClass(cls):
        cls.unit = am.amalgamation()

    def test_no_internal_include_survives(self):
        index = am.header_index()
        for line in self.unit.splitlines():
            m = am.INCLUDE_RE.match(line)
            if m:
                self.assertNotIn(m.group(1), index, line)

    def test_every_header_and_source_appears_once(self):
        parts = am.sources()
        for path in list(am.header_index().values()) + sum(parts.values(), []):
            if "/fake/" in path:
                continue
            marker = f"/* ==== {path} ==== */"
            self.assertLessEqual(self.unit.count(marker), 1, path)
        for path in sum(parts.values(), []):
            self.assertEqual(1, self.unit.count(f"/* ==== {path} ==== */"), path)

    def test_the_test_only_backend_is_not_shipped(self):
        self.assertNotIn("api/src/backends/fake", self.unit)

    def test_os_parts_are_guarded(self):
        linux = self.unit.index("/* ==== api/src/linux/spawn_linux.c ==== */")
        windows = self.unit.index("/* ==== api/src/windows/spawn_windows.c ==== */")
        self.assertGreater(linux, self.unit.rfind("#if !defined(_WIN32)", 0, linux))
        self.assertGreater(windows, self.unit.rfind("#if defined(_WIN32)", 0, windows))

    def test_no_assembly_file_is_needed(self):
        for d in am.HEADER_DIRS:
            self.assertFalse([f for f in os.listdir(os.path.join(am.ROOT, d)) if f.endswith((".S", ".s", ".asm"))], d)

    def test_go_copy_carries_its_build_constraint(self):
        files = am.outputs()
        self.assertTrue(files["bindings/go/processkit.c"].startswith("//go:build !processkit_system\n"))
        self.assertEqual(files["dist/amalgamation/processkit.c"], files["bindings/rust/csrc/processkit.c"])


if __name__ == "__main__":
    unittest.main()
