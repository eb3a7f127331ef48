"""Rust generator: bindings/rust/src/sys.rs, the raw FFI layer of the
processkit-c crate, and bindings/rust/src/error_code.rs, the crate's
`ErrorCode` enum, from the ABI manifest.

What sys.rs holds:
- opaque handle types (zero-sized, !Send/!Sync/!Unpin, usable only behind pointers);
- the callback typedefs as `Option<unsafe extern "C" fn(...)>`;
- every enum as a type alias plus integer constants (never a Rust enum: a
  value the library adds later must not be undefined behaviour), with a
  `<ENUM>_VALUES` array listing every member. Enums with a typedef carry
  values the ABI passes as int32_t (i32); tag-only enums are bit sets
  combined into uint32_t flag words (u32);
- for every enum a name table, `pub const fn <enum>_str(v) -> Option<&str>`:
  each member's stable name, its C name without the prefix the members
  share, lower case with `-` for `_` (PK_MECHANISM_CGROUP_V2: "cgroup-v2",
  the spelling of the C library's pk_mechanism_name);
- the constants;
- `#[repr(C)]` structs with compile-time size and alignment assertions and a
  `#[cfg(test)]` test per struct checking each field's offset;
- one `extern "C"` block, `#[link(name = "processkit")]`, with every function.

error_code.rs holds `pub enum ErrorCode`: a variant per negative pk_error
member (PK_ERR_NOT_FOUND: NotFound), `Unknown(i32)` for a code a newer
library adds, `from_raw` and `raw`. The crate's error.rs re-exports it and
adds what calls the library (`description`, `Display`). A member's `doc` in
the manifest, when there is one, becomes its variant's doc comment.

Python standard library only; output is deterministic (the manifest helpers
sort everything by name).
"""
import re

import manifest as mf

OUT_PATH = "bindings/rust/src/sys.rs"
ERROR_CODE_PATH = "bindings/rust/src/error_code.rs"

# The enum behind ErrorCode, and the prefix its variants drop.
ERROR_ENUM = "pk_error"
# pk_error members whose Rust variant is not the camel-cased suffix (the
# names the crate has always had).
ERROR_VARIANT_OVERRIDES = {
    "NOMEM": "NoMem",
}

# C scalar types -> Rust.
SCALARS = {
    "void": "c_void",
    "char": "c_char",
    "signed char": "i8",
    "unsigned char": "u8",
    "short": "i16",
    "unsigned short": "u16",
    "int": "c_int",
    "unsigned": "c_uint",
    "unsigned int": "c_uint",
    "long": "c_long",
    "unsigned long": "c_ulong",
    "long long": "i64",
    "unsigned long long": "u64",
    "float": "f32",
    "double": "f64",
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
    "bool": "bool",
    "_Bool": "bool",
}

# Manifest "abi" names -> Rust, for constants.
ABI_SCALARS = {
    "int8": "i8", "uint8": "u8", "int16": "i16", "uint16": "u16",
    "int32": "i32", "uint32": "u32", "int64": "i64", "uint64": "u64",
    "float": "f32", "double": "f64",
}

RUST_KEYWORDS = {
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else",
    "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop",
    "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "gen",
}


def ident(name):
    """A C identifier as a Rust one: keywords get a trailing underscore."""
    return name + "_" if name in RUST_KEYWORDS else name


def known_types(m):
    """Names the manifest itself defines (used as-is in Rust)."""
    names = {s["name"] for s in m.get("structs", [])}
    names |= {mf.opaque_name(t) for t in m.get("opaque_types", [])}
    names |= {c["name"] for c in m.get("callbacks", [])}
    names |= {e["name"] for e in m.get("enums", []) if not e["c_type"].startswith("enum ")}
    return names


