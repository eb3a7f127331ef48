"""Unit tests of gen_python's pure functions, on a tiny hand-made manifest.

    python3 -m unittest bindings/gen/test_gen_python.py   (or from bindings/gen)
"""
import ctypes
import os
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_python as gp  # noqa: E402
import manifest as mf  # noqa: E402

TINY = {
    "library": "tiny",
    "version": "1.2.3",
    "soname": "libtiny.so.1",
    "platform": "x86_64-linux-gnu",
    "functions": [
        {"name": "pk_zeta", "version_node": "TINY_1.0", "return": {"c_type": "const char *", "abi": "pointer"},
         "params": []},
        {"name": "pk_thing_new", "version_node": "TINY_1.0", "return": {"c_type": "int", "abi": "int32"},
         "params": [
             {"name": "opts", "c_type": "const pk_opts *", "abi": "pointer"},
             {"name": "out", "c_type": "pk_thing **", "abi": "pointer"},
         ]},
        {"name": "pk_thing_each", "version_node": "TINY_1.1", "return": {"c_type": "void", "abi": "void"},
         "params": [
             {"name": "thing", "c_type": "pk_thing *", "abi": "pointer"},
             {"name": "fn", "c_type": "pk_each_fn", "abi": "pointer"},
             {"name": "user", "c_type": "void *", "abi": "pointer"},
             {"name": "n", "c_type": "size_t", "abi": "uint64"},
         ]},
    ],
    "structs": [
        {"name": "pk_opts", "c_type": "pk_opts", "size": 32, "align": 8, "fields": [
            {"name": "size", "c_type": "uint32_t", "abi": "uint32", "offset": 0},
            {"name": "kind", "c_type": "int32_t", "abi": "int32", "offset": 4},
            {"name": "argv", "c_type": "const char *const *", "abi": "pointer", "offset": 8},
            {"name": "label", "c_type": "char[8]", "abi": "int8", "array_length": 8, "offset": 16},
            {"name": "ratio", "c_type": "double", "abi": "double", "offset": 24},
        ]},
        {"name": "pk_outer", "c_type": "pk_outer", "size": 40, "align": 8, "fields": [
            {"name": "size", "c_type": "uint32_t", "abi": "uint32", "offset": 0},
            {"name": "inner", "c_type": "pk_opts", "abi": "struct", "offset": 8},
        ]},
    ],
    "enums": [
        {"name": "pk_error", "c_type": "pk_error", "abi": "int32", "values": [
            {"name": "PK_OK", "value": 0}, {"name": "PK_ERR_INVALID", "value": -1},
            {"name": "PK_ERR_HANDLE", "value": -3}]},
        {"name": "pk_exit_kind", "c_type": "pk_exit_kind", "abi": "uint32", "values": [
            {"name": "PK_EXIT_RUNNING", "value": 0}, {"name": "PK_EXIT_CODE", "value": 1}]},
        {"name": "pk_color", "c_type": "pk_color", "abi": "uint32", "values": [
            {"name": "PK_COLOR_RED", "value": 0}, {"name": "PK_COLOR_2D", "value": 1}]},
        {"name": "pk_flag", "c_type": "enum pk_flag", "abi": "uint32", "values": [
            {"name": "PK_FLAG_A", "value": 1}, {"name": "PK_FLAG_B", "value": 4}]},
        {"name": "pk_struct_id", "c_type": "pk_struct_id", "abi": "uint32", "values": [
            {"name": "PK_STRUCT_OPTS", "value": 1}, {"name": "PK_STRUCT_GONE", "value": 2}]},
    ],
    "opaque_types": [{"name": "pk_thing", "c_type": "pk_thing", "tag": "struct pk_thing"}],
    "callbacks": [
        {"name": "pk_each_fn", "c_type": "pk_each_fn", "abi": "pointer", "return": {"c_type": "int", "abi": "int32"},
         "params": [{"name": "user", "c_type": "void *", "abi": "pointer"},
                    {"name": "data", "c_type": "const char *", "abi": "pointer"},
                    {"name": "len", "c_type": "size_t", "abi": "uint64"}]},
    ],
    "constants": [{"name": "PK_MAX", "c_type": "int", "abi": "int32", "value": 64},
                  {"name": "PK_NONE", "c_type": "int", "abi": "int32", "value": -2}],
}


