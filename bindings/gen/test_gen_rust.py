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


ERRORS = {"name": "pk_error", "c_type": "pk_error", "abi": "int32", "size": 4,
          "values": [{"name": "PK_OK", "value": 0},
                     {"name": "PK_ERR_INVALID", "value": -1},
                     {"name": "PK_ERR_NOMEM", "value": -2},
                     {"name": "PK_ERR_NOT_FOUND", "value": -7, "doc": "The program\n  was not found."}]}


def with_errors(m=TINY):
    m = copy.deepcopy(m)
    m["enums"].append(copy.deepcopy(ERRORS))
    return m


def enum(name, *members, c_type=None):
    return {"name": name, "c_type": c_type or name, "abi": "int32", "size": 4,
            "values": [{"name": n, "value": i} for i, n in enumerate(members)]}


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


class MemberNamesTest(unittest.TestCase):
    def test_shared_prefix_dropped(self):
        e = enum("pk_mechanism", "PK_MECHANISM_NONE", "PK_MECHANISM_PROCESS_GROUP", "PK_MECHANISM_CGROUP_V2")
        self.assertEqual(gen_rust.member_prefix(e), "PK_MECHANISM_")
        self.assertEqual(gen_rust.member_str(e, "PK_MECHANISM_CGROUP_V2"), "cgroup-v2")
        self.assertEqual(gen_rust.member_str(e, "PK_MECHANISM_PROCESS_GROUP"), "process-group")
        self.assertEqual(gen_rust.member_suffix(e, "PK_MECHANISM_NONE"), "NONE")

    def test_prefix_not_from_the_enum_name(self):
        e = enum("pk_ready_outcome", "PK_READY_PENDING", "PK_READY_TIMED_OUT", "PK_READY_RUN_ENDED")
        self.assertEqual(gen_rust.member_prefix(e), "PK_READY_")
        self.assertEqual([n for _, n in gen_rust.member_names(e)], ["pending", "timed-out", "run-ended"])

    def test_longest_word_prefix_only(self):
        # PK_OVERFLOW_KEEP_ is shared by two of three: not dropped.
        e = enum("pk_overflow", "PK_OVERFLOW_KEEP_HEAD", "PK_OVERFLOW_KEEP_TAIL", "PK_OVERFLOW_ERROR")
        self.assertEqual(gen_rust.member_prefix(e), "PK_OVERFLOW_")
        # Two members that share the whole of one name: the shorter keeps a suffix.
        e = enum("pk_x", "PK_X_A", "PK_X_A_B")
        self.assertEqual([n for _, n in gen_rust.member_names(e)], ["a", "a-b"])

    def test_one_outlier_only_when_nothing_else_is_shared(self):
        self.assertEqual(gen_rust.member_prefix(ERRORS), "PK_ERR_")
        self.assertEqual([n for _, n in gen_rust.member_names(ERRORS)], ["ok", "invalid", "nomem", "not-found"])
        # Two members: no outlier allowed.
        self.assertEqual(gen_rust.member_prefix(enum("pk_e", "PK_OK", "PK_ERR_A")), "PK_")

    def test_lone_member_drops_what_it_shares_with_the_enum(self):
        e = enum("pk_group_flag", "PK_GROUP_NO_OWNER_DEATH_KILL", c_type="enum pk_group_flag")
        self.assertEqual(gen_rust.member_prefix(e), "PK_GROUP_")
        self.assertEqual(gen_rust.member_str(e, "PK_GROUP_NO_OWNER_DEATH_KILL"), "no-owner-death-kill")
        e = enum("pk_stage_flag", "PK_STAGE_UNCHECKED", c_type="enum pk_stage_flag")
        self.assertEqual(gen_rust.member_str(e, "PK_STAGE_UNCHECKED"), "unchecked")
        self.assertEqual(gen_rust.member_str(enum("pk_zz", "PK_ONLY"), "PK_ONLY"), "only")

    def test_repeated_value_keeps_its_first_name(self):
        e = enum("pk_c", "PK_C_A", "PK_C_B")
        e["values"].append({"name": "PK_C_ALIAS", "value": 0})
        self.assertEqual([(v["name"], n) for v, n in gen_rust.member_names(e)], [("PK_C_A", "a"), ("PK_C_B", "b")])

    def test_two_members_with_one_name_are_an_error(self):
        # PK_OK lacks the PK_ERR_ the others share: both are "ok".
        with self.assertRaises(ValueError):
            gen_rust.member_names(enum("pk_e", "PK_OK", "PK_ERR_OK", "PK_ERR_A"))
        with self.assertRaises(ValueError):
            gen_rust.member_names(enum("pk_c", "PK_C_AB", "PK_C_Ab"))

    def test_names_fn(self):
        self.assertEqual(gen_rust.names_fn_name(ERRORS), "pk_error_str")
        lines = gen_rust.names_fn_lines(ERRORS)
        self.assertIn("pub const fn pk_error_str(v: pk_error) -> Option<&'static str> {", lines)
        self.assertIn('        PK_ERR_NOT_FOUND => Some("not-found"),', lines)
        self.assertIn('        PK_OK => Some("ok"),', lines)
        self.assertEqual(lines[-3:], ["        _ => None,", "    }", "}"])
        self.assertIn('("ok" for `PK_OK`)', lines[0])
        bits = TINY["enums"][1]
        self.assertIn("one bit of a `pk_bits` flag word", gen_rust.names_fn_lines(bits)[0])

    def test_error_variants(self):
        self.assertIsNone(gen_rust.error_variants(TINY))
        variants = gen_rust.error_variants(with_errors())
        self.assertEqual([(n, v["name"]) for n, v in variants],
                         [("Invalid", "PK_ERR_INVALID"), ("NoMem", "PK_ERR_NOMEM"), ("NotFound", "PK_ERR_NOT_FOUND")])
        self.assertEqual(gen_rust.camel("NO_PROCESS"), "NoProcess")
        self.assertEqual(gen_rust.camel("OS"), "Os")

    def test_bad_or_repeated_variants_are_errors(self):
        for extra in ("PK_ERR_UNKNOWN", "PK_ERR_NOT__FOUND", "PK_ERR_9LIVES"):
            m = with_errors()
            m["enums"][-1]["values"].append({"name": extra, "value": -99})
            with self.assertRaises(ValueError, msg=extra):
                gen_rust.error_variants(m)


