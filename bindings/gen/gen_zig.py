"""Zig generator: bindings/zig/src/c.zig from the ABI manifest.

The file holds, for every manifest entry:
- opaque handle types (`pub const pk_group = opaque {};`),
- callback types as nullable C-calling-convention function pointers,
- `extern struct`s with the manifest's field order and types, a `size` field
  that defaults to the struct's own size and zero defaults elsewhere, and
  comptime assertions of the size, alignment and every field's offset and
  size against the manifest,
- every enum as a non-exhaustive Zig `enum` (bit-flag enums, declared in C as
  a bare `enum tag`, as a namespace of constants), plus flat C-named
  constants (`PK_ERR_INVALID`) for every enum member and manifest constant,
- for every enum a name table, `pub fn <enum>_str(v: i64) ?[:0]const u8`:
  each member's stable name, its C name without the prefix the members
  share, lower case with `-` for `_` (PK_MECHANISM_CGROUP_V2: "cgroup-v2",
  what the C library's pk_mechanism_name says; the same names and rule as
  gen_rust.py's `<enum>_str`), null for a value the manifest does not list,
- a Zig error set mapped from the pk_error codes with converters both ways,
- an `extern fn` declaration for EVERY exported function (no @cImport).

Python stdlib only; output is deterministic.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifest as mf  # noqa: E402

OUT_PATH = "bindings/zig/src/c.zig"

# Zig keywords: never bare identifiers.
ZIG_KEYWORDS = frozenset("""
addrspace align allowzero and anyframe anytype asm async await break callconv
catch comptime const continue defer else enum errdefer error export extern fn
for if inline linksection noalias noinline nosuspend opaque or orelse packed
pub resume return struct suspend switch test threadlocal try union unreachable
usingnamespace var volatile while
""".split())

# Primitive names: allowed as field names, not as declaration or parameter names.
ZIG_PRIMITIVES = frozenset("""
anyerror anyopaque bool c_char c_int c_long c_longdouble c_longlong c_short
c_uint c_ulong c_ulonglong c_ushort comptime_float comptime_int f16 f32 f64
f80 f128 false isize noreturn null true type undefined usize void
""".split())

ZIG_RESERVED = ZIG_KEYWORDS | ZIG_PRIMITIVES

# C scalar type names (without qualifiers) to Zig types.
C_SCALARS = {
    "void": "void",
    "char": "u8",  # byte strings; the manifest's char_signed does not matter for text
    "signed char": "i8",
    "unsigned char": "u8",
    "short": "c_short",
    "unsigned short": "c_ushort",
    "int": "c_int",
    "unsigned int": "c_uint",
    "unsigned": "c_uint",
    "long": "c_long",
    "unsigned long": "c_ulong",
    "long long": "c_longlong",
    "unsigned long long": "c_ulonglong",
    "float": "f32",
    "double": "f64",
    "bool": "bool",
    "_Bool": "bool",
    "int8_t": "i8",
    "uint8_t": "u8",
    "int16_t": "i16",
    "uint16_t": "u16",
    "int32_t": "i32",
    "uint32_t": "u32",
    "int64_t": "i64",
    "uint64_t": "u64",
    "size_t": "usize",
    "ssize_t": "isize",
    "intptr_t": "isize",
    "uintptr_t": "usize",
}

# Manifest ABI names to Zig types (used for enums and as a fallback).
ABI_SCALARS = {
    "int8": "i8",
    "uint8": "u8",
    "int16": "i16",
    "uint16": "u16",
    "int32": "i32",
    "uint32": "u32",
    "int64": "i64",
    "uint64": "u64",
    "float": "f32",
    "double": "f64",
    "pointer": "?*anyopaque",
    "void": "void",
}

# pk_error members whose Zig error name is not simply the camel-cased suffix.
ERROR_NAME_OVERRIDES = {
    "NOMEM": "OutOfMemory",  # merges with the allocator's error.OutOfMemory
}


def ident(name, field=False):
    """A Zig identifier for @p name, escaped with @"..." when reserved. A
    field (struct or enum member) only escapes keywords, as zig fmt does."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in ZIG_KEYWORDS:
        return '@"%s"' % name
    if not field and (name in ZIG_PRIMITIVES or re.fullmatch(r"[iu][0-9]+", name)):
        return '@"%s"' % name
    return name


def camel_words(name):
    """NOT_FOUND -> NotFound."""
    return "".join(w.capitalize() for w in name.lower().split("_") if w)


def error_name(member):
    """PK_ERR_NOT_FOUND -> NotFound (Zig error name)."""
    suffix = mf.strip_prefix(member, "PK_ERR_")
    return ERROR_NAME_OVERRIDES.get(suffix, camel_words(suffix))