class ParseCType(unittest.TestCase):
    def test_plain_pointer_array_and_qualifiers(self):
        self.assertEqual(gp.parse_c_type("int32_t"), ("int32_t", 0, None))
        self.assertEqual(gp.parse_c_type("const char *const *"), ("char", 2, None))
        self.assertEqual(gp.parse_c_type("char[256]"), ("char", 0, 256))
        self.assertEqual(gp.parse_c_type("struct pk_group *"), ("pk_group", 1, None))
        self.assertEqual(gp.parse_c_type("unsigned long long"), ("unsigned long long", 0, None))
        self.assertEqual(gp.parse_c_type("pk_process *const *"), ("pk_process", 2, None))

    def test_garbage_is_an_error(self):
        with self.assertRaises(gp.GenError):
            gp.parse_c_type("const *")


class TypeMapping(unittest.TestCase):
    def setUp(self):
        self.t = gp.Types(TINY)

    def test_scalars_and_their_abi(self):
        self.assertEqual(gp.ctype_expr("int", self.t, "int32"), "ctypes.c_int")
        self.assertEqual(gp.ctype_expr("uint64_t", self.t, "uint64"), "ctypes.c_uint64")
        self.assertEqual(gp.ctype_expr("size_t", self.t, "uint64"), "ctypes.c_size_t")
        self.assertEqual(gp.ctype_expr("double", self.t), "ctypes.c_double")
        self.assertEqual(gp.ctype_expr("void", self.t, "void"), "None")
        with self.assertRaises(gp.GenError):
            gp.ctype_expr("int", self.t, "int64")  # the manifest disagrees
        with self.assertRaises(gp.GenError):
            gp.ctype_expr("mystery_t", self.t)

    def test_pointers(self):
        self.assertEqual(gp.ctype_expr("const char *", self.t, "pointer"), "ctypes.c_char_p")
        self.assertEqual(gp.ctype_expr("const char *", self.t, "pointer", in_callback=True),
                         "ctypes.POINTER(ctypes.c_char)")
        self.assertEqual(gp.ctype_expr("const char *const *", self.t), "ctypes.POINTER(ctypes.c_char_p)")
        self.assertEqual(gp.ctype_expr("void *", self.t), "ctypes.c_void_p")
        self.assertEqual(gp.ctype_expr("const void *", self.t), "ctypes.c_void_p")
        self.assertEqual(gp.ctype_expr("int *", self.t), "ctypes.POINTER(ctypes.c_int)")
        self.assertEqual(gp.ctype_expr("const uint8_t **", self.t),
                         "ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8))")
        with self.assertRaises(gp.GenError):
            gp.ctype_expr("int *", self.t, "int32")

    def test_named_types(self):
        self.assertEqual(gp.ctype_expr("pk_thing **", self.t), "ctypes.POINTER(ctypes.POINTER(pk_thing))")
        self.assertEqual(gp.ctype_expr("const pk_opts *", self.t), "ctypes.POINTER(pk_opts)")
        self.assertEqual(gp.ctype_expr("pk_opts", self.t), "pk_opts")
        self.assertEqual(gp.ctype_expr("pk_each_fn", self.t, "pointer"), "pk_each_fn")
        self.assertEqual(gp.ctype_expr("pk_exit_kind", self.t), "ctypes.c_uint32")
        self.assertEqual(gp.ctype_expr("char[8]", self.t, "int8"), "(ctypes.c_char * 8)")


class Enums(unittest.TestCase):
    def enum(self, name):
        return next(e for e in TINY["enums"] if e["name"] == name)

    def test_member_names(self):
        self.assertEqual(gp.enum_member_names(self.enum("pk_error")),
                         {"PK_OK": "OK", "PK_ERR_INVALID": "INVALID", "PK_ERR_HANDLE": "HANDLE"})
        self.assertEqual(gp.enum_member_names(self.enum("pk_exit_kind")),
                         {"PK_EXIT_RUNNING": "RUNNING", "PK_EXIT_CODE": "CODE"})
        # a member that would start with a digit is escaped
        self.assertEqual(gp.enum_member_names(self.enum("pk_color"))["PK_COLOR_2D"], "_2D")

    def test_flag_detection_and_class_names(self):
        self.assertTrue(gp.is_flag_enum(self.enum("pk_flag")))
        self.assertFalse(gp.is_flag_enum(self.enum("pk_exit_kind")))
        self.assertFalse(gp.is_flag_enum({"values": [{"name": "A", "value": 3}]}))
        self.assertEqual(gp.enum_class_name("pk_exit_kind"), "ExitKind")

    def test_struct_ids_name_existing_structs_only(self):
        self.assertEqual(gp.struct_id_map(TINY), {"pk_opts": "OPTS"})