def rust_type(c_type, known=frozenset()):
    """A C type spelling from the manifest as a Rust type.

    "const char *const *" -> "*const *const c_char"; "pk_group **" ->
    "*mut *mut pk_group"; "char[256]" -> "[c_char; 256]". A pointer is
    `*const` when what it points to is const-qualified."""
    c_type = c_type.strip()
    arr = re.fullmatch(r"(.+?)\s*\[(\d+)\]", c_type)
    if arr:
        return "[%s; %s]" % (rust_type(arr.group(1), known), arr.group(2))
    parts = c_type.split("*")
    base = parts[0].split()
    stars = [p.split() for p in parts[1:]]
    base_const = "const" in base
    base = " ".join(w for w in base if w != "const")
    for s in stars:
        if any(w != "const" for w in s):
            raise ValueError("cannot parse C type %r" % c_type)
    if base.startswith("struct ") or base.startswith("enum "):
        base = base.split(None, 1)[1]
    if base in known:
        ty = base
    elif base in SCALARS:
        ty = SCALARS[base]
    else:
        raise ValueError("no Rust type for C type %r" % c_type)
    pointee_const = base_const
    for s in stars:
        ty = ("*const " if pointee_const else "*mut ") + ty
        pointee_const = "const" in s
    return ty


def enum_is_flags(e):
    """A tag-only enum (no typedef: c_type "enum pk_x") names bits of a flag word."""
    return e["c_type"].startswith("enum ")


def enum_rust_type(e):
    if enum_is_flags(e):
        return "u32"
    if any(v["value"] < -2**31 or v["value"] >= 2**31 for v in e["values"]):
        return "i64"
    return "i32"


def values_const_name(e):
    return e["name"].upper() + "_VALUES"


def names_fn_name(e):
    """pk_mechanism -> pk_mechanism_str (pk_mechanism_name is the C function)."""
    return e["name"] + "_str"


def word_prefixes(name):
    """PK_ERR_NOT_FOUND -> ["PK_", "PK_ERR_", "PK_ERR_NOT_"] (never the whole name)."""
    words = name.split("_")
    return ["_".join(words[:i]) + "_" for i in range(1, len(words))]


def member_prefix(e):
    """The prefix the members of @p e share, to drop from their names: the
    longest word-boundary prefix every member has (with something after
    it). When that is only PK_ and there are three or more members, the
    longest one all but one member has (PK_ERR_, which PK_OK lacks). A
    lone member drops what it shares with the enum's name (pk_group_flag:
    PK_GROUP_)."""
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


def member_suffix(e, member):
    """PK_MECHANISM_CGROUP_V2 -> CGROUP_V2; a member without the shared
    prefix only drops PK_ (PK_OK -> OK)."""
    prefix = member_prefix(e)
    if member.startswith(prefix) and len(member) > len(prefix):
        return member[len(prefix):]
    return mf.strip_prefix(member, "PK_")


def member_str(e, member):
    """The stable name of a member: PK_MECHANISM_CGROUP_V2 -> "cgroup-v2"."""
    return member_suffix(e, member).lower().replace("_", "-")


def member_names(e):
    """[(value, stable name)] of @p e in manifest order; a value listed twice
    keeps its first name. Two members with one name are an error."""
    out, values, names = [], set(), set()
    for v in e["values"]:
        name = member_str(e, v["name"])
        if name in names:
            raise ValueError("enum %s: two members are named %r" % (e["name"], name))
        names.add(name)
        if v["value"] not in values:
            values.add(v["value"])
            out.append((v, name))
    return out


def names_fn_lines(e):
    fn = names_fn_name(e)
    what = "one bit of a `%s` flag word" % e["name"] if enum_is_flags(e) else "a `%s` value" % e["name"]
    example = member_names(e)[0]
    out = [
        '/// The stable name of %s ("%s" for `%s`), or `None` for a value' % (what, example[1], example[0]["name"]),
        "/// the manifest does not list: the member's C name without its prefix, lower case, `-` for `_`.",
        "pub const fn %s(v: %s) -> Option<&'static str> {" % (fn, e["name"]),
        "    match v {",
    ]
    for v, name in member_names(e):
        out.append('        %s => Some("%s"),' % (v["name"], name))
    out.append("        _ => None,")
    out.append("    }")
    out.append("}")
    return out


