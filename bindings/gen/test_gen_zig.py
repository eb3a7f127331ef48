"""Unit tests of gen_zig.py's pure functions on a tiny hand-made manifest.

run: python3 -m unittest bindings/gen/test_gen_zig.py   (or python3 bindings/gen/test_gen_zig.py)
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_rust  # noqa: E402
import gen_zig  # noqa: E402
import manifest as mf  # noqa: E402


def ptr(c_type, pointee, pointee_abi, **extra):
    d = {"c_type": c_type, "abi": "pointer", "pointee": pointee, "pointee_abi": pointee_abi}
    d.update(extra)
    return d


TINY = {
    "library": "processkit",
    "version": "9.8.7",
    "soname": "libprocesskit.so.9",
    "platform": "x86_64-linux-gnu",
    "opaque_types": [{"name": "pk_thing", "c_type": "pk_thing", "tag": "struct pk_thing"}],
    "callbacks": [{
        "name": "pk_cb_fn", "c_type": "pk_cb_fn", "abi": "pointer",
        "return": {"c_type": "void", "abi": "void"},
        "params": [
            dict(name="user", **ptr("void *", "void", "void")),
            dict(name="data", **ptr("const char *", "const char", "int8")),
            {"name": "len", "c_type": "size_t", "abi": "uint64"},
        ],
    }],
    "structs": [{
        "name": "pk_opts", "c_type": "pk_opts", "size": 24, "align": 8,
        "fields": [
            {"name": "size", "c_type": "uint32_t", "abi": "uint32", "offset": 0, "size": 4, "align": 4},
            {"name": "type", "c_type": "int32_t", "abi": "int32", "offset": 4, "size": 4, "align": 4},
            dict(name="argv", offset=8, size=8, align=8,
                 **ptr("const char *const *", "const char *const", "pointer")),
            {"name": "label", "c_type": "char[8]", "abi": "int8", "array_length": 8,
             "offset": 16, "size": 8, "align": 1},
        ],
    }],
    "enums": [
        {"name": "pk_error", "c_type": "pk_error", "abi": "int32", "size": 4, "values": [
            {"name": "PK_OK", "value": 0},
            {"name": "PK_ERR_INVALID", "value": -1},
            {"name": "PK_ERR_NOMEM", "value": -2},
            {"name": "PK_ERR_NOT_FOUND", "value": -3},
        ]},
        {"name": "pk_color", "c_type": "pk_color", "abi": "uint32", "size": 4, "values": [
            {"name": "PK_COLOR_RED", "value": 0},
            {"name": "PK_COLOR_NULL", "value": 1},
        ]},
        {"name": "pk_thing_flag", "c_type": "enum pk_thing_flag", "abi": "uint32", "size": 4, "values": [
            {"name": "PK_THING_LOUD", "value": 1},
        ]},
    ],
    "constants": [{"name": "PK_ANSWER", "c_type": "int", "abi": "int32", "value": 42}],
    "functions": [
        {"name": "pk_thing_new", "version_node": "PROCESSKIT_9.0", "since": "9.0",
         "return": {"c_type": "int", "abi": "int32"},
         "params": [dict(name="opts", **ptr("const pk_opts *", "const pk_opts", "struct", pointee_type="pk_opts")),
                    dict(name="out", **ptr("pk_thing **", "pk_thing *", "pointer"))]},
        {"name": "pk_thing_feed", "version_node": "PROCESSKIT_9.0", "since": "9.0",
         "return": {"c_type": "int", "abi": "int32"},
         "params": [dict(name="thing", **ptr("pk_thing *", "pk_thing", "struct", pointee_type="pk_thing")),
                    dict(name="fn", c_type="pk_cb_fn", abi="pointer", callback="pk_cb_fn"),
                    dict(name="data", **ptr("const uint8_t **", "const uint8_t *", "pointer")),
                    dict(name="count", **ptr("size_t *", "size_t", "uint64"))]},
        {"name": "pk_name", "version_node": "PROCESSKIT_9.0", "since": "9.1",
         "return": ptr("const char *", "const char", "int8"),
         "params": []},
    ],
}


class TypeMapping(unittest.TestCase):
    def setUp(self):
        self.tm = gen_zig.TypeMapper(TINY)

    def test_scalars(self):
        self.assertEqual(self.tm.zig("int"), "c_int")
        self.assertEqual(self.tm.zig("int32_t"), "i32")
        self.assertEqual(self.tm.zig("uint64_t"), "u64")
        self.assertEqual(self.tm.zig("size_t"), "usize")
        self.assertEqual(self.tm.zig("double"), "f64")
        self.assertEqual(self.tm.zig("void"), "void")
        self.assertEqual(self.tm.zig("pk_color"), "u32")  # an enum: its ABI type
        self.assertEqual(self.tm.zig("enum pk_thing_flag"), "u32")

    def test_pointers(self):
        self.assertEqual(self.tm.zig("const char *"), "?[*:0]const u8")
        self.assertEqual(self.tm.zig("void *"), "?*anyopaque")
        self.assertEqual(self.tm.zig("const void *"), "?*const anyopaque")
        self.assertEqual(self.tm.zig("pk_thing *"), "?*pk_thing")
        self.assertEqual(self.tm.zig("const pk_opts *"), "?*const pk_opts")
        self.assertEqual(self.tm.zig("int32_t *"), "[*c]i32")
        self.assertEqual(self.tm.zig("const int32_t *"), "[*c]const i32")
        self.assertEqual(self.tm.zig("pk_thing **"), "[*c]?*pk_thing")
        self.assertEqual(self.tm.zig("pk_thing *const *"), "[*c]const ?*pk_thing")
        self.assertEqual(self.tm.zig("const uint8_t **"), "[*c][*c]const u8")
        self.assertEqual(self.tm.zig("const char *const *"), "[*c]const ?[*:0]const u8")
        self.assertEqual(self.tm.zig("pk_cb_fn"), "pk_cb_fn")

    def test_unknown_type_is_an_error(self):
        with self.assertRaises(ValueError):
            self.tm.zig("struct mystery *")

    def test_array_field(self):
        field = TINY["structs"][0]["fields"][3]
        self.assertEqual(self.tm.field(field), "[8]u8")
        self.assertEqual(gen_zig.zero_value("[8]u8", field), "@splat(0)")

    def test_byte_buffer_parameters(self):
        params = TINY["callbacks"][0]["params"]
        self.assertEqual(gen_zig.param_types(self.tm, params), ["?*anyopaque", "?[*]const u8", "usize"])

    def test_split_pointer(self):
        self.assertEqual(gen_zig.split_pointer("pk_process *const *"), ("pk_process *const", ""))
        self.assertEqual(gen_zig.split_pointer("pk_process *const"), ("pk_process", "const"))
        self.assertIsNone(gen_zig.split_pointer("int"))


class Names(unittest.TestCase):
    def test_ident_escapes_keywords_and_primitives(self):
        self.assertEqual(gen_zig.ident("fn"), '@"fn"')
        self.assertEqual(gen_zig.ident("type"), '@"type"')
        self.assertEqual(gen_zig.ident("null"), '@"null"')
        self.assertEqual(gen_zig.ident("error"), '@"error"')
        self.assertEqual(gen_zig.ident("u8"), '@"u8"')
        self.assertEqual(gen_zig.ident("i32"), '@"i32"')
        self.assertEqual(gen_zig.ident("a-b"), '@"a-b"')
        self.assertEqual(gen_zig.ident("group"), "group")

    def test_fields_escape_keywords_only(self):
        self.assertEqual(gen_zig.ident("null", field=True), "null")
        self.assertEqual(gen_zig.ident("type", field=True), "type")
        self.assertEqual(gen_zig.ident("u8", field=True), "u8")
        self.assertEqual(gen_zig.ident("error", field=True), '@"error"')

    def test_error_names(self):
        self.assertEqual(gen_zig.error_name("PK_ERR_NOT_FOUND"), "NotFound")
        self.assertEqual(gen_zig.error_name("PK_ERR_NOMEM"), "OutOfMemory")
        self.assertEqual(gen_zig.error_name("PK_ERR_INVALID"), "Invalid")
        self.assertEqual(gen_zig.error_name("PK_ERR_NO_PROCESS"), "NoProcess")

    def test_enum_member_names(self):
        enums = {e["name"]: e for e in TINY["enums"]}
        self.assertEqual(gen_zig.member_names(enums["pk_error"]),
                         [("ok", 0), ("invalid", -1), ("nomem", -2), ("not_found", -3)])
        self.assertEqual(gen_zig.member_names(enums["pk_color"]), [("red", 0), ("null", 1)])
        self.assertEqual(gen_zig.member_names(enums["pk_thing_flag"]), [("loud", 1)])

    def test_flag_enums(self):
        enums = {e["name"]: e for e in TINY["enums"]}
        self.assertTrue(gen_zig.is_flag_enum(enums["pk_thing_flag"]))
        self.assertFalse(gen_zig.is_flag_enum(enums["pk_color"]))


def enum(name, *members, c_type=None):
    """A manifest enum with members (C name, value)."""
    return {"name": name, "c_type": c_type or name, "abi": "int32", "size": 4,
            "values": [{"name": n, "value": v} for n, v in members]}


class NameTables(unittest.TestCase):
    def setUp(self):
        self.enums = {e["name"]: e for e in TINY["enums"]}

    def test_stable_names_drop_the_shared_prefix_and_use_dashes(self):
        self.assertEqual(gen_zig.stable_names(self.enums["pk_error"]),
                         [("PK_OK", 0, "ok"), ("PK_ERR_INVALID", -1, "invalid"),
                          ("PK_ERR_NOMEM", -2, "nomem"), ("PK_ERR_NOT_FOUND", -3, "not-found")])
        self.assertEqual(gen_zig.stable_names(self.enums["pk_color"]),
                         [("PK_COLOR_RED", 0, "red"), ("PK_COLOR_NULL", 1, "null")])
        self.assertEqual(gen_zig.stable_names(self.enums["pk_thing_flag"]), [("PK_THING_LOUD", 1, "loud")])
        mech = enum("pk_mechanism", ("PK_MECHANISM_NONE", 0), ("PK_MECHANISM_PROCESS_GROUP", 1),
                    ("PK_MECHANISM_CGROUP_V2", 2))
        self.assertEqual([n for _, _, n in gen_zig.stable_names(mech)], ["none", "process-group", "cgroup-v2"])

    def test_a_value_listed_twice_keeps_its_first_name(self):
        e = enum("pk_bits", ("PK_BITS_A", 1), ("PK_BITS_B", 2), ("PK_BITS_ALIAS", 1), c_type="enum pk_bits")
        self.assertEqual(gen_zig.stable_names(e), [("PK_BITS_A", 1, "a"), ("PK_BITS_B", 2, "b")])

    def test_colliding_members_are_an_error(self):
        e = enum("pk_dup", ("PK_OK", 0), ("PK_DUP_OK", 1), ("PK_DUP_X", 2))  # "ok" twice
        with self.assertRaises(ValueError):
            gen_zig.stable_names(e)

    def test_the_prefix_every_member_shares_wins_over_a_longer_one_most_share(self):
        e = enum("pk_x", ("PK_X_A_ONE", 0), ("PK_X_A_TWO", 1), ("PK_X_A_THREE", 2), ("PK_X_B", 3))
        self.assertEqual(gen_zig.member_prefix(e), "PK_X_")
        self.assertEqual([n for _, _, n in gen_zig.stable_names(e)], ["a-one", "a-two", "a-three", "b"])

    def test_the_names_are_gen_rusts(self):
        extra = [enum("pk_x", ("PK_X_A_ONE", 0), ("PK_X_A_TWO", 1), ("PK_X_A_THREE", 2), ("PK_X_B", 3)),
                 enum("pk_y", ("PK_OK_THING", 0), ("PK_Y_ONE", 1), ("PK_Y_TWO", 2))]
        for e in TINY["enums"] + extra:
            self.assertEqual(gen_zig.member_prefix(e), gen_rust.member_prefix(e), e["name"])
            self.assertEqual([(v, n) for _, v, n in gen_zig.stable_names(e)],
                             [(v["value"], n) for v, n in gen_rust.member_names(e)], e["name"])

    def test_the_name_function(self):
        text = gen_zig.generate(TINY)[gen_zig.OUT_PATH]
        self.assertIn('/// The stable name of a `pk_color` value ("red" for PK_COLOR_RED),\n'
                      "/// or null for a value the manifest does not list.\n"
                      "pub fn pk_color_str(v: i64) ?[:0]const u8 {\n"
                      "    return switch (v) {\n"
                      '        PK_COLOR_RED => "red",\n'
                      '        PK_COLOR_NULL => "null",\n'
                      "        else => null,\n"
                      "    };\n"
                      "}\n", text)
        self.assertIn('        PK_ERR_NOT_FOUND => "not-found",', text)
        self.assertIn('        PK_OK => "ok",', text)
        self.assertIn('/// The stable name of one bit of a `pk_thing_flag` flag word ("loud" for PK_THING_LOUD),', text)
        self.assertIn("pub fn pk_thing_flag_str(v: i64) ?[:0]const u8 {", text)
        # After the enums and before the flat constants they switch on.
        self.assertLess(text.index("pub const pk_color = enum"), text.index("pub fn pk_color_str("))
        self.assertLess(text.index("pub fn pk_thing_flag_str("), text.index("// ---- flat C-named constants"))

    def test_a_name_function_colliding_with_a_declaration_is_an_error(self):
        m = dict(TINY, functions=TINY["functions"] + [dict(TINY["functions"][2], name="pk_color_str")])
        with self.assertRaises(ValueError):
            gen_zig.generate(m)


class Rendering(unittest.TestCase):
    def setUp(self):
        self.files = gen_zig.generate(TINY)
        self.text = self.files[gen_zig.OUT_PATH]

    def test_one_file_with_the_header_note_first(self):
        self.assertEqual(list(self.files), ["bindings/zig/src/c.zig"])
        self.assertEqual(self.text.splitlines()[0], "// " + mf.HEADER_NOTE)

    def test_deterministic(self):
        self.assertEqual(gen_zig.generate(TINY), self.files)

    def test_every_function_is_declared_extern(self):
        for fn in TINY["functions"]:
            self.assertIn("pub extern fn %s(" % fn["name"], self.text)
        self.assertIn("pub extern fn pk_thing_new(opts: ?*const pk_opts, out: [*c]?*pk_thing) c_int;", self.text)
        self.assertIn("pub extern fn pk_thing_feed(thing: ?*pk_thing, @\"fn\": pk_cb_fn, "
                      "data: [*c][*c]const u8, count: [*c]usize) c_int;", self.text)
        self.assertIn("pub extern fn pk_name() ?[*:0]const u8;", self.text)
        self.assertIn("pub const function_count = 3;", self.text)

    def test_struct_layout_and_assertions(self):
        self.assertIn("pub const pk_opts = extern struct {", self.text)
        self.assertIn("    size: u32 = @sizeOf(pk_opts),", self.text)
        self.assertIn('    type: i32 = 0,', self.text)
        self.assertIn("    argv: [*c]const ?[*:0]const u8 = null,", self.text)
        self.assertIn("    assert(@sizeOf(pk_opts) == 24);", self.text)
        self.assertIn("    assert(@alignOf(pk_opts) == 8);", self.text)
        self.assertIn('    assert(@offsetOf(pk_opts, "label") == 16 and @sizeOf(@FieldType(pk_opts, "label")) == 8);',
                      self.text)

    def test_opaque_callback_enum_constants(self):
        self.assertIn("pub const pk_thing = opaque {};", self.text)
        self.assertIn("pub const pk_cb_fn = ?*const fn (user: ?*anyopaque, data: ?[*]const u8, len: usize) "
                      "callconv(.c) void;", self.text)
        self.assertIn("pub const pk_color = enum(u32) {\n    red = 0,\n    null = 1,\n    _,\n};", self.text)
        self.assertIn("pub const pk_thing_flag = struct {\n    pub const loud: u32 = 1;\n};", self.text)
        self.assertIn("pub const PK_ANSWER = 42;", self.text)
        self.assertIn("pub const PK_ERR_NOT_FOUND = -3;", self.text)

    def test_error_set_and_converters(self):
        self.assertIn("pub const Error = error{\n    Invalid,\n    OutOfMemory,\n    NotFound,\n    Unknown,\n};",
                      self.text)
        self.assertIn("        -3 => error.NotFound,", self.text)
        self.assertIn("        error.NotFound => -3,", self.text)
        self.assertIn("    .{ .code = -2, .err = error.OutOfMemory },", self.text)
        self.assertNotIn("error.Ok", self.text)


class RealManifest(unittest.TestCase):
    def test_every_manifest_function_is_declared(self):
        m = mf.load()
        text = gen_zig.generate(m)[gen_zig.OUT_PATH]
        for fn in mf.functions(m):
            self.assertIn("pub extern fn %s(" % fn["name"], text)
        for s in mf.structs(m):
            self.assertIn("    assert(@sizeOf(%s) == %d);" % (s["name"], s["size"]), text)

    def test_every_manifest_enum_has_a_name_function_with_gen_rusts_names(self):
        m = mf.load()
        text = gen_zig.generate(m)[gen_zig.OUT_PATH]
        for e in mf.enums(m):
            self.assertIn("pub fn %s_str(v: i64) ?[:0]const u8 {" % e["name"], text)
            for v, name in gen_rust.member_names(e):
                self.assertIn('        %s => "%s",' % (v["name"], name), text)
        enums = {e["name"]: e for e in mf.enums(m)}

        def names(enum_name):
            return [n for _, _, n in gen_zig.stable_names(enums[enum_name])]
        # What the C library's pk_mechanism_name says.
        self.assertEqual(names("pk_mechanism"), ["none", "process-group", "cgroup-v2", "job-object"])
        self.assertIn("timed-out", names("pk_outcome"))
        self.assertIn("run-ended", names("pk_ready_outcome"))
        self.assertEqual(names("pk_overflow"), ["keep-head", "keep-tail", "error"])


if __name__ == "__main__":
    unittest.main()
