"""Unit tests of gen_rust.py's pure functions, on a tiny hand-made manifest.

Run: python3 -m unittest bindings/gen/test_gen_rust.py  (or from bindings/gen:
python3 -m unittest test_gen_rust)."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_rust  # noqa: E402
import manifest as mf  # noqa: E402


def field(name, c_type, abi, offset, size, align, **extra):
    d = {"name": name, "c_type": c_type, "abi": abi, "offset": offset, "size": size, "align": align}
    d.update(extra)
    return d


TINY = {
    "library": "processkit",
    "version": "9.8.7",
    "soname": "libprocesskit.so.9",
    "platform": "x86_64-linux-gnu",
    "functions": [
        {
            "name": "pk_widget_run",
            "version_node": "PROCESSKIT_9.8",
            "since": "9.8",
            "return": {"c_type": "int", "abi": "int32"},
            "params": [
                {"name": "loop", "c_type": "pk_widget *", "abi": "pointer"},
                {"name": "procs", "c_type": "pk_widget *const *", "abi": "pointer"},
                {"name": "data", "c_type": "const uint8_t **", "abi": "pointer"},
                {"name": "fn", "c_type": "pk_cb", "abi": "pointer"},
                {"name": "len", "c_type": "size_t", "abi": "uint64"},
            ],
        },
        {
            "name": "pk_a_name",
            "since": "9.8",
            "return": {"c_type": "const char *", "abi": "pointer"},
            "params": [],
        },
        {
            "name": "pk_b_void",
            "return": {"c_type": "void", "abi": "void"},
            "params": [{"name": "opts", "c_type": "const pk_opts *", "abi": "pointer"}],
        },
    ],
    "structs": [
        {
            "name": "pk_opts",
            "c_type": "pk_opts",
            "size": 32,
            "align": 8,
            "fields": [
                field("size", "uint32_t", "uint32", 0, 4, 4),
                field("name", "char[4]", "int8", 4, 4, 1, array_length=4),
                field("argv", "const char *const *", "pointer", 8, 8, 8),
                field("ratio", "double", "double", 16, 8, 8),
                field("type", "int64_t", "int64", 24, 8, 8),
            ],
        }
    ],
    "enums": [
        {"name": "pk_color", "c_type": "pk_color", "abi": "int32", "size": 4,
         "values": [{"name": "PK_COLOR_RED", "value": -1}, {"name": "PK_COLOR_BLUE", "value": 2}]},
        {"name": "pk_bits", "c_type": "enum pk_bits", "abi": "uint32", "size": 4,
         "values": [{"name": "PK_BITS_A", "value": 1}, {"name": "PK_BITS_B", "value": 2}]},
    ],
    "opaque_types": [{"name": "pk_widget", "c_type": "pk_widget", "tag": "struct pk_widget"}, "pk_thing"],
    "callbacks": [
        {"name": "pk_cb", "c_type": "pk_cb", "abi": "pointer",
         "return": {"c_type": "void", "abi": "void"},
         "params": [{"name": "user", "c_type": "void *", "abi": "pointer"},
                    {"name": "line", "c_type": "const char *", "abi": "pointer"}]},
    ],
    "constants": [
        {"name": "PK_LIMIT", "c_type": "int", "abi": "int32", "value": -2},
        {"name": "PK_BIG", "c_type": "unsigned long long", "abi": "uint64", "value": 18446744073709551615},
    ],
}


class RustTypeTest(unittest.TestCase):
    def setUp(self):
        self.known = gen_rust.known_types(TINY)

    def t(self, c_type):
        return gen_rust.rust_type(c_type, self.known)

    def test_scalars(self):
        self.assertEqual(self.t("int"), "c_int")
        self.assertEqual(self.t("int32_t"), "i32")
        self.assertEqual(self.t("uint64_t"), "u64")
        self.assertEqual(self.t("size_t"), "usize")
        self.assertEqual(self.t("double"), "f64")
        self.assertEqual(self.t("void"), "c_void")

    def test_pointers_follow_const_of_pointee(self):
        self.assertEqual(self.t("const char *"), "*const c_char")
        self.assertEqual(self.t("char *"), "*mut c_char")
        self.assertEqual(self.t("void *"), "*mut c_void")
        self.assertEqual(self.t("const void *"), "*const c_void")
        self.assertEqual(self.t("pk_widget **"), "*mut *mut pk_widget")
        self.assertEqual(self.t("pk_widget *const *"), "*const *mut pk_widget")
        self.assertEqual(self.t("const char *const *"), "*const *const c_char")
        self.assertEqual(self.t("const uint8_t **"), "*mut *const u8")
        self.assertEqual(self.t("char const *"), "*const c_char")
        self.assertEqual(self.t("struct pk_widget *"), "*mut pk_widget")

    def test_arrays(self):
        self.assertEqual(self.t("char[256]"), "[c_char; 256]")
        self.assertEqual(self.t("uint32_t [3]"), "[u32; 3]")

    def test_manifest_types_are_kept(self):
        self.assertEqual(self.t("pk_cb"), "pk_cb")
        self.assertEqual(self.t("pk_color"), "pk_color")
        self.assertEqual(self.t("const pk_opts *"), "*const pk_opts")

    def test_unknown_type_is_an_error(self):
        with self.assertRaises(ValueError):
            self.t("pk_nope *")
        with self.assertRaises(ValueError):
            self.t("int * volatile")

    def test_known_types_exclude_tag_only_enums(self):
        self.assertIn("pk_thing", self.known)
        self.assertIn("pk_widget", self.known)
        self.assertIn("pk_color", self.known)
        self.assertNotIn("pk_bits", self.known)


class HelpersTest(unittest.TestCase):
    def test_keywords_escaped(self):
        self.assertEqual(gen_rust.ident("loop"), "loop_")
        self.assertEqual(gen_rust.ident("fn"), "fn_")
        self.assertEqual(gen_rust.ident("type"), "type_")
        self.assertEqual(gen_rust.ident("proc"), "proc")
        self.assertEqual(gen_rust.ident("group"), "group")

    def test_enum_types(self):
        color, bits = TINY["enums"]
        self.assertEqual(gen_rust.enum_rust_type(color), "i32")
        self.assertEqual(gen_rust.enum_rust_type(bits), "u32")
        self.assertTrue(gen_rust.enum_is_flags(bits))
        self.assertFalse(gen_rust.enum_is_flags(color))
        self.assertEqual(gen_rust.values_const_name(color), "PK_COLOR_VALUES")

    def test_constant_types_and_literals(self):
        limit, big = TINY["constants"]
        self.assertEqual(gen_rust.constant_type(limit), "i32")
        self.assertEqual(gen_rust.constant_type(big), "u64")
        self.assertEqual(gen_rust.rust_literal(-2, "i32"), "-2")
        self.assertEqual(gen_rust.rust_literal(1, "f64"), "1.0")

    def test_signatures(self):
        known = gen_rust.known_types(TINY)
        fns = {f["name"]: f for f in TINY["functions"]}
        self.assertEqual(
            gen_rust.fn_signature(fns["pk_widget_run"], known),
            "pub fn pk_widget_run(loop_: *mut pk_widget, procs: *const *mut pk_widget, "
            "data: *mut *const u8, fn_: pk_cb, len: usize) -> c_int;")
        self.assertEqual(gen_rust.fn_signature(fns["pk_a_name"], known), "pub fn pk_a_name() -> *const c_char;")
        self.assertEqual(gen_rust.fn_signature(fns["pk_b_void"], known), "pub fn pk_b_void(opts: *const pk_opts);")
        self.assertEqual(
            gen_rust.callback_type(TINY["callbacks"][0], known),
            'pub type pk_cb = Option<unsafe extern "C" fn(user: *mut c_void, line: *const c_char)>;')


class GenerateTest(unittest.TestCase):
    def setUp(self):
        self.out = gen_rust.generate(copy.deepcopy(TINY))
        self.text = self.out[gen_rust.OUT_PATH]

    def test_one_file_with_header_note(self):
        self.assertEqual(list(self.out), ["bindings/rust/src/sys.rs"])
        self.assertTrue(self.text.startswith("// " + mf.HEADER_NOTE + "\n"))
        self.assertIn('pub const MANIFEST_VERSION: &str = "9.8.7";', self.text)

    def test_deterministic(self):
        shuffled = copy.deepcopy(TINY)
        for key in ("functions", "structs", "enums", "opaque_types", "callbacks", "constants"):
            shuffled[key].reverse()
        self.assertEqual(gen_rust.generate(shuffled)[gen_rust.OUT_PATH], self.text)

    def test_every_function_declared_in_link_block(self):
        self.assertIn('#[link(name = "processkit")]\nextern "C" {', self.text)
        for f in TINY["functions"]:
            self.assertIn("    pub fn %s(" % f["name"], self.text)
            self.assertIn('    "%s",' % f["name"], self.text)
        self.assertIn("/// Since 9.8 (symbol version PROCESSKIT_9.8).", self.text)
        # Sorted by name.
        self.assertLess(self.text.index("pub fn pk_a_name"), self.text.index("pub fn pk_widget_run"))

    def test_struct_layout_and_assertions(self):
        self.assertIn("#[repr(C)]\n#[derive(Debug, Clone, Copy)]\npub struct pk_opts {", self.text)
        self.assertIn("    pub name: [c_char; 4],", self.text)
        self.assertIn("    pub argv: *const *const c_char,", self.text)
        self.assertIn("    pub type_: i64,", self.text)
        self.assertIn("const _: () = assert!(std::mem::size_of::<pk_opts>() == 32);", self.text)
        self.assertIn("const _: () = assert!(std::mem::align_of::<pk_opts>() == 8);", self.text)
        self.assertIn("v.size = std::mem::size_of::<Self>() as u32;", self.text)
        self.assertIn("fn pk_opts_layout()", self.text)
        self.assertIn("addr_of!((*v.as_ptr()).ratio) } as usize - base, 16", self.text)

    def test_enums_constants_opaque(self):
        self.assertIn("pub type pk_color = i32;", self.text)
        self.assertIn("pub const PK_COLOR_RED: pk_color = -1;", self.text)
        self.assertIn("pub const PK_COLOR_VALUES: &[pk_color] = &[PK_COLOR_RED, PK_COLOR_BLUE];", self.text)
        self.assertIn("pub type pk_bits = u32;", self.text)
        self.assertIn("pub const PK_BITS_B: pk_bits = 2;", self.text)
        self.assertIn("pub const PK_LIMIT: i32 = -2;", self.text)
        self.assertIn("pub const PK_BIG: u64 = 18446744073709551615;", self.text)
        self.assertIn("pub struct pk_widget {\n    _data: [u8; 0],", self.text)
        self.assertIn("pub struct pk_thing {", self.text)

    def test_clashes_are_errors(self):
        bad = copy.deepcopy(TINY)
        bad["constants"].append({"name": "PK_COLOR_RED", "c_type": "int", "abi": "int32", "value": 1})
        with self.assertRaises(ValueError):
            gen_rust.generate(bad)
        bad = copy.deepcopy(TINY)
        bad["enums"][1]["values"].append({"name": "PK_COLOR_VALUES", "value": 4})
        with self.assertRaises(ValueError):
            gen_rust.generate(bad)

    def test_real_manifest_generates(self):
        text = gen_rust.generate(mf.load())[gen_rust.OUT_PATH]
        m = mf.load()
        for f in m["functions"]:
            self.assertIn("    pub fn %s(" % f["name"], text)
        for s in m["structs"]:
            self.assertIn("size_of::<%s>() == %d" % (s["name"], s["size"]), text)


if __name__ == "__main__":
    unittest.main()