def camel(name):
    """NOT_FOUND -> NotFound."""
    return "".join(w.capitalize() for w in name.lower().split("_") if w)


def error_variants(m):
    """[(variant, member)] of ErrorCode: the negative pk_error members, in
    manifest order. None when the manifest has no pk_error."""
    e = next((e for e in mf.enums(m) if e["name"] == ERROR_ENUM), None)
    if e is None:
        return None
    out, seen = [], set()
    for v in e["values"]:
        if v["value"] >= 0:
            continue
        suffix = member_suffix(e, v["name"])
        variant = ERROR_VARIANT_OVERRIDES.get(suffix, camel(suffix))
        if variant in seen or variant == "Unknown" or not re.fullmatch(r"[A-Z][A-Za-z0-9]*", variant):
            raise ValueError("pk_error member %s: bad or repeated variant %r" % (v["name"], variant))
        seen.add(variant)
        out.append((variant, v))
    return out


def doc_text(text):
    """A manifest doc string as one line of a /// comment."""
    return " ".join(text.split())


def generate_error_code(m):
    variants = error_variants(m)
    L = [
        "// " + mf.HEADER_NOTE,
        "// Generator: bindings/gen/gen_rust.py. Library %s %s (%s), platform %s." % (
            m.get("library", "processkit"), m.get("version", "?"), m.get("soname", "?"), m.get("platform", "?")),
        "//",
        "// ErrorCode: the safe form of pk_error, a variant per negative member of",
        "// the manifest's enum. error.rs re-exports it and adds the methods that",
        "// call the library (description, Display).",
        "use crate::sys;",
        "",
        "/// What went wrong, as the library classifies it (`pk_error`).",
        "///",
        "/// Every code the library defines has a variant; a code from a newer library",
        "/// that this crate does not know comes back as [`ErrorCode::Unknown`].",
        "/// [`ErrorCode::description`] is the library's description of a code.",
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]",
        "#[non_exhaustive]",
        "pub enum ErrorCode {",
    ]
    for variant, v in variants:
        if v.get("doc"):
            L.append("    /// %s (`%s`)" % (doc_text(v["doc"]), v["name"]))
        else:
            L.append("    /// `%s` (%d)." % (v["name"], v["value"]))
        L.append("    %s," % variant)
    L += [
        "    /// A code this crate does not know (from a newer library).",
        "    Unknown(i32),",
        "}",
        "",
        "impl ErrorCode {",
        "    /// The variant for a raw `pk_error` value.",
        "    pub fn from_raw(code: i32) -> ErrorCode {",
        "        match code {",
    ]
    for variant, v in variants:
        L.append("            sys::%s => ErrorCode::%s," % (v["name"], variant))
    L += [
        "            other => ErrorCode::Unknown(other),",
        "        }",
        "    }",
        "",
        "    /// The raw `pk_error` value.",
        "    pub fn raw(self) -> i32 {",
        "        match self {",
    ]
    for variant, v in variants:
        L.append("            ErrorCode::%s => sys::%s," % (variant, v["name"]))
    L += [
        "            ErrorCode::Unknown(code) => code,",
        "        }",
        "    }",
        "}",
    ]
    return "\n".join(L) + "\n"


def constant_type(c):
    if c.get("abi") in ABI_SCALARS:
        return ABI_SCALARS[c["abi"]]
    return rust_type(c["c_type"])


def rust_literal(value, ty):
    if isinstance(value, float) or ty in ("f32", "f64"):
        text = repr(float(value))
        return text
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    return str(value)


