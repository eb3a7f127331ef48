"""C# low-level layer: bindings/csharp/Native.g.cs.

Everything the manifest describes, in one static class `ProcessKit.Native`:
a `[DllImport("processkit")]` declaration for every function (C names, exact
entry points), `[StructLayout(LayoutKind.Sequential)]` structs (char arrays as
`fixed byte`, so the structs are blittable and cross the ABI pinned), the
callback delegate, the constants, the layout table from the manifest with a
self-check (`Native.LayoutMismatches()`), and the enums as C# enums in the
`ProcessKit` namespace (PascalCase members) so the idiomatic layer can expose
them as they are.

Type mapping (C -> C#), by the manifest's c_type/abi:
- int32_t/int -> int, uint32_t -> uint, int64_t -> long, uint64_t -> ulong,
  double -> double, size_t (by value) -> UIntPtr (nuint is C# 9).
- const char * parameter -> string marshalled as UTF-8 (LPUTF8Str), NULL for
  null; const char * return -> IntPtr (static storage the marshaller must not
  free: read it with Native.PtrToStringUtf8).
- opaque handles (pk_group *) -> IntPtr; pk_group ** -> out IntPtr.
- a pointer followed by a size_t parameter is an array: const void * ->
  byte[], const int32_t * -> int[], int32_t * -> [Out] int[], pk_x *const *
  -> IntPtr[].
- other scalar pointers (int *, size_t *) -> out T; const uint8_t ** -> out
  IntPtr; void * -> IntPtr; struct pointers -> ref T, and every function with
  a struct pointer also gets an overload taking IntPtr there (for NULL).
- callbacks -> a [UnmanagedFunctionPointer(Cdecl)] delegate type.

Python stdlib only; deterministic output."""
import manifest as mf

OUT = "bindings/csharp/Native.g.cs"
LIBRARY = "processkit"
NAMESPACE = "ProcessKit"

SCALARS = {
    "int8": "sbyte",
    "uint8": "byte",
    "int16": "short",
    "uint16": "ushort",
    "int32": "int",
    "uint32": "uint",
    "int64": "long",
    "uint64": "ulong",
    "float": "float",
    "double": "double",
}

# C# type names some enums get instead of camel(name).
ENUM_RENAMES = {"pk_error": "ErrorCode", "pk_stream": "StdStream"}  # Stream would clash with System.IO.Stream

CSHARP_KEYWORDS = {
    "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class",
    "const", "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event",
    "explicit", "extern", "false", "finally", "fixed", "float", "for", "foreach", "goto", "if",
    "implicit", "in", "int", "interface", "internal", "is", "lock", "long", "namespace", "new",
    "null", "object", "operator", "out", "override", "params", "private", "protected", "public",
    "readonly", "ref", "return", "sbyte", "sealed", "short", "sizeof", "stackalloc", "static",
    "string", "struct", "switch", "this", "throw", "true", "try", "typeof", "uint", "ulong",
    "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
}


def ident(name):
    """A C identifier usable in C# (keywords get the @ prefix)."""
    return "@" + name if name in CSHARP_KEYWORDS else name


def pascal(upper_snake):
    """CGROUP_V2 -> CgroupV2, NOT_FOUND -> NotFound."""
    return "".join(p[:1].upper() + p[1:].lower() for p in upper_snake.split("_") if p)


def enum_type_name(enum_name):
    return ENUM_RENAMES.get(enum_name) or mf.camel(enum_name)


def enum_member_name(enum_name, member):
    """PK_BACKEND_CGROUP_V2 -> CgroupV2; PK_ERR_NOT_FOUND (pk_error) ->
    NotFound; PK_STRUCT_RUN_INFO (pk_struct_id) -> RunInfo;
    PK_SPAWN_NEW_SESSION (pk_spawn_flag) -> NewSession. The enum's own prefix
    is dropped, else its name less the last word (_id, _flag)."""
    suffix = mf.enum_member_suffix(enum_name, member)
    if enum_name == "pk_error" and suffix.startswith("ERR_"):
        suffix = suffix[len("ERR_"):]
    elif not member.startswith(enum_name.upper() + "_") and "_" in enum_name:
        stem = enum_name.rsplit("_", 1)[0].upper() + "_"
        if stem != "PK_" and member.startswith(stem):
            suffix = member[len(stem):]
    name = pascal(suffix)
    return "_" + name if name[:1].isdigit() else name


