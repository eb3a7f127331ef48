#!/usr/bin/env python3
"""Unit tests of gen_manifest's pure functions: type classification, version
script parsing, function type splitting, AST file tracking, macro picking."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_manifest as gm  # noqa: E402

LP64_SIZES = {"signed char": 1, "short": 2, "int": 4, "long": 8, "long long": 8,
              "unsigned char": 1, "unsigned short": 2, "unsigned int": 4, "unsigned long": 8,
              "unsigned long long": 8, "_Bool": 1, "float": 4, "double": 8, "char": 1}


def lp64_context():
    return gm.TypeContext(
        typedefs={"size_t": "unsigned long", "int32_t": "__int32_t", "__int32_t": "int",
                  "uint32_t": "__uint32_t", "__uint32_t": "unsigned int",
                  "uint8_t": "__uint8_t", "__uint8_t": "unsigned char",
                  "int64_t": "__int64_t", "__int64_t": "long",
                  "uint64_t": "__uint64_t", "__uint64_t": "unsigned long",
                  "pk_alias": "int32_t"},
        structs={"pk_opts": "pk_opts", "struct pk_opts": "pk_opts"},
        opaque={"pk_group"},
        enums={"pk_error": ("pk_error", "int32"), "enum pk_error": ("pk_error", "int32"),
               "enum pk_feature": ("pk_feature", "uint32")},
        callbacks={"pk_line_fn"},
        builtins=gm.builtin_abis(LP64_SIZES, char_signed=True))


class ClassifyTest(unittest.TestCase):
    def setUp(self):
        self.ctx = lp64_context()

    def abi(self, spelling):
        return gm.classify(spelling, self.ctx)["abi"]

    def test_builtins_and_typedefs(self):
        self.assertEqual(self.abi("int"), "int32")
        self.assertEqual(self.abi("unsigned int"), "uint32")
        self.assertEqual(self.abi("int32_t"), "int32")
        self.assertEqual(self.abi("uint32_t"), "uint32")
        self.assertEqual(self.abi("size_t"), "uint64")
        self.assertEqual(self.abi("int64_t"), "int64")
        self.assertEqual(self.abi("uint64_t"), "uint64")
        self.assertEqual(self.abi("double"), "double")
        self.assertEqual(self.abi("float"), "float")
        self.assertEqual(self.abi("void"), "void")
        self.assertEqual(self.abi("char"), "int8")
        self.assertEqual(self.abi("const int32_t"), "int32")
        self.assertEqual(self.abi("pk_alias"), "int32")

    def test_char_signedness_and_ilp32(self):
        unsigned_char = gm.builtin_abis(LP64_SIZES, char_signed=False)
        self.assertEqual(unsigned_char["char"], "uint8")
        ilp32 = dict(LP64_SIZES, long=4)
        ilp32["unsigned long"] = 4
        table = gm.builtin_abis(ilp32, char_signed=True)
        self.assertEqual(table["long"], "int32")
        self.assertEqual(table["unsigned long"], "uint32")
        self.assertEqual(table["long int"], "int32")

    def test_pointers(self):
        t = gm.classify("const char *const *", self.ctx)
        self.assertEqual(t, {"c_type": "const char *const *", "abi": "pointer",
                             "pointee": "const char *const", "pointee_abi": "pointer"})
        t = gm.classify("const char *", self.ctx)
        self.assertEqual(t["pointee"], "const char")
        self.assertEqual(t["pointee_abi"], "int8")
        t = gm.classify("size_t *", self.ctx)
        self.assertEqual((t["abi"], t["pointee_abi"]), ("pointer", "uint64"))
        t = gm.classify("void *", self.ctx)
        self.assertEqual(t["pointee_abi"], "void")
        t = gm.classify("const uint8_t **", self.ctx)
        self.assertEqual((t["pointee"], t["pointee_abi"]), ("const uint8_t *", "pointer"))
        self.assertNotIn("pointee_type", t)

    def test_pointers_to_public_types(self):
        t = gm.classify("const pk_opts *", self.ctx)
        self.assertEqual((t["pointee"], t["pointee_abi"], t["pointee_type"]),
                         ("const pk_opts", "struct", "pk_opts"))
        t = gm.classify("pk_group *", self.ctx)
        self.assertEqual(t["pointee_type"], "pk_group")
        t = gm.classify("struct pk_opts *", self.ctx)
        self.assertEqual(t["pointee_type"], "pk_opts")
        t = gm.classify("pk_group **", self.ctx)
        self.assertEqual((t["pointee"], t["pointee_abi"]), ("pk_group *", "pointer"))
        self.assertNotIn("pointee_type", t)

    def test_structs_enums_callbacks_arrays(self):
        t = gm.classify("pk_opts", self.ctx)
        self.assertEqual((t["abi"], t["struct"]), ("struct", "pk_opts"))
        t = gm.classify("pk_error", self.ctx)
        self.assertEqual((t["abi"], t["enum"]), ("int32", "pk_error"))
        self.assertEqual(self.abi("enum pk_feature"), "uint32")
        t = gm.classify("pk_line_fn", self.ctx)
        self.assertEqual((t["abi"], t["callback"]), ("pointer", "pk_line_fn"))
        self.assertEqual(self.abi("void (*)(void *, int)"), "pointer")
        t = gm.classify("char[256]", self.ctx)
        self.assertEqual((t["abi"], t["array_length"]), ("int8", 256))

    def test_unclassifiable(self):
        for bad in ("long double", "struct unknown", "union u", "mystery_t", "pk_opts[2]"):
            with self.assertRaises(gm.GenError, msg=bad):
                gm.classify(bad, self.ctx)

    def test_every_result_is_a_known_class(self):
        for spelling in ("int", "size_t", "pk_group *", "pk_opts", "double", "char[4]",
                         "pk_line_fn", "uint8_t", "void"):
            self.assertIn(self.abi(spelling), gm.ABI_CLASSES)


class VersionScriptTest(unittest.TestCase):
    def test_parse(self):
        nodes = gm.parse_version_script("""
            /* comment; with { braces } */
            PROCESSKIT_1.0 {
              global:
                pk_a;
                pk_b;   # trailing comment
              local:
                *;
            };
            PROCESSKIT_1.1 {
              global: pk_c;
            } PROCESSKIT_1.0;
        """)
        self.assertEqual([n["name"] for n in nodes], ["PROCESSKIT_1.0", "PROCESSKIT_1.1"])
        self.assertEqual(nodes[0]["global"], ["pk_a", "pk_b"])
        self.assertEqual(nodes[0]["local"], ["*"])
        self.assertIsNone(nodes[0]["parent"])
        self.assertEqual(nodes[1]["parent"], "PROCESSKIT_1.0")
        self.assertEqual(gm.symbol_versions(nodes),
                         {"pk_a": "PROCESSKIT_1.0", "pk_b": "PROCESSKIT_1.0",
                          "pk_c": "PROCESSKIT_1.1"})

    def test_default_section_is_global(self):
        nodes = gm.parse_version_script("V_2.3 { pk_x; };")
        self.assertEqual(nodes[0]["global"], ["pk_x"])

    def test_since(self):
        self.assertEqual(gm.since_of("PROCESSKIT_1.0"), "1.0")
        self.assertEqual(gm.since_of("PROCESSKIT_12.3"), "12.3")
        with self.assertRaises(gm.GenError):
            gm.since_of("PROCESSKIT")

    def test_errors(self):
        for text in ("V_1.0 { global: pk_*; };",
                     "{ global: pk_a; };",
                     "V_1.0 { global: pk_a; }; V_1.1 { global: pk_a; } V_1.0;",
                     "V_1.1 { global: pk_a; } V_0.9;",
                     "V_1.0 { global: pk_a; }",
                     'V_1.0 { extern "C++" { x; }; };'):
            with self.assertRaises(gm.GenError, msg=text):
                gm.parse_version_script(text)

    def test_real_map(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                            "abi", "processkit.map")
        if not os.path.exists(path):
            self.skipTest("abi/processkit.map not in runfiles")
        with open(path) as f:
            nodes = gm.parse_version_script(f.read())
        self.assertEqual(nodes[0]["name"], "PROCESSKIT_1.0")
        self.assertIn("pk_group_create", nodes[0]["global"])


class HelpersTest(unittest.TestCase):
    def test_split_function_type(self):
        self.assertEqual(gm.split_function_type("int (int32_t, size_t *)"),
                         ("int", ["int32_t", "size_t *"]))
        self.assertEqual(gm.split_function_type("uint32_t (void)"), ("uint32_t", []))
        self.assertEqual(gm.split_function_type("const char *(int)"), ("const char *", ["int"]))
        self.assertEqual(gm.split_function_type("int (pk_command *, void (*)(void *, int), void *)"),
                         ("int", ["pk_command *", "void (*)(void *, int)", "void *"]))
        with self.assertRaises(gm.GenError):
            gm.split_function_type("int (const char *, ...)")

    def test_param_name_from_source(self):
        self.assertEqual(gm.param_name_from_source("const char *line", "const char *"), "line")
        self.assertEqual(gm.param_name_from_source("size_t  len", "size_t"), "len")
        self.assertIsNone(gm.param_name_from_source("size_t", "size_t"))

    def test_strip_qualifiers(self):
        self.assertEqual(gm.strip_qualifiers("const char *const"), "const char *")
        self.assertEqual(gm.strip_qualifiers("const pk_opts"), "pk_opts")
        self.assertEqual(gm.pointee_of("pk_process *const *"), "pk_process *const")
        self.assertIsNone(gm.pointee_of("int"))

    def test_toplevel_decls_follow_elided_file_names(self):
        ast = {"inner": [
            {"kind": "TypedefDecl", "name": "size_t",
             "loc": {"offset": 1, "file": "/usr/include/stddef.h", "line": 1,
                     "includedFrom": {"file": "api/include/processkit.h"}}},
            {"kind": "TypedefDecl", "name": "int32_t", "loc": {"offset": 2, "line": 2}},
            {"kind": "EnumDecl", "name": "pk_a",
             "loc": {"offset": 3, "file": "api/include/processkit.h", "line": 3}},
            {"kind": "FunctionDecl", "name": "pk_f", "loc": {"offset": 4, "line": 9},
             "range": {"begin": {"spellingLoc": {"offset": 0, "file": "<scratch space>"},
                                 "expansionLoc": {"offset": 5, "file": "api/include/processkit.h"}}}},
            {"kind": "FunctionDecl", "name": "pk_g",
             "loc": {"spellingLoc": {"offset": 0, "file": "<scratch space>"},
                     "expansionLoc": {"offset": 6, "file": "api/include/processkit.h"}}},
            {"kind": "TypedefDecl", "name": "implicit", "isImplicit": True, "loc": {}},
        ]}
        names = [d["name"] for d in gm.toplevel_decls_in_file(ast, "processkit.h")]
        self.assertEqual(names, ["pk_a", "pk_f", "pk_g"])

    def test_header_macros(self):
        pre = "\n".join([
            '# 1 "/usr/include/stdint.h" 1',
            "#define INT32_MAX (2147483647)",
            '# 40 "api/include/processkit.h" 2',
            "#define PROCESSKIT_H ",
            '#define PK_API __attribute__((visibility("default")))',
            "#define PK_VERSION_MAJOR 1",
            "#define PK_VERSION_NUMBER ((PK_VERSION_MAJOR << 16) | 3)",
            "#define PK_STDIO_NULL (-2)",
            "#define PK_X_INIT {sizeof(x), 0}",
            "#define PK_FN(x) ((x) + 1)",
        ])
        self.assertEqual(gm.header_macros(pre, "processkit.h"),
                         [("PK_VERSION_MAJOR", "1"),
                          ("PK_VERSION_NUMBER", "((PK_VERSION_MAJOR << 16) | 3)"),
                          ("PK_STDIO_NULL", "(-2)")])

    def test_render_is_stable(self):
        m = {"library": "x", "functions": [{"name": "b"}, {"name": "a"}]}
        self.assertEqual(gm.render(m), gm.render(m))
        self.assertTrue(gm.render(m).endswith("}\n"))
        self.assertLess(gm.render(m).index('"library"'), gm.render(m).index('"functions"'))


if __name__ == "__main__":
    unittest.main()
