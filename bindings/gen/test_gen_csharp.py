"""Unit tests of gen_csharp.py's pure functions on a tiny hand-made manifest.

    python3 -m unittest bindings/gen/test_gen_csharp.py   (or run it directly)
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_csharp as g  # noqa: E402
import manifest as mf  # noqa: E402


def ptr(c_type, pointee, pointee_abi, name, **extra):
    p = {"name": name, "c_type": c_type, "abi": "pointer", "pointee": pointee, "pointee_abi": pointee_abi}
    p.update(extra)
    return p


def val(c_type, abi, name):
    return {"name": name, "c_type": c_type, "abi": abi}


TINY = {
    "library": "processkit",
    "version": "9.8.7",
    "soname": "libprocesskit.so.9",
    "platform": "x86_64-linux-gnu",
    "functions": [
        {"name": "pk_thing_new", "since": "1.0", "return": {"c_type": "int", "abi": "int32"},
         "params": [ptr("const char *", "const char", "int8", "name"),
                    ptr("const pk_opts *", "const pk_opts", "struct", "opts", pointee_type="pk_opts"),
                    ptr("pk_thing **", "pk_thing *", "pointer", "out")]},
        {"name": "pk_thing_ids", "since": "1.0", "return": {"c_type": "int", "abi": "int32"},
         "params": [ptr("pk_thing *", "pk_thing", "struct", "thing", pointee_type="pk_thing"),
                    ptr("int32_t *", "int32_t", "int32", "ids"),
                    val("size_t", "uint64", "capacity"),
                    ptr("size_t *", "size_t", "uint64", "count")]},
        {"name": "pk_thing_write", "since": "1.1", "return": {"c_type": "int", "abi": "int32"},
         "params": [ptr("pk_thing *", "pk_thing", "struct", "thing", pointee_type="pk_thing"),
                    ptr("const void *", "const void", "void", "data"),
                    val("size_t", "uint64", "len"),
                    {"name": "fn", "c_type": "pk_cb_fn", "abi": "pointer", "callback": "pk_cb_fn"},
                    ptr("void *", "void", "void", "user")]},
        {"name": "pk_name", "since": "1.0", "return": {"c_type": "const char *", "abi": "pointer"},
         "params": [val("int32_t", "int32", "string")]},
    ],
    "structs": [
        {"name": "pk_opts", "c_type": "pk_opts", "size": 24, "align": 8, "fields": [
            {"name": "size", "c_type": "uint32_t", "abi": "uint32", "offset": 0, "size": 4},
            {"name": "label", "c_type": "char[4]", "abi": "int8", "array_length": 4, "offset": 4, "size": 4},
            {"name": "limit", "c_type": "uint64_t", "abi": "uint64", "offset": 8, "size": 8},
            {"name": "argv", "c_type": "const char *const *", "abi": "pointer", "offset": 16, "size": 8},
        ]},
    ],
    "enums": [
        {"name": "pk_error", "c_type": "pk_error", "abi": "int32", "values": [
            {"name": "PK_OK", "value": 0}, {"name": "PK_ERR_NOT_FOUND", "value": -7}]},
        {"name": "pk_thing_flag", "c_type": "enum pk_thing_flag", "abi": "uint32", "values": [
            {"name": "PK_THING_LOUD", "value": 1}, {"name": "PK_THING_QUIET", "value": 2}]},
        {"name": "pk_struct_id", "c_type": "pk_struct_id", "abi": "uint32", "values": [
            {"name": "PK_STRUCT_OPTS", "value": 1}]},
        {"name": "pk_stream", "c_type": "pk_stream", "abi": "uint32", "values": [
            {"name": "PK_STREAM_STDOUT", "value": 1}]},
    ],
    "opaque_types": [{"name": "pk_thing", "c_type": "pk_thing"}],
    "callbacks": [
        {"name": "pk_cb_fn", "c_type": "pk_cb_fn", "abi": "pointer", "return": {"c_type": "void", "abi": "void"},
         "params": [ptr("void *", "void", "void", "user"),
                    ptr("const char *", "const char", "int8", "line"),
                    val("size_t", "uint64", "len")]},
    ],
    "constants": [{"name": "PK_ANSWER", "c_type": "int", "abi": "int32", "value": -42}],
}


class TypeMapping(unittest.TestCase):
    def test_scalars(self):
        self.assertEqual(g.scalar_type("int32_t", "int32"), "int")
        self.assertEqual(g.scalar_type("uint32_t", "uint32"), "uint")
        self.assertEqual(g.scalar_type("uint64_t", "uint64"), "ulong")
        self.assertEqual(g.scalar_type("int64_t", "int64"), "long")
        self.assertEqual(g.scalar_type("double", "double"), "double")
        self.assertEqual(g.scalar_type("size_t", "uint64"), "UIntPtr")
        with self.assertRaises(ValueError):
            g.scalar_type("struct x", "struct")

    def test_returns(self):
        self.assertEqual(g.return_type({"c_type": "const char *", "abi": "pointer"}), "IntPtr")
        self.assertEqual(g.return_type({"c_type": "void", "abi": "void"}), "void")
        self.assertEqual(g.return_type({"c_type": "uint32_t", "abi": "uint32"}), "uint")

    def params(self, fname, raw=False):
        f = [f for f in TINY["functions"] if f["name"] == fname][0]
        return g.param_types(f["params"], {"pk_opts"}, {"pk_cb_fn"}, raw_structs=raw)

    def test_strings_structs_handles_out(self):
        ps = self.params("pk_thing_new")
        self.assertEqual(ps[0], ("[MarshalAs(UnmanagedType.LPUTF8Str)] ", "string", "name"))
        self.assertEqual(ps[1], ("", "ref pk_opts", "opts"))
        self.assertEqual(ps[2], ("", "out IntPtr", "@out"))
        self.assertEqual(self.params("pk_thing_new", raw=True)[1], ("", "IntPtr", "opts"))

    def test_arrays_follow_size(self):
        ps = self.params("pk_thing_ids")
        self.assertEqual(ps[0], ("", "IntPtr", "thing"))
        self.assertEqual(ps[1], ("[Out] ", "int[]", "ids"))
        self.assertEqual(ps[2], ("", "UIntPtr", "capacity"))
        self.assertEqual(ps[3], ("", "out UIntPtr", "count"))
        ps = self.params("pk_thing_write")
        self.assertEqual(ps[1], ("", "byte[]", "data"))
        self.assertEqual(ps[3], ("", "CbFn", "fn"))
        self.assertEqual(ps[4], ("", "IntPtr", "user"))

    def test_const_pointer_array(self):
        p = [ptr("pk_thing *const *", "pk_thing *const", "pointer", "things"), val("size_t", "uint64", "count")]
        self.assertEqual(g.param_types(p, set(), set())[0], ("", "IntPtr[]", "things"))

    def test_callback_char_pointer_is_raw(self):
        cb = TINY["callbacks"][0]
        ps = g.param_types(cb["params"], set(), set(), callback=True)
        self.assertEqual([t for _, t, _ in ps], ["IntPtr", "IntPtr", "UIntPtr"])

    def test_keywords_escaped(self):
        self.assertEqual(g.ident("out"), "@out")
        self.assertEqual(g.ident("string"), "@string")
        self.assertEqual(g.ident("group"), "group")


class Names(unittest.TestCase):
    def test_enum_names(self):
        self.assertEqual(g.enum_type_name("pk_error"), "ErrorCode")
        self.assertEqual(g.enum_type_name("pk_stream"), "StdStream")
        self.assertEqual(g.enum_type_name("pk_output_mode"), "OutputMode")

    def test_member_names(self):
        self.assertEqual(g.enum_member_name("pk_error", "PK_ERR_NOT_FOUND"), "NotFound")
        self.assertEqual(g.enum_member_name("pk_error", "PK_OK"), "Ok")
        self.assertEqual(g.enum_member_name("pk_backend", "PK_BACKEND_CGROUP_V2"), "CgroupV2")
        self.assertEqual(g.enum_member_name("pk_struct_id", "PK_STRUCT_RUN_INFO"), "RunInfo")
        self.assertEqual(g.enum_member_name("pk_spawn_flag", "PK_SPAWN_NO_PATH_SEARCH"), "NoPathSearch")
        self.assertEqual(g.enum_member_name("pk_x", "PK_X_9LIVES"), "_9lives")

    def test_flags(self):
        enums = {e["name"]: e for e in TINY["enums"]}
        self.assertTrue(g.is_flags(enums["pk_thing_flag"]))
        self.assertFalse(g.is_flags(enums["pk_error"]))
        self.assertEqual(g.enum_base(enums["pk_thing_flag"]), "uint")
        self.assertEqual(g.enum_base(enums["pk_error"]), "int")

    def test_fields(self):
        fields = TINY["structs"][0]["fields"]
        self.assertEqual(g.field_decl(fields[0]), "public uint size;")
        self.assertEqual(g.field_decl(fields[1]), "public fixed byte label[4];")
        self.assertEqual(g.field_decl(fields[2]), "public ulong limit;")
        self.assertEqual(g.field_decl(fields[3]), "public IntPtr argv;")
        self.assertTrue(g.struct_is_unsafe(TINY["structs"][0]))


class Output(unittest.TestCase):
    def setUp(self):
        self.out = g.generate(TINY)
        self.src = self.out[g.OUT]

    def test_one_file_with_header_note(self):
        self.assertEqual(list(self.out), ["bindings/csharp/Native.g.cs"])
        self.assertTrue(self.src.startswith("// " + mf.HEADER_NOTE + "\n"))

    def test_every_function_imported(self):
        for f in TINY["functions"]:
            self.assertIn('EntryPoint = "%s"' % f["name"], self.src)
        # The struct-pointer function also has its IntPtr overload.
        self.assertEqual(self.src.count('EntryPoint = "pk_thing_new"'), 2)
        self.assertEqual(self.src.count('EntryPoint = "pk_thing_ids"'), 1)
        self.assertIn("public static extern IntPtr pk_name(int @string);", self.src)

    def test_declarations(self):
        self.assertIn('public const string Lib = "processkit";', self.src)
        self.assertIn('public const string SoName = "libprocesskit.so.9";', self.src)
        self.assertIn("public const int PK_ANSWER = -42;", self.src)
        self.assertIn("[Flags]\n    public enum ThingFlag : uint", self.src)
        self.assertIn("NotFound = -7,", self.src)
        self.assertIn("public delegate void CbFn(IntPtr user, IntPtr line, UIntPtr len);", self.src)
        self.assertIn("public unsafe struct pk_opts", self.src)
        # The layout table carries the manifest's size, struct id and offsets.
        self.assertIn('new StructLayoutInfo("pk_opts", typeof(pk_opts), 24, 1,', self.src)
        self.assertIn("new int[] { 0, 4, 8, 16 }", self.src)

    def test_deterministic(self):
        self.assertEqual(self.src, g.generate(TINY)[g.OUT])

    def test_braces_balance(self):
        self.assertEqual(self.src.count("{"), self.src.count("}"))


if __name__ == "__main__":
    unittest.main()