def is_flags(enum):
    values = [v["value"] for v in enum["values"]]
    return bool(values) and all(v > 0 and v & (v - 1) == 0 for v in values)


def enum_base(enum):
    if is_flags(enum):
        return "uint"
    return "int"


def scalar_type(c_type, abi):
    c = c_type.replace("const ", "").strip()
    if c == "size_t":
        return "UIntPtr"
    if c == "ssize_t":
        return "IntPtr"
    if abi in SCALARS:
        return SCALARS[abi]
    raise ValueError("no C# type for %s (%s)" % (c_type, abi))


def return_type(ret):
    if ret["abi"] == "void":
        return "void"
    if ret["abi"] == "pointer":
        return "IntPtr"
    return scalar_type(ret["c_type"], ret["abi"])


def _is_size(p):
    return p.get("abi") != "pointer" and p["c_type"].replace("const ", "").strip() == "size_t"


def _is_const_pointee(p):
    """const T * and T *const * both point at what the callee only reads."""
    pointee = p.get("pointee", "").strip()
    return pointee.startswith("const ") or pointee.endswith("const")


def param_types(params, struct_names, callback_names, raw_structs=False, callback=False):
    """[(attribute, C# type, name)] for a function's (or, with callback, a
    callback's) parameters. A callback gets raw IntPtr for char pointers: the
    native side passes (pointer, length), not a NUL-terminated string."""
    out = []
    for i, p in enumerate(params):
        name = ident(p["name"])
        nxt = params[i + 1] if i + 1 < len(params) else None
        c_type = p["c_type"]
        if p.get("callback") in callback_names:
            out.append(("", mf.camel(p["callback"]), name))
            continue
        if p["abi"] != "pointer":
            out.append(("", scalar_type(c_type, p["abi"]), name))
            continue
        pointee_abi = p.get("pointee_abi")
        pointee = p.get("pointee", "").replace("const ", "").replace("const", "").strip()
        if pointee_abi == "struct" and p.get("pointee_type") in struct_names:
            out.append(("", "IntPtr" if raw_structs else "ref " + p["pointee_type"], name))
        elif pointee_abi == "struct":  # an opaque handle
            out.append(("", "IntPtr", name))
        elif callback:
            out.append(("", "IntPtr", name))
        elif pointee == "char" and _is_const_pointee(p):
            out.append(("[MarshalAs(UnmanagedType.LPUTF8Str)] ", "string", name))
        elif nxt is not None and _is_size(nxt):
            if pointee_abi == "void" or pointee in ("uint8_t", "char"):
                elem = "byte"
            elif pointee_abi == "pointer":
                elem = "IntPtr"
            else:
                elem = scalar_type(pointee, pointee_abi)
            attr = "" if _is_const_pointee(p) else "[Out] "
            out.append((attr, elem + "[]", name))
        elif pointee_abi == "void":
            out.append(("", "IntPtr", name))
        elif pointee_abi == "pointer":
            out.append(("", "out IntPtr", name))
        elif pointee_abi in SCALARS:
            t = scalar_type(pointee, pointee_abi)
            out.append(("", ("ref " if _is_const_pointee(p) else "out ") + t, name))
        else:
            raise ValueError("no C# mapping for parameter %s %s" % (c_type, p["name"]))
    return out


def field_decl(field):
    name = ident(field["name"])
    if "array_length" in field:
        if field["abi"] in ("int8", "uint8"):
            return "public fixed byte %s[%d];" % (name, field["array_length"])
        return "public fixed %s %s[%d];" % (SCALARS[field["abi"]], name, field["array_length"])
    if field["abi"] == "pointer":
        return "public IntPtr %s;" % name
    return "public %s %s;" % (scalar_type(field["c_type"], field["abi"]), name)


def struct_is_unsafe(struct):
    return any("array_length" in f for f in struct["fields"])