def fn_signature(f, known):
    params = []
    for i, p in enumerate(f["params"]):
        name = ident(p.get("name") or "arg%d" % i)
        params.append("%s: %s" % (name, rust_type(p["c_type"], known)))
    ret = rust_type(f["return"]["c_type"], known)
    tail = "" if ret == "c_void" else " -> " + ret
    return "pub fn %s(%s)%s;" % (f["name"], ", ".join(params), tail)


def callback_type(cb, known):
    params = []
    for i, p in enumerate(cb["params"]):
        name = ident(p.get("name") or "arg%d" % i)
        params.append("%s: %s" % (name, rust_type(p["c_type"], known)))
    ret = rust_type(cb["return"]["c_type"], known)
    tail = "" if ret == "c_void" else " -> " + ret
    return 'pub type %s = Option<unsafe extern "C" fn(%s)%s>;' % (cb["name"], ", ".join(params), tail)


def struct_lines(s, known):
    out = [
        "/// `%s`: %d bytes, aligned to %d (checked at compile time)." % (s["c_type"], s["size"], s["align"]),
        "#[repr(C)]",
        "#[derive(Debug, Clone, Copy)]",
        "pub struct %s {" % s["name"],
    ]
    for f in s["fields"]:
        out.append("    pub %s: %s," % (ident(f["name"]), rust_type(f["c_type"], known)))
    out.append("}")
    out.append("const _: () = assert!(std::mem::size_of::<%s>() == %d);" % (s["name"], s["size"]))
    out.append("const _: () = assert!(std::mem::align_of::<%s>() == %d);" % (s["name"], s["align"]))
    has_size = bool(s["fields"]) and s["fields"][0]["name"] == "size"
    out.append("impl %s {" % s["name"])
    out.append("    /// All bytes zero%s (not the C `_INIT` defaults)." % (
        ", `size` set to this struct's size" if has_size else ""))
    out.append("    pub fn zeroed() -> Self {")
    if has_size:
        out.append("        // SAFETY: every field is an integer, float, array or raw pointer: all-zero is valid.")
        out.append("        let mut v: Self = unsafe { std::mem::zeroed() };")
        out.append("        v.size = std::mem::size_of::<Self>() as u32;")
        out.append("        v")
    else:
        out.append("        // SAFETY: every field is an integer, float, array or raw pointer: all-zero is valid.")
        out.append("        unsafe { std::mem::zeroed() }")
    out.append("    }")
    out.append("}")
    return out


def layout_test_lines(s):
    out = [
        "    #[test]",
        "    fn %s_layout() {" % s["name"],
        "        let v = MaybeUninit::<%s>::uninit();" % s["name"],
        "        let base = v.as_ptr() as usize;",
    ]
    for f in s["fields"]:
        out.append(
            "        assert_eq!(unsafe { addr_of!((*v.as_ptr()).%s) } as usize - base, %d, \"%s.%s\");"
            % (ident(f["name"]), f["offset"], s["name"], f["name"]))
        out.append(
            "        assert_eq!(size_of_field(unsafe { addr_of!((*v.as_ptr()).%s) }), %d, \"%s.%s size\");"
            % (ident(f["name"]), f["size"], s["name"], f["name"]))
    out.append("    }")
    return out


def generate(m):
    out = {OUT_PATH: generate_sys(m)}
    if error_variants(m) is not None:
        out[ERROR_CODE_PATH] = generate_error_code(m)
    return out