def split_pointer(c_type):
    """'pk_process *const *' -> ('pk_process *const', '') ; splits off the
    outermost pointer. Returns (pointee, outer_qualifier) or None if the type
    is not a pointer."""
    t = c_type.strip()
    qual = ""
    if t.endswith("const") and t[:-5].rstrip().endswith("*"):
        qual = "const"
        t = t[:-5].rstrip()
    if not t.endswith("*"):
        return None
    return t[:-1].rstrip(), qual


def strip_const(c_type):
    """'const pk_group_options' -> ('pk_group_options', True)."""
    words = c_type.split()
    is_const = "const" in words
    return " ".join(w for w in words if w != "const"), is_const


class TypeMapper:
    """Maps C types of the manifest to Zig, knowing its named types."""

    def __init__(self, m):
        self.opaque = {mf.opaque_name(t) for t in mf.opaque_types(m)}
        self.structs = {s["name"] for s in mf.structs(m)}
        self.callbacks = {c["name"] for c in mf.callbacks(m)}
        self.enums = {e["name"]: e for e in mf.enums(m)}

    def named(self, base):
        """Zig type for an unqualified, non-pointer C type name."""
        if base in C_SCALARS:
            return C_SCALARS[base]
        if base.startswith("struct ") and base[7:] in (self.opaque | self.structs):
            return base[7:]
        if base in self.opaque or base in self.structs or base in self.callbacks:
            return base
        if base.startswith("enum ") and base[5:] in self.enums:
            base = base[5:]
        if base in self.enums:
            return ABI_SCALARS[self.enums[base]["abi"]]
        raise ValueError("unknown C type: %r" % base)

    def zig(self, c_type):
        """Zig type for a C type as it appears in a parameter or field.

        Strings become ?[*:0]const u8; void pointers ?*anyopaque; pointers to
        structs and opaque handles ?*T; pointers to scalars and to pointers
        (out-parameters and arrays alike) C pointers [*c]T.
        """
        split = split_pointer(c_type)
        if split is None:
            base, _ = strip_const(c_type)
            return self.named(base)
        pointee, _outer_qual = split
        inner_split = split_pointer(pointee)
        if inner_split is None:
            base, is_const = strip_const(pointee)
            const = "const " if is_const else ""
            if base == "void":
                return "?*%sanyopaque" % const
            if base == "char":
                return "?[*:0]%su8" % const
            zt = self.named(base)
            if base in self.opaque or base in self.structs:
                return "?*%s%s" % (const, zt)
            return "[*c]%s%s" % (const, zt)
        # A pointer to a pointer: the element's own qualifier (T *const *).
        elem, elem_qual = inner_split
        const = "const " if elem_qual == "const" else ""
        return "[*c]%s%s" % (const, self.zig(elem + " *"))

    def field(self, f):
        """Zig type of a struct field (arrays from array_length)."""
        if "array_length" in f:
            elem = f["c_type"].split("[", 1)[0].strip()
            return "[%d]%s" % (f["array_length"], self.zig(elem))
        return self.zig(f["c_type"])


def zero_value(zig_type, f):
    if "array_length" in f:
        return "@splat(0)"
    if zig_type.startswith("?") or zig_type.startswith("[*c]"):
        return "null"
    if zig_type in ("f32", "f64"):
        return "0.0"
    if zig_type == "bool":
        return "false"
    return "0"


def word_prefixes(name):
    """PK_ERR_NOT_FOUND -> ["PK_", "PK_ERR_", "PK_ERR_NOT_"] (never the whole name)."""
    words = name.split("_")
    return ["_".join(words[:i]) + "_" for i in range(1, len(words))]


def member_prefix(e):
    """The prefix the members of enum @p e share, to drop from their Zig
    names and stable names (the rule gen_rust.py follows, so every binding
    spells a member alike): the longest word-boundary prefix every member has
    with something after it; when that is only PK_ and there are three or
    more members, the longest one all but one member has (PK_ERR_, which
    PK_OK lacks). A lone member drops what it shares with the enum's name
    (pk_command_flag: PK_COMMAND_)."""
    names = [v["name"] for v in e["values"]]

    def shared(cands, need):
        best = "PK_"
        for p in cands:
            have = sum(1 for n in names if n.startswith(p) and len(n) > len(p))
            if have >= need and len(p) > len(best):
                best = p
        return best

    if len(names) == 1:
        return shared(word_prefixes(e["name"].upper() + "_X"), 1)
    cands = sorted({p for n in names for p in word_prefixes(n)})
    best = shared(cands, len(names))
    if best == "PK_" and len(names) >= 3:
        best = shared(cands, len(names) - 1)
    return best