class Helpers(unittest.TestCase):
    def test_identifiers(self):
        self.assertEqual(gp.python_identifier("class"), "class_")
        self.assertEqual(gp.python_identifier("2x"), "_2x")
        self.assertEqual(gp.python_identifier("a-b"), "a_b")

    def test_struct_order_puts_members_first(self):
        self.assertEqual([s["name"] for s in gp.struct_order(list(reversed(TINY["structs"])))],
                         ["pk_opts", "pk_outer"])

    def test_function_signature(self):
        f = TINY["functions"][1]
        self.assertEqual(gp.function_signature(f), "int pk_thing_new(const pk_opts * opts, pk_thing ** out)")


class Render(unittest.TestCase):
    def render(self):
        return gp.render(TINY)

    def test_output_shape_and_determinism(self):
        text = self.render()
        self.assertTrue(text.startswith(f"# {mf.HEADER_NOTE}\n"))
        self.assertEqual(text, self.render())
        self.assertEqual(list(gp.generate(TINY)), [gp.OUTPUT])
        compile(text, gp.OUTPUT, "exec")
        for f in TINY["functions"]:
            self.assertIn(f"{f['name']} = _bind({f['name']!r}, ", text)
        self.assertIn("pk_thing_each = _bind('pk_thing_each', 'TINY_1.1', [ctypes.POINTER(pk_thing), pk_each_fn, "
                      "ctypes.c_void_p, ctypes.c_size_t], None)", text)
        self.assertIn("pk_zeta = _bind('pk_zeta', 'TINY_1.0', [], ctypes.c_char_p)", text)
        self.assertIn("PK_MAX = 64", text)
        self.assertIn("PK_ERR_INVALID = Error.INVALID", text)
        self.assertIn("class Flag(enum.IntFlag):", text)
        self.assertIn("class ExitKind(enum.IntEnum):", text)

    def test_generated_module_runs_against_a_fake_library(self):
        """Executes the generated code with ctypes.CDLL replaced: layouts are
        checked at import, every function gets argtypes/restype."""
        text = self.render()
        fake = types.SimpleNamespace()

        class FakeFunction:
            argtypes = restype = None

            def __call__(self):
                return (1 << 16) | (2 << 8) | 3

        for f in TINY["functions"] + [{"name": "pk_version"}]:
            setattr(fake, f["name"], FakeFunction())
        real_cdll = ctypes.CDLL
        ctypes.CDLL = lambda path: fake
        try:
            namespace = {}
            exec(compile(text, gp.OUTPUT, "exec"), namespace)
        finally:
            ctypes.CDLL = real_cdll
        self.assertEqual(ctypes.sizeof(namespace["pk_opts"]), 32)
        self.assertEqual(namespace["pk_opts"]().size, 32)
        self.assertEqual(namespace["pk_outer"].inner.offset, 8)
        self.assertEqual(fake.pk_thing_new.argtypes[1]._type_._type_, namespace["pk_thing"])
        self.assertEqual(namespace["FUNCTIONS"]["pk_thing_each"], "TINY_1.1")
        self.assertEqual(namespace["STRUCT_IDS"], {namespace["pk_opts"]: namespace["StructId"].OPTS})

    def test_a_layout_mismatch_fails_at_import(self):
        bad = dict(TINY, structs=[dict(TINY["structs"][0], size=24)], functions=[])
        fake = types.SimpleNamespace(pk_version=type("F", (), {"__call__": lambda self: 1 << 16})())
        real_cdll = ctypes.CDLL
        ctypes.CDLL = lambda path: fake
        try:
            with self.assertRaisesRegex(ImportError, "manifest size 24"):
                exec(compile(gp.render(bad), gp.OUTPUT, "exec"), {})
        finally:
            ctypes.CDLL = real_cdll

    def test_a_missing_symbol_is_an_import_error_naming_its_node(self):
        fake = types.SimpleNamespace(pk_version=type("F", (), {"__call__": lambda self: 1 << 16})())
        real_cdll = ctypes.CDLL
        ctypes.CDLL = lambda path: fake
        try:
            with self.assertRaisesRegex(ImportError, r"lacks pk_thing_each \(TINY_1.1\)"):
                exec(compile(gp.render(dict(TINY, version="1.0.0")), gp.OUTPUT, "exec"), {})
        finally:
            ctypes.CDLL = real_cdll

    def test_a_constant_clashing_with_an_enum_value_is_refused(self):
        clash = dict(TINY, constants=[{"name": "PK_OK", "c_type": "int", "abi": "int32", "value": 0}])
        with self.assertRaises(gp.GenError):
            gp.render(clash)


if __name__ == "__main__":
    unittest.main()