def _doc(text, indent):
    return "%s/// <summary>%s</summary>" % (indent, text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def emit_function(f, struct_names, callback_names, lines):
    ret = return_type(f["return"])
    variants = [False]
    if any(p.get("pointee_abi") == "struct" and p.get("pointee_type") in struct_names for p in f["params"]):
        variants.append(True)
    for raw in variants:
        ps = param_types(f["params"], struct_names, callback_names, raw_structs=raw)
        sig = ", ".join("%s%s %s" % (a, t, n) for a, t, n in ps)
        c_sig = ", ".join(p["c_type"] for p in f["params"]) or "void"
        lines.append(_doc("%s %s(%s)%s; since %s" % (
            f["return"]["c_type"], f["name"], c_sig, " (struct pointers as IntPtr, for NULL)" if raw else "",
            f.get("since", "?")), "        "))
        lines.append('        [DllImport(Lib, EntryPoint = "%s", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]' % f["name"])
        lines.append("        public static extern %s %s(%s);" % (ret, f["name"], sig))
        lines.append("")


def generate_source(m):
    fns = mf.functions(m)
    structs = mf.structs(m)
    struct_names = {s["name"] for s in structs}
    callbacks = mf.callbacks(m)
    callback_names = {c["name"] for c in callbacks}
    enums = mf.enums(m)
    L = []
    L.append("// " + mf.HEADER_NOTE)
    L.append("// Regenerate with: python3 bindings/gen/generate.py (generator: bindings/gen/gen_csharp.py)")
    L.append("// processkit %s, %s, %s: %d functions, %d structs, %d enums, %d constants." % (
        m.get("version", "?"), m.get("soname", "?"), m.get("platform", "?"), len(fns), len(structs), len(enums),
        len(mf.constants(m))))
    L.append("// Compile with -unsafe (char arrays are fixed buffers).")
    L.append("using System;")
    L.append("using System.Collections.Generic;")
    L.append("using System.Runtime.InteropServices;")
    L.append("")
    L.append("namespace %s" % NAMESPACE)
    L.append("{")
    for e in enums:
        L.append(_doc("%s (%s)." % (e["name"], e["c_type"]), "    "))
        if is_flags(e):
            L.append("    [Flags]")
        L.append("    public enum %s : %s" % (enum_type_name(e["name"]), enum_base(e)))
        L.append("    {")
        for v in e["values"]:
            L.append("        /// <summary>%s</summary>" % v["name"])
            L.append("        %s = %d," % (enum_member_name(e["name"], v["name"]), v["value"]))
        L.append("    }")
        L.append("")
    L.append("    /// <summary>The C ABI as the manifest describes it: C names, exact entry points.</summary>")
    L.append("    public static unsafe partial class Native")
    L.append("    {")
    L.append("        /// <summary>The library name DllImport uses: Mono finds libprocesskit.so beside the dll; the optional Processkit.dll.config maps it to %s.</summary>" % m.get("soname", "libprocesskit.so.1"))
    L.append('        public const string Lib = "%s";' % LIBRARY)
    L.append('        /// <summary>The SONAME the manifest was generated for.</summary>')
    L.append('        public const string SoName = "%s";' % m.get("soname", ""))
    L.append('        /// <summary>The library version the manifest was generated from.</summary>')
    L.append('        public const string ManifestVersion = "%s";' % m.get("version", ""))
    L.append("")
    L.append("        /// <summary>Runs OnFirstUse (the hand-written layer installs its library")
    L.append("        /// resolver there) before any of these functions is called.</summary>")
    L.append("        static Native() { OnFirstUse(); }")
    L.append("        static partial void OnFirstUse();")
    L.append("")
    for c in mf.constants(m):
        t = scalar_type(c["c_type"], c["abi"])
        L.append("        /// <summary>%s</summary>" % c["name"])
        L.append("        public const %s %s = %s;" % (t, c["name"], c["value"]))
    L.append("")
    for cb in callbacks:
        ps = param_types(cb["params"], struct_names, callback_names, callback=True)
        sig = ", ".join("%s%s %s" % (a, t, n) for a, t, n in ps)
        L.append(_doc("%s: %s" % (cb["name"], cb["c_type"]), "        "))
        L.append("        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]")
        L.append("        public delegate %s %s(%s);" % (return_type(cb["return"]), mf.camel(cb["name"]), sig))
        L.append("")
    for s in structs:
        L.append(_doc("%s: %d bytes, align %d." % (s["c_type"], s["size"], s["align"]), "        "))
        L.append("        [StructLayout(LayoutKind.Sequential)]")
        L.append("        public %sstruct %s" % ("unsafe " if struct_is_unsafe(s) else "", s["name"]))
        L.append("        {")
        for f in s["fields"]:
            L.append("            /// <summary>%s %s; offset %d</summary>" % (f["c_type"], f["name"], f["offset"]))
            L.append("            " + field_decl(f))
        L.append("        }")
        L.append("")
    for f in fns:
        emit_function(f, struct_names, callback_names, L)
    # Layout table and self-check.
    L.append("        /// <summary>Struct name, C# type, manifest size, and (field, offset) pairs.</summary>")
    L.append("        public sealed class StructLayoutInfo")
    L.append("        {")
    L.append("            public readonly string Name; public readonly Type Type; public readonly int Size; public readonly int StructId;")
    L.append("            public readonly string[] Fields; public readonly int[] Offsets;")
    L.append("            public StructLayoutInfo(string name, Type type, int size, int structId, string[] fields, int[] offsets)")
    L.append("            { Name = name; Type = type; Size = size; StructId = structId; Fields = fields; Offsets = offsets; }")
    L.append("        }")
    L.append("")
    ids = {}
    for e in enums:
        if e["name"] == "pk_struct_id":
            for v in e["values"]:
                ids["pk_" + mf.strip_prefix(v["name"], "PK_STRUCT_").lower()] = v["value"]
    L.append("        /// <summary>Every struct's layout as the manifest gives it (StructId 0: none in pk_struct_id).</summary>")
    L.append("        public static readonly StructLayoutInfo[] Layouts = new StructLayoutInfo[]")
    L.append("        {")
    for s in structs:
        L.append('            new StructLayoutInfo("%s", typeof(%s), %d, %d,' % (s["name"], s["name"], s["size"], ids.get(s["name"], 0)))
        L.append("                new string[] { %s }," % ", ".join('"%s"' % f["name"] for f in s["fields"]))
        L.append("                new int[] { %s })," % ", ".join(str(f["offset"]) for f in s["fields"]))
    L.append("        };")
    L.append("")
    L.append("        /// <summary>Differences between the C# layouts (Marshal.SizeOf/OffsetOf) and the manifest; empty when they agree.</summary>")
    L.append("        public static List<string> LayoutMismatches()")
    L.append("        {")
    L.append("            var bad = new List<string>();")
    L.append("            foreach (var l in Layouts)")
    L.append("            {")
    L.append("                int size = Marshal.SizeOf(l.Type);")
    L.append('                if (size != l.Size) bad.Add(l.Name + ": Marshal.SizeOf " + size + " != manifest " + l.Size);')
    L.append("                for (int i = 0; i < l.Fields.Length; i++)")
    L.append("                {")
    L.append("                    long off = Marshal.OffsetOf(l.Type, l.Fields[i]).ToInt64();")
    L.append('                    if (off != l.Offsets[i]) bad.Add(l.Name + "." + l.Fields[i] + ": offset " + off + " != manifest " + l.Offsets[i]);')
    L.append("                }")
    L.append("            }")
    L.append("            return bad;")
    L.append("        }")
    L.append("")
    L.append("        /// <summary>A NUL-terminated UTF-8 C string (static or library-owned) as a string; null for NULL.</summary>")
    L.append("        public static string PtrToStringUtf8(IntPtr p)")
    L.append("        {")
    L.append("            if (p == IntPtr.Zero) return null;")
    L.append("            int n = 0;")
    L.append("            while (Marshal.ReadByte(p, n) != 0) n++;")
    L.append("            var bytes = new byte[n];")
    L.append("            Marshal.Copy(p, bytes, 0, n);")
    L.append("            return System.Text.Encoding.UTF8.GetString(bytes);")
    L.append("        }")
    L.append("")
    L.append("        /// <summary>A fixed char array (NUL-terminated within its length) as a string.</summary>")
    L.append("        public static string FixedToString(byte* p, int length)")
    L.append("        {")
    L.append("            int n = 0;")
    L.append("            while (n < length && p[n] != 0) n++;")
    L.append("            return new string((sbyte*)p, 0, n, System.Text.Encoding.UTF8);")
    L.append("        }")
    L.append("    }")
    L.append("}")
    return "\n".join(L) + "\n"


def generate(m):
    return {OUT: generate_source(m)}