def member_names(e):
    """[(zig member name, value)] of enum @p e: the shared prefix dropped
    (PK_ from a member that does not share it), lower case."""
    prefix = member_prefix(e)
    out = []
    for v in e["values"]:
        n = v["name"]
        n = n[len(prefix):] if n.startswith(prefix) and len(n) > len(prefix) else mf.strip_prefix(n, "PK_")
        out.append((n.lower(), v["value"]))
    seen = [n for n, _ in out]
    if len(set(seen)) != len(seen):
        raise ValueError("enum %s: member names collide: %r" % (e["name"], seen))
    return out


def stable_names(e):
    """[(C member name, value, stable name)] of enum @p e in manifest order:
    the Zig member name with `-` for `_` (PK_OUTCOME_TIMED_OUT: "timed-out").
    A value listed twice keeps its first name (a switch cannot repeat it)."""
    out, values = [], set()
    for v, (member, value) in zip(e["values"], member_names(e)):
        if value in values:
            continue
        values.add(value)
        out.append((v["name"], value, member.replace("_", "-")))
    return out


def names_fn_name(e):
    """pk_mechanism -> pk_mechanism_str (pk_mechanism_name is the C function)."""
    return e["name"] + "_str"


def gen_names_fn(e):
    what = "one bit of a `%s` flag word" % e["name"] if is_flag_enum(e) else "a `%s` value" % e["name"]
    first = stable_names(e)[0]
    lines = ['/// The stable name of %s ("%s" for %s),' % (what, first[2], first[0]),
             "/// or null for a value the manifest does not list.",
             "pub fn %s(v: i64) ?[:0]const u8 {" % names_fn_name(e),
             "    return switch (v) {"]
    for c_name, _value, name in stable_names(e):
        lines.append('        %s => "%s",' % (c_name, name))
    lines.append("        else => null,")
    lines.append("    };")
    lines.append("}")
    return lines


def is_flag_enum(e):
    """A bare `enum tag` (no typedef) in the header is a set of bits."""
    return e["c_type"].startswith("enum ")


def enum_tag_type(e):
    return ABI_SCALARS[e["abi"]]


def gen_struct(tm, s):
    name = s["name"]
    lines = ["pub const %s = extern struct {" % name]
    for f in s["fields"]:
        zt = tm.field(f)
        default = "@sizeOf(%s)" % name if f["name"] == "size" and zt == "u32" else zero_value(zt, f)
        lines.append("    %s: %s = %s," % (ident(f["name"], field=True), zt, default))
    lines.append("};")
    lines.append("comptime {")
    lines.append("    assert(@sizeOf(%s) == %d);" % (name, s["size"]))
    lines.append("    assert(@alignOf(%s) == %d);" % (name, s["align"]))
    for f in s["fields"]:
        lines.append('    assert(@offsetOf(%s, "%s") == %d and @sizeOf(@FieldType(%s, "%s")) == %d);'
                     % (name, f["name"], f["offset"], name, f["name"], f["size"]))
    lines.append("}")
    return lines


def gen_enum(e):
    name = e["name"]
    tag = enum_tag_type(e)
    lines = []
    if is_flag_enum(e):
        lines.append("pub const %s = struct {" % name)
        for member, value in member_names(e):
            lines.append("    pub const %s: %s = %d;" % (ident(member), tag, value))
        lines.append("};")
    else:
        lines.append("pub const %s = enum(%s) {" % (name, tag))
        for member, value in member_names(e):
            lines.append("    %s = %d," % (ident(member, field=True), value))
        lines.append("    _,")
        lines.append("};")
    return lines


def param_types(tm, params):
    """Zig types of a parameter list. A `const char *` directly followed by a
    size_t length is a byte buffer ([*]const u8), not a NUL-terminated string."""
    out = []
    for i, p in enumerate(params):
        zt = tm.zig(p["c_type"])
        nxt = params[i + 1] if i + 1 < len(params) else None
        if zt.startswith("?[*:0]") and nxt is not None and nxt["c_type"] == "size_t":
            zt = "?[*]" + zt[len("?[*:0]"):]
        out.append(zt)
    return out


def param_list(tm, params):
    return ", ".join("%s: %s" % (ident(p["name"]), zt) for p, zt in zip(params, param_types(tm, params)))


def gen_callback(tm, cb):
    params = param_list(tm, cb["params"])
    ret = tm.zig(cb["return"]["c_type"])
    return ["pub const %s = ?*const fn (%s) callconv(.c) %s;" % (cb["name"], params, ret)]


def gen_function(tm, fn):
    params = param_list(tm, fn["params"])
    ret = tm.zig(fn["return"]["c_type"])
    return ["/// since %s (%s)" % (fn["since"], fn["version_node"]),
            "pub extern fn %s(%s) %s;" % (fn["name"], params, ret)]