def generate_sys(m):
    known = known_types(m)
    functions = {f["name"] for f in m["functions"]}
    L = []
    L.append("// " + mf.HEADER_NOTE)
    L.append("// Generator: bindings/gen/gen_rust.py. Library %s %s (%s), platform %s." % (
        m.get("library", "processkit"), m.get("version", "?"), m.get("soname", "?"), m.get("platform", "?")))
    L.append("//")
    L.append("// The raw C ABI of libprocesskit: every function, struct, enum and constant")
    L.append("// of the manifest. Everything here is unsafe to use directly; the crate's")
    L.append("// root module is the safe layer.")
    L.append("#![allow(non_camel_case_types, non_upper_case_globals, dead_code, missing_docs, clippy::all)]")
    L.append("")
    L.append("#[allow(unused_imports)]")
    L.append("use std::os::raw::{c_char, c_int, c_long, c_uint, c_ulong, c_void};")
    L.append("")
    L.append("/// The library version this file was generated from.")
    L.append('pub const MANIFEST_VERSION: &str = "%s";' % m.get("version", ""))
    L.append("/// The shared object's SONAME.")
    L.append('pub const SONAME: &str = "%s";' % m.get("soname", ""))
    L.append("")

    L.append("// ---- opaque handles ----")
    for t in mf.opaque_types(m):
        name = mf.opaque_name(t)
        L.append("/// Opaque `%s`: only ever behind a pointer the library hands out." % name)
        L.append("#[repr(C)]")
        L.append("pub struct %s {" % name)
        L.append("    _data: [u8; 0],")
        L.append("    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,")
        L.append("}")
    L.append("")

    L.append("// ---- callbacks ----")
    for cb in mf.callbacks(m):
        L.append(callback_type(cb, known))
    L.append("")

    L.append("// ---- enums ----")
    seen = set()
    for e in mf.enums(m):
        ty = enum_rust_type(e)
        kind = "bits of a flag word" if enum_is_flags(e) else "values passed as int32_t"
        L.append("/// `%s` (%s)." % (e["c_type"], kind))
        L.append("pub type %s = %s;" % (e["name"], ty))
        names = []
        for v in e["values"]:
            if v["name"] in seen:
                raise ValueError("enum member %s defined twice" % v["name"])
            seen.add(v["name"])
            names.append(v["name"])
            L.append("pub const %s: %s = %d;" % (v["name"], e["name"], v["value"]))
        vc = values_const_name(e)
        if vc in seen:
            raise ValueError("%s clashes with an enum member" % vc)
        seen.add(vc)
        L.append("/// Every member of `%s`, in manifest order." % e["name"])
        L.append("pub const %s: &[%s] = &[%s];" % (vc, e["name"], ", ".join(names)))
        fn = names_fn_name(e)
        if fn in functions or fn in known or fn in seen:
            raise ValueError("%s clashes with a function, type or enum member" % fn)
        seen.add(fn)
        L.extend(names_fn_lines(e))
        L.append("")

    L.append("// ---- constants ----")
    for c in mf.constants(m):
        if c["name"] in seen:
            raise ValueError("constant %s clashes with an enum member" % c["name"])
        ty = constant_type(c)
        L.append("pub const %s: %s = %s;" % (c["name"], ty, rust_literal(c["value"], ty)))
    L.append("")

    L.append("// ---- structs ----")
    for s in mf.structs(m):
        L.extend(struct_lines(s, known))
        L.append("")

    L.append("// ---- functions ----")
    L.append('#[link(name = "%s")]' % m.get("library", "processkit"))
    L.append('extern "C" {')
    for f in mf.functions(m):
        node = f.get("version_node")
        if node:
            L.append("    /// Since %s (symbol version %s)." % (f.get("since", "?"), node))
        L.append("    " + fn_signature(f, known))
    L.append("}")
    L.append("")
    L.append("/// The names of every function above, as the manifest lists them.")
    L.append("pub const FUNCTION_NAMES: &[&str] = &[")
    for f in mf.functions(m):
        L.append('    "%s",' % f["name"])
    L.append("];")
    L.append("")

    L.append("#[cfg(test)]")
    L.append("mod layout_tests {")
    L.append("    use super::*;")
    L.append("    use std::mem::MaybeUninit;")
    L.append("    use std::ptr::addr_of;")
    L.append("")
    L.append("    fn size_of_field<T>(_: *const T) -> usize {")
    L.append("        std::mem::size_of::<T>()")
    L.append("    }")
    for s in mf.structs(m):
        L.append("")
        L.extend(layout_test_lines(s))
    L.append("}")
    return "\n".join(L) + "\n"