class ErrorCodeTest(unittest.TestCase):
    def setUp(self):
        self.out = gen_rust.generate(with_errors())
        self.text = self.out[gen_rust.ERROR_CODE_PATH]

    def test_file_and_header(self):
        self.assertEqual(sorted(self.out), [gen_rust.ERROR_CODE_PATH, gen_rust.OUT_PATH])
        self.assertEqual(gen_rust.ERROR_CODE_PATH, "bindings/rust/src/error_code.rs")
        self.assertTrue(self.text.startswith("// " + mf.HEADER_NOTE + "\n"))
        self.assertIn("\nuse crate::sys;\n", self.text)

    def test_enum(self):
        self.assertIn("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n#[non_exhaustive]\npub enum ErrorCode {",
                      self.text)
        self.assertIn("    /// `PK_ERR_INVALID` (-1).\n    Invalid,\n", self.text)
        self.assertIn("    /// `PK_ERR_NOMEM` (-2).\n    NoMem,\n", self.text)
        # A manifest doc becomes the variant's doc, on one line.
        self.assertIn("    /// The program was not found. (`PK_ERR_NOT_FOUND`)\n    NotFound,\n", self.text)
        self.assertIn("    Unknown(i32),\n}", self.text)
        self.assertNotIn("PK_OK", self.text)
        # Manifest order.
        self.assertLess(self.text.index("    Invalid,"), self.text.index("    NoMem,"))

    def test_conversions(self):
        self.assertIn("    pub fn from_raw(code: i32) -> ErrorCode {", self.text)
        self.assertIn("            sys::PK_ERR_NOMEM => ErrorCode::NoMem,", self.text)
        self.assertIn("            other => ErrorCode::Unknown(other),", self.text)
        self.assertIn("    pub fn raw(self) -> i32 {", self.text)
        self.assertIn("            ErrorCode::NotFound => sys::PK_ERR_NOT_FOUND,", self.text)
        self.assertIn("            ErrorCode::Unknown(code) => code,", self.text)

    def test_sys_has_the_name_tables(self):
        sys_rs = self.out[gen_rust.OUT_PATH]
        for e in ("pk_error", "pk_color", "pk_bits"):
            self.assertIn("pub const fn %s_str(v: %s) -> Option<&'static str> {" % (e, e), sys_rs)
        self.assertIn('        PK_COLOR_RED => Some("red"),', sys_rs)
        self.assertIn('        PK_BITS_B => Some("b"),', sys_rs)
        # After its enum's values.
        self.assertLess(sys_rs.index("PK_COLOR_VALUES"), sys_rs.index("fn pk_color_str"))

    def test_deterministic(self):
        shuffled = with_errors()
        shuffled["enums"].reverse()
        self.assertEqual(gen_rust.generate(shuffled), self.out)

    def test_name_fn_clashes_are_errors(self):
        m = with_errors()
        m["functions"].append({"name": "pk_color_str", "return": {"c_type": "void", "abi": "void"}, "params": []})
        with self.assertRaises(ValueError):
            gen_rust.generate(m)
        m = with_errors()
        m["constants"].append({"name": "pk_bits_str", "c_type": "int", "abi": "int32", "value": 1})
        with self.assertRaises(ValueError):
            gen_rust.generate(m)


class GenerateTest(unittest.TestCase):
    def setUp(self):
        self.out = gen_rust.generate(copy.deepcopy(TINY))
        self.text = self.out[gen_rust.OUT_PATH]

    def test_one_file_with_header_note(self):
        # No pk_error in the manifest: no error_code.rs.
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
        for e in m["enums"]:
            self.assertIn("pub const fn %s_str(v: %s)" % (e["name"], e["name"]), text)
        # The C library's stable mechanism names (pk_mechanism_name).
        for member, name in (("NONE", "none"), ("PROCESS_GROUP", "process-group"),
                             ("CGROUP_V2", "cgroup-v2"), ("JOB_OBJECT", "job-object")):
            self.assertIn('        PK_MECHANISM_%s => Some("%s"),' % (member, name), text)

    def test_real_manifest_error_code(self):
        m = mf.load()
        text = gen_rust.generate(m)[gen_rust.ERROR_CODE_PATH]
        errors = next(e for e in m["enums"] if e["name"] == "pk_error")
        negative = [v for v in errors["values"] if v["value"] < 0]
        self.assertTrue(negative)
        for v in negative:
            self.assertIn("            sys::%s => ErrorCode::" % v["name"], text)
        # The variant names the crate has always had.
        for variant in ("Invalid", "NoMem", "Handle", "Os", "NotFound", "NoProcess", "Timeout", "Cancelled",
                        "NotReady"):
            self.assertIn("\n    %s,\n" % variant, text)


if __name__ == "__main__":
    unittest.main()