def gen_errors(m):
    err_enum = next((e for e in mf.enums(m) if e["name"] == "pk_error"), None)
    if err_enum is None:
        return []
    members = [v for v in err_enum["values"] if v["value"] < 0]
    lines = ["/// The library's error codes as a Zig error set (error.Unknown: a code",
             "/// this binding does not know, from a newer library).",
             "pub const Error = error{"]
    for v in members:
        lines.append("    %s," % error_name(v["name"]))
    lines.append("    Unknown,")
    lines.append("};")
    lines.append("")
    lines.append("/// The Zig error for a negative pk_error code.")
    lines.append("pub fn errorFromCode(code: c_int) Error {")
    lines.append("    return switch (code) {")
    for v in members:
        lines.append("        %d => error.%s," % (v["value"], error_name(v["name"])))
    lines.append("        else => error.Unknown,")
    lines.append("    };")
    lines.append("}")
    lines.append("")
    lines.append("/// The pk_error code of a Zig error from this set (PK_ERR_INVALID - 1000 for Unknown).")
    lines.append("pub fn codeFromError(err: Error) c_int {")
    lines.append("    return switch (err) {")
    for v in members:
        lines.append("        error.%s => %d," % (error_name(v["name"]), v["value"]))
    lines.append("        error.Unknown => -1000,")
    lines.append("    };")
    lines.append("}")
    lines.append("")
    lines.append("/// Every error code the manifest lists, with its Zig error.")
    lines.append("pub const error_codes = [_]struct { code: c_int, err: Error }{")
    for v in members:
        lines.append("    .{ .code = %d, .err = error.%s }," % (v["value"], error_name(v["name"])))
    lines.append("};")
    return lines


def check_names_fns(m):
    """No `<enum>_str` may collide with another declaration of the file."""
    taken = {f["name"] for f in mf.functions(m)} | {c["name"] for c in mf.constants(m)}
    taken |= {mf.opaque_name(t) for t in mf.opaque_types(m)} | {s["name"] for s in mf.structs(m)}
    taken |= {cb["name"] for cb in mf.callbacks(m)} | {e["name"] for e in mf.enums(m)}
    for e in mf.enums(m):
        if names_fn_name(e) in taken:
            raise ValueError("enum %s: its name function %s collides with a declaration"
                             % (e["name"], names_fn_name(e)))


def render(m):
    tm = TypeMapper(m)
    check_names_fns(m)
    out = ["// " + mf.HEADER_NOTE,
           "//! Low-level Zig declarations of the processkit C ABI %s (%s, %s)." % (
               m["version"], m["soname"], m["platform"]),
           "//! Declarations only: the idiomatic layer is processkit.zig.",
           "",
           'const std = @import("std");',
           "const assert = std.debug.assert;",
           "",
           'pub const library = "%s";' % m["library"],
           'pub const manifest_version = "%s";' % m["version"],
           'pub const soname = "%s";' % m["soname"],
           "pub const function_count = %d;" % len(m["functions"]),
           "",
           "// ---- opaque handles ----"]
    for t in mf.opaque_types(m):
        out.append("pub const %s = opaque {};" % mf.opaque_name(t))
    out.append("")
    out.append("// ---- callbacks ----")
    for cb in mf.callbacks(m):
        out.extend(gen_callback(tm, cb))
    out.append("")
    out.append("// ---- structs (layouts asserted against the manifest) ----")
    for s in mf.structs(m):
        out.extend(gen_struct(tm, s))
        out.append("")
    out.append("// ---- enums ----")
    for e in mf.enums(m):
        out.extend(gen_enum(e))
        out.append("")
    out.append("// ---- enum names: a member's C name without the prefix the members share,")
    out.append("// lower case, `-` for `_` (an i32 or u32 value coerces to the i64 parameter) ----")
    for e in mf.enums(m):
        out.extend(gen_names_fn(e))
        out.append("")
    out.append("// ---- flat C-named constants ----")
    flat = []
    for e in mf.enums(m):
        for v in e["values"]:
            flat.append((v["name"], v["value"]))
    for c in mf.constants(m):
        flat.append((c["name"], c["value"]))
    for name, value in sorted(flat):
        out.append("pub const %s = %d;" % (name, value))
    out.append("")
    out.append("// ---- error codes ----")
    out.extend(gen_errors(m))
    out.append("")
    out.append("// ---- functions (every exported symbol) ----")
    for fn in mf.functions(m):
        out.extend(gen_function(tm, fn))
    out.append("")
    return "\n".join(out)


def generate(m):
    return {OUT_PATH: render(m)}
