"""Unit tests of gen_go's pure functions on a tiny hand-made manifest.

Run: python3 -m unittest bindings/gen/test_gen_go.py (or from bindings/gen:
python3 -m unittest test_gen_go)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_go  # noqa: E402
import manifest as mf  # noqa: E402

TINY = {
    "library": "processkit",
    "version": "1.2.3",
    "soname": "libprocesskit.so.1",
    "functions": [
        {"name": "pk_widget_new", "return": {"c_type": "int", "abi": "int32"},
         "params": [
             {"name": "opts", "c_type": "const pk_widget_options *", "abi": "pointer",
              "pointee": "const pk_widget_options", "pointee_abi": "struct"},
             {"name": "out", "c_type": "pk_widget **", "abi": "pointer",
              "pointee": "pk_widget *", "pointee_abi": "pointer"}]},
        {"name": "pk_widget_poke", "return": {"c_type": "int", "abi": "int32"},
         "params": [
             {"name": "widget", "c_type": "pk_widget *", "abi": "pointer",
              "pointee": "pk_widget", "pointee_abi": "struct"},
             {"name": "timeout_ms", "c_type": "int32_t", "abi": "int32"},
             {"name": "len", "c_type": "size_t", "abi": "uint64"},
             {"name": "data", "c_type": "const void *", "abi": "pointer",
              "pointee": "const void", "pointee_abi": "void"},
             {"name": "type", "c_type": "int", "abi": "int32"},
             {"name": "fn", "c_type": "pk_tick_fn", "abi": "pointer"},
             {"name": "procs", "c_type": "pk_widget *const *", "abi": "pointer",
              "pointee": "pk_widget *const", "pointee_abi": "pointer"}]},
        {"name": "pk_widget_name", "return": {"c_type": "const char *", "abi": "pointer"},
         "params": [{"name": "kind", "c_type": "int", "abi": "int32"}]},
        {"name": "pk_version", "return": {"c_type": "uint32_t", "abi": "uint32"}, "params": []},
    ],
    "structs": [
        {"name": "pk_widget_options", "c_type": "pk_widget_options", "size": 32, "align": 8,
         "fields": [
             {"name": "size", "c_type": "uint32_t", "abi": "uint32", "offset": 0, "size": 4, "align": 4},
             {"name": "stdin_fd", "c_type": "int32_t", "abi": "int32", "offset": 4, "size": 4, "align": 4},
             {"name": "cpu_max", "c_type": "double", "abi": "double", "offset": 8, "size": 8, "align": 8},
             {"name": "label", "c_type": "char[8]", "abi": "int8", "array_length": 8,
              "offset": 16, "size": 8, "align": 1},
             {"name": "type", "c_type": "const char *", "abi": "pointer", "offset": 24, "size": 8, "align": 8},
         ]},
    ],
    "enums": [
        {"name": "pk_error", "c_type": "pk_error", "abi": "int32", "size": 4,
         "values": [{"name": "PK_OK", "value": 0}, {"name": "PK_ERR_INVALID", "value": -1},
                    {"name": "PK_ERR_NOT_FOUND", "value": -7}]},
        {"name": "pk_widget_flag", "c_type": "enum pk_widget_flag", "abi": "uint32", "size": 4,
         "values": [{"name": "PK_WIDGET_SHINY", "value": 1}, {"name": "PK_WIDGET_CPU_BOUND", "value": 2}]},
        {"name": "pk_mechanism", "c_type": "pk_mechanism", "abi": "uint32", "size": 4,
         "values": [{"name": "PK_MECHANISM_NONE", "value": 0}, {"name": "PK_MECHANISM_CGROUP_V2", "value": 2}]},
        {"name": "pk_struct_id", "c_type": "pk_struct_id", "abi": "uint32", "size": 4,
         "values": [{"name": "PK_STRUCT_WIDGET_OPTIONS", "value": 1}]},
    ],
    "opaque_types": [{"name": "pk_widget", "c_type": "pk_widget", "tag": "struct pk_widget"}],
    "callbacks": [{"name": "pk_tick_fn", "c_type": "pk_tick_fn", "abi": "pointer",
                   "return": {"c_type": "void", "abi": "void"}, "params": []}],
    "constants": [{"name": "PK_STDIO_NULL", "c_type": "int", "abi": "int32", "value": -2},
                  {"name": "PK_VERSION_MAJOR", "c_type": "int", "abi": "int32", "value": 1}],
}


def fn(name):
    return next(f for f in TINY["functions"] if f["name"] == name)


def param(func, name):
    return next(p for p in fn(func)["params"] if p["name"] == name)


class Names(unittest.TestCase):
    def test_camel_and_initialisms(self):
        self.assertEqual(gen_go.go_camel("cgroup_path"), "CgroupPath")
        self.assertEqual(gen_go.go_camel("cpu_time_us"), "CPUTimeUs")
        self.assertEqual(gen_go.go_camel("stdin_fd"), "StdinFD")
        self.assertEqual(gen_go.go_lower_camel("pk_child_pid"), "pkChildPID")

    def test_param_identifiers(self):
        self.assertEqual(gen_go.safe_ident("timeout_ms"), "timeoutMs")
        self.assertEqual(gen_go.safe_ident("type"), "type_")
        self.assertEqual(gen_go.safe_ident("len"), "len")

    def test_cgo_field_keyword(self):
        self.assertEqual(gen_go.cgo_field("type"), "_type")
        self.assertEqual(gen_go.cgo_field("size"), "size")

    def test_enum_names(self):
        err, flag, mech, sid = (next(e for e in TINY["enums"] if e["name"] == n)
                                for n in ("pk_error", "pk_widget_flag", "pk_mechanism", "pk_struct_id"))
        self.assertEqual(gen_go.enum_type_name(err), "Code")
        self.assertEqual(gen_go.enum_member_name(err, "PK_OK"), "CodeOK")
        self.assertEqual(gen_go.enum_member_name(err, "PK_ERR_NOT_FOUND"), "CodeNotFound")
        self.assertEqual(gen_go.error_sentinel_name(err, "PK_ERR_NOT_FOUND"), "ErrNotFound")
        self.assertEqual(gen_go.enum_type_name(flag), "WidgetFlag")
        self.assertEqual(gen_go.enum_member_name(flag, "PK_WIDGET_CPU_BOUND"), "WidgetFlagCPUBound")
        self.assertEqual(gen_go.enum_member_name(mech, "PK_MECHANISM_CGROUP_V2"), "MechanismCgroupV2")
        self.assertEqual(gen_go.enum_type_name(sid), "StructID")
        self.assertEqual(gen_go.enum_underlying(flag), "uint32")
        self.assertEqual(gen_go.enum_underlying(mech), "int32")
        # String prints the readable name, CName the C one.
        self.assertEqual(gen_go.readable_name(err, "PK_OK"), "ok")
        self.assertEqual(gen_go.readable_name(err, "PK_ERR_NOT_FOUND"), "not-found")
        self.assertEqual(gen_go.readable_name(flag, "PK_WIDGET_CPU_BOUND"), "cpu-bound")

    def test_member_suffix_keeps_leading_digit_context(self):
        self.assertEqual(gen_go.member_suffix("pk_thing", "PK_THING_2X"), "THING_2X")

    def test_constant_and_struct_names(self):
        self.assertEqual(gen_go.constant_name(TINY["constants"][0]), "StdioNull")
        self.assertEqual(gen_go.struct_go_name(TINY["structs"][0]), "rawWidgetOptions")


class Types(unittest.TestCase):
    def test_strip_c_type(self):
        self.assertEqual(gen_go.strip_c_type("const pk_process *const *"), ("pk_process", 2))
        self.assertEqual(gen_go.strip_c_type("const char *"), ("char", 1))
        self.assertEqual(gen_go.strip_c_type("int32_t"), ("int32_t", 0))

    def test_param_types(self):
        cases = {
            ("pk_widget_new", "opts"): "*rawWidgetOptions",
            ("pk_widget_new", "out"): "**C.pk_widget",
            ("pk_widget_poke", "widget"): "*C.pk_widget",
            ("pk_widget_poke", "timeout_ms"): "int32",
            ("pk_widget_poke", "len"): "uint64",
            ("pk_widget_poke", "data"): "unsafe.Pointer",
            ("pk_widget_poke", "fn"): "C.pk_tick_fn",
            ("pk_widget_poke", "procs"): "**C.pk_widget",
        }
        for (f, p), want in cases.items():
            self.assertEqual(gen_go.go_param_type(param(f, p), TINY), want, (f, p))

    def test_args_to_c(self):
        # Public structs cross as void *: the manifest-laid Go mirror itself.
        self.assertEqual(gen_go.go_to_c_arg(param("pk_widget_new", "opts"), TINY), "unsafe.Pointer(opts)")
        self.assertEqual(gen_go.go_to_c_arg(param("pk_widget_poke", "timeout_ms"), TINY), "C.int32_t(timeoutMs)")
        self.assertEqual(gen_go.go_to_c_arg(param("pk_widget_poke", "len"), TINY), "C.size_t(len)")
        self.assertEqual(gen_go.go_to_c_arg(param("pk_widget_poke", "type"), TINY), "C.int(type_)")
        self.assertEqual(gen_go.go_to_c_arg(param("pk_widget_poke", "widget"), TINY), "widget")

    def test_unknown_type_is_an_error(self):
        bad = {"name": "x", "c_type": "struct mystery *", "abi": "pointer"}
        with self.assertRaises(ValueError):
            gen_go.go_param_type(bad, TINY)

    def test_field_types(self):
        f = {x["name"]: x for x in TINY["structs"][0]["fields"]}
        self.assertEqual(gen_go.go_field_type(f["size"]), "uint32")
        self.assertEqual(gen_go.go_field_type(f["cpu_max"]), "float64")
        self.assertEqual(gen_go.go_field_type(f["label"]), "[8]byte")
        self.assertEqual(gen_go.go_field_type(f["type"]), "unsafe.Pointer")


class Rendering(unittest.TestCase):
    longMessage = False

    def assertIn(self, member, container, msg=None):
        super().assertIn(member, container, msg or "missing from the output: %r" % member)

    def assertNotIn(self, member, container, msg=None):
        super().assertNotIn(member, container, msg or "unexpected in the output: %r" % member)

    def setUp(self):
        self.out = gen_go.generate(TINY)
        self.main = self.out["bindings/go/zz_generated.go"]
        self.test = self.out["bindings/go/zz_generated_test.go"]

    def test_files_and_header(self):
        self.assertEqual(sorted(self.out), ["bindings/go/zz_generated.go", "bindings/go/zz_generated_test.go"])
        for text in self.out.values():
            self.assertTrue(text.startswith("// " + mf.HEADER_NOTE + "\n"))
            self.assertIn("// Code generated by bindings/gen/gen_go.py. DO NOT EDIT.\n", text)
            self.assertTrue(text.endswith("}\n"))

    def test_deterministic(self):
        self.assertEqual(gen_go.generate(TINY), self.out)

    def test_shim_copies_last_error(self):
        self.assertIn("static int gopk_widget_new(const void *opts, pk_widget **out, char **pk__err) {\n"
                      "\tint rc = pk_widget_new((const pk_widget_options *)opts, out);\n"
                      "\tif (rc != 0 && pk__err) *pk__err = gopk_errdup();\n", self.main)

    def test_plain_shims(self):
        self.assertIn("static const char *gopk_widget_name(int kind) {\n\treturn pk_widget_name(kind);\n}",
                      self.main)
        self.assertIn("static uint32_t gopk_version(void) {\n\treturn pk_version();\n}", self.main)

    def test_wrappers(self):
        self.assertIn("func pkWidgetNew(opts *rawWidgetOptions, out **C.pk_widget) error {", self.main)
        self.assertIn("func pkWidgetName(kind int32) string {", self.main)
        self.assertIn("func pkVersion() uint32 {", self.main)
        self.assertIn("return errorFromC(int32(pkRC), pkMsg)", self.main)

    def test_enums_constants_sentinels(self):
        self.assertIn("type Code int32", self.main)
        self.assertIn("CodeNotFound Code = -7 // PK_ERR_NOT_FOUND", self.main)
        self.assertIn("ErrNotFound = &Error{Code: CodeNotFound} // PK_ERR_NOT_FOUND", self.main)
        self.assertNotIn("ErrOK", self.main)
        self.assertIn("type WidgetFlag uint32", self.main)
        self.assertIn("StdioNull    = -2 // PK_STDIO_NULL", self.main)
        self.assertIn('manifestVersion = "1.2.3"', self.main)
        # Mechanism's String is hand-written.
        self.assertNotIn("func (v Mechanism) String()", self.main)
        self.assertIn("func (v WidgetFlag) String()", self.main)
        self.assertIn('\t\treturn "cpu-bound"', self.main)
        self.assertIn("func (v WidgetFlag) CName()", self.main)
        self.assertIn('\t\treturn "PK_WIDGET_CPU_BOUND"', self.main)
        self.assertIn("func (v Mechanism) CName()", self.main)

    def test_struct_and_layout_check(self):
        self.assertIn("type rawWidgetOptions struct {", self.main)
        self.assertIn("\tLabel   [8]byte        // char[8] label, offset 16", self.main)
        self.assertIn('check("sizeof(C.pk_widget_options)", unsafe.Sizeof(C.pk_widget_options{}), 32)', self.main)
        self.assertIn("unsafe.Offsetof(C.pk_widget_options{}._type), 24)", self.main)
        self.assertIn("unsafe.Offsetof(rawWidgetOptions{}.Type), 24)", self.main)
        self.assertIn("pkStructSize(int32(StructIDWidgetOptions), &n)", self.main)

    def test_test_file(self):
        self.assertIn("func TestABILayout(t *testing.T) {", self.test)
        self.assertIn("len(generatedFunctions), 4", self.test)

    def test_align(self):
        self.assertEqual(gen_go.align([["a", "int", "// x"], ["long", "T", "// y"]]),
                         ["\ta    int // x", "\tlong T   // y"])


if __name__ == "__main__":
    unittest.main()
