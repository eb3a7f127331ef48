"""Python (ctypes) generator: writes bindings/python/processkit_c/_native.py,
the low-level layer of the Python binding, from the ABI manifest.

The generated module holds:
- one ctypes.Structure per public struct, its _fields_ in manifest order, and
  an import-time check that ctypes lays it out exactly as the manifest says
  (sizeof, and every field's offset);
- an opaque ctypes.Structure per handle type (used only through POINTER);
- a CFUNCTYPE per callback type;
- an IntEnum per enum (an IntFlag for bit sets), plus every enum value and
  constant under its C name;
- the loader (env PROCESSKIT_LIBRARY, else the dynamic linker's search for
  the SONAME) and argtypes/restype for every exported function.

Pure functions (parse_c_type, scalar_ctype, ctype_expr, ...) are unit tested
in test_gen_python.py. Python stdlib only.
"""
import keyword
import re

import manifest as mf

OUTPUT = "bindings/python/processkit_c/_native.py"

# C scalar type -> (ctypes name, ABI class the manifest must give it).
SCALARS = {
    "char": ("ctypes.c_char", "int8"),
    "signed char": ("ctypes.c_byte", "int8"),
    "unsigned char": ("ctypes.c_ubyte", "uint8"),
    "_Bool": ("ctypes.c_bool", "uint8"),
    "bool": ("ctypes.c_bool", "uint8"),
    "short": ("ctypes.c_short", "int16"),
    "unsigned short": ("ctypes.c_ushort", "uint16"),
    "int": ("ctypes.c_int", "int32"),
    "unsigned int": ("ctypes.c_uint", "uint32"),
    "unsigned": ("ctypes.c_uint", "uint32"),
    "long": ("ctypes.c_long", "int64"),
    "unsigned long": ("ctypes.c_ulong", "uint64"),
    "long long": ("ctypes.c_longlong", "int64"),
    "unsigned long long": ("ctypes.c_ulonglong", "uint64"),
    "int8_t": ("ctypes.c_int8", "int8"),
    "uint8_t": ("ctypes.c_uint8", "uint8"),
    "int16_t": ("ctypes.c_int16", "int16"),
    "uint16_t": ("ctypes.c_uint16", "uint16"),
    "int32_t": ("ctypes.c_int32", "int32"),
    "uint32_t": ("ctypes.c_uint32", "uint32"),
    "int64_t": ("ctypes.c_int64", "int64"),
    "uint64_t": ("ctypes.c_uint64", "uint64"),
    "size_t": ("ctypes.c_size_t", "uint64"),
    "ssize_t": ("ctypes.c_ssize_t", "int64"),
    "intptr_t": ("ctypes.c_ssize_t", "int64"),
    "uintptr_t": ("ctypes.c_size_t", "uint64"),
    "float": ("ctypes.c_float", "float"),
    "double": ("ctypes.c_double", "double"),
}

# The ctypes type for an enum's underlying ABI class.
ABI_CTYPES = {
    "int8": "ctypes.c_int8",
    "uint8": "ctypes.c_uint8",
    "int16": "ctypes.c_int16",
    "uint16": "ctypes.c_uint16",
    "int32": "ctypes.c_int32",
    "uint32": "ctypes.c_uint32",
    "int64": "ctypes.c_int64",
    "uint64": "ctypes.c_uint64",
}

_QUALIFIERS = ("const", "volatile", "restrict")


class GenError(Exception):
    """The manifest holds something this generator cannot express."""


def parse_c_type(c_type):
    """'const char *const *' -> ('char', 2, None); 'char[256]' -> ('char', 0, 256);
    'struct pk_group *' -> ('pk_group', 1, None)."""
    text = c_type.strip()
    array = None
    match = re.fullmatch(r"(.*?)\s*\[\s*(\d+)\s*\]", text)
    if match:
        text, array = match.group(1), int(match.group(2))
    depth = text.count("*")
    words = [w for w in text.replace("*", " ").split() if w not in _QUALIFIERS]
    if words and words[0] in ("struct", "enum", "union"):
        words = words[1:]
    if not words:
        raise GenError(f"cannot parse C type {c_type!r}")
    return " ".join(words), depth, array


def scalar_ctype(base, abi=None):
    """The ctypes name of a C scalar; with abi, checks that the manifest agrees."""
    if base not in SCALARS:
        raise GenError(f"unknown C scalar type {base!r}")
    name, expected = SCALARS[base]
    if abi is not None and abi != expected:
        raise GenError(f"{base} is {expected} here but the manifest says {abi}")
    return name


def python_identifier(name):
    """A valid Python identifier for a manifest name (keywords and leading digits escaped)."""
    ident = re.sub(r"\W", "_", name)
    if not ident or ident[0].isdigit():
        ident = "_" + ident
    if keyword.iskeyword(ident):
        ident += "_"
    return ident


class Types:
    """The named types a manifest declares, for resolving C type names."""

    def __init__(self, m):
        self.structs = {s["name"] for s in m.get("structs", [])}
        self.opaques = {mf.opaque_name(t) for t in m.get("opaque_types", [])}
        self.callbacks = {c["name"] for c in m.get("callbacks", [])}
        self.enums = {e["name"]: e for e in m.get("enums", [])}

    def base_expr(self, base):
        if base in self.structs or base in self.opaques or base in self.callbacks:
            return python_identifier(base)
        if base in self.enums:
            abi = self.enums[base].get("abi", "int32")
            if abi not in ABI_CTYPES:
                raise GenError(f"enum {base} has ABI class {abi}")
            return ABI_CTYPES[abi]
        return scalar_ctype(base)


def _pointer(expr, depth):
    for _ in range(depth):
        expr = f"ctypes.POINTER({expr})"
    return expr


def ctype_expr(c_type, types, abi=None, in_callback=False):
    """The ctypes expression (as source text) for a C type of a parameter,
    return value or field.

    char * is c_char_p (bytes in, bytes out), except in a callback's
    parameters, where it is POINTER(c_char) so that a length-delimited buffer
    holding NUL bytes is not cut short. void * is c_void_p. A callback typedef
    is already a pointer. Handles are POINTER(opaque struct)."""
    base, depth, array = parse_c_type(c_type)
    if array is not None:
        if depth:
            raise GenError(f"arrays of pointers are not supported: {c_type!r}")
        return f"({ctype_expr(base, types, abi)} * {array})"
    if depth == 0:
        if base == "void":
            return "None"
        if base in types.structs or base in types.opaques or base in types.callbacks or base in types.enums:
            return types.base_expr(base)
        return scalar_ctype(base, abi)
    if abi is not None and abi != "pointer":
        raise GenError(f"{c_type!r} is a pointer but the manifest says {abi}")
    if base == "void":
        return _pointer("ctypes.c_void_p", depth - 1)
    if base == "char":
        if in_callback and depth == 1:
            return "ctypes.POINTER(ctypes.c_char)"
        return _pointer("ctypes.c_char_p", depth - 1)
    return _pointer(types.base_expr(base), depth)


def is_flag_enum(enum):
    """True when every value is a distinct single bit (a bit set, not a choice)."""
    values = [v["value"] for v in enum["values"]]
    return bool(values) and all(v > 0 and v & (v - 1) == 0 for v in values) and len(set(values)) == len(values)


def enum_class_name(enum_name):
    """pk_exit_kind -> ExitKind."""
    return python_identifier(mf.camel(enum_name))


def _common_prefix(names):
    """The longest prefix ending in '_' that every name has, leaving each non-empty."""
    if not names:
        return ""
    prefix = names[0]
    for n in names[1:]:
        while not n.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix[: prefix.rfind("_") + 1]
    while prefix and any(len(n) <= len(prefix) for n in names):
        prefix = prefix[: prefix[:-1].rfind("_") + 1]
    return prefix


def enum_member_names(enum):
    """{C name: Python member name} for an enum's values.

    The prefix dropped is the longest one derived from the enum's name that
    every value carries (pk_exit_kind: PK_EXIT_KIND_, then PK_EXIT_), so
    PK_EXIT_CODE is ExitKind.CODE and PK_COMMAND_NEW_SESSION is
    CommandFlag.NEW_SESSION. Failing that, the prefix shared by every value
    but a zero sentinel (pk_error: PK_ERR_ for all but PK_OK), so that
    PK_ERR_INVALID is Error.INVALID; a value without it drops only PK_."""
    names = [v["name"] for v in enum["values"]]
    words = enum["name"].upper().split("_")
    prefix = ""
    for n in range(len(words), 1, -1):
        candidate = "_".join(words[:n]) + "_"
        if candidate != "PK_" and all(x.startswith(candidate) and len(x) > len(candidate) for x in names):
            prefix = candidate
            break
    if not prefix:
        nonzero = [v["name"] for v in enum["values"] if v["value"] != 0]
        if len(nonzero) >= 2 and len(nonzero) >= len(names) - 1:
            prefix = _common_prefix(nonzero)
        if prefix in ("", "PK_"):
            prefix = ""
    out = {}
    for name in names:
        if prefix and name.startswith(prefix):
            short = name[len(prefix):]
        else:
            short = mf.strip_prefix(name, "PK_")
        out[name] = python_identifier(short)
    if len(set(out.values())) != len(out):
        raise GenError(f"enum {enum['name']}: member names collide: {sorted(out.values())}")
    return out


def enum_member_name(enum, member):
    """The Python name of one value (see enum_member_names)."""
    return enum_member_names(enum)[member]


def struct_order(structs):
    """Structs sorted by name, each after the structs it holds by value."""
    by_name = {s["name"]: s for s in structs}
    done, order = set(), []

    def visit(s, stack):
        if s["name"] in done:
            return
        if s["name"] in stack:
            raise GenError(f"struct {s['name']} contains itself")
        for f in s["fields"]:
            base, depth, _ = parse_c_type(f["c_type"])
            if depth == 0 and base in by_name:
                visit(by_name[base], stack | {s["name"]})
        done.add(s["name"])
        order.append(s)

    for s in sorted(structs, key=lambda s: s["name"]):
        visit(s, frozenset())
    return order


def struct_id_map(m):
    """{struct name: pk_struct_id member name}: PK_STRUCT_RUN_INFO names pk_run_info."""
    structs = {s["name"] for s in m.get("structs", [])}
    out = {}
    for e in m.get("enums", []):
        if e["name"] != "pk_struct_id":
            continue
        for c_name, member in enum_member_names(e).items():
            target = "pk_" + member.lower()
            if target in structs:
                out[target] = member
    return dict(sorted(out.items()))


def function_signature(f):
    """The C prototype as one line, for a comment."""
    params = ", ".join(f"{p['c_type']} {p['name']}" for p in f["params"]) or "void"
    return f"{f['return']['c_type']} {f['name']}({params})"


def _emit_structs(m, types, out):
    for s in struct_order(m.get("structs", [])):
        name = python_identifier(s["name"])
        out.append("")
        out.append("")
        out.append(f"class {name}(_VersionedStruct):")
        out.append(f'    """struct {s["name"]}: {s["size"]} bytes, aligned to {s["align"]}."""')
        out.append("")
        out.append("    _fields_ = [")
        for f in s["fields"]:
            expr = ctype_expr(f["c_type"], types, f.get("abi"))
            out.append(f"        ({f['name']!r}, {expr}),  # {f['c_type']} at {f['offset']}")
        out.append("    ]")
    out.append("")
    out.append("")
    out.append("# Layouts the manifest promises: {struct: (size, ((field, offset), ...))}.")
    out.append("STRUCT_LAYOUTS = {")
    for s in struct_order(m.get("structs", [])):
        fields = "".join(f"({f['name']!r}, {f['offset']}), " for f in s["fields"])
        out.append(f"    {python_identifier(s['name'])}: ({s['size']}, ({fields.rstrip()})),")
    out.append("}")
    out.append("")
    out.append("")
    out.append("def _check_layouts():")
    out.append("    for cls, (size, fields) in STRUCT_LAYOUTS.items():")
    out.append("        if ctypes.sizeof(cls) != size:")
    out.append('            raise ImportError(f"{cls.__name__}: ctypes size {ctypes.sizeof(cls)} != manifest size {size}")')
    out.append("        for field, offset in fields:")
    out.append("            if getattr(cls, field).offset != offset:")
    out.append("                raise ImportError(")
    out.append('                    f"{cls.__name__}.{field}: ctypes offset {getattr(cls, field).offset} != manifest offset {offset}")')
    out.append("")
    out.append("")
    out.append("_check_layouts()")


def _emit_enums(m, out):
    c_names = []
    for e in mf.enums(m):
        cls = enum_class_name(e["name"])
        base = "enum.IntFlag" if is_flag_enum(e) else "enum.IntEnum"
        out.append("")
        out.append("")
        out.append(f"class {cls}({base}):")
        out.append(f'    """{e["c_type"]}"""')
        out.append("")
        members = enum_member_names(e)
        for v in e["values"]:
            out.append(f"    {members[v['name']]} = {v['value']}")
            c_names.append((v["name"], cls, members[v["name"]]))
    out.append("")
    out.append("")
    out.append("# Every enum value under its C name.")
    for c_name, cls, member in c_names:
        out.append(f"{python_identifier(c_name)} = {cls}.{member}")
    return {c for c, _, _ in c_names}


def _emit_constants(m, taken, out):
    out.append("")
    out.append("# Constants (#define).")
    for c in mf.constants(m):
        if c["name"] in taken:
            raise GenError(f"constant {c['name']} clashes with an enum value")
        out.append(f"{python_identifier(c['name'])} = {c['value']!r}")


def _emit_functions(m, types, out):
    out.append("")
    out.append("")
    out.append("lib = _load()")
    out.append("")
    out.append("")
    out.append("def _bind(name, node, argtypes, restype):")
    out.append("    try:")
    out.append("        fn = getattr(lib, name)")
    out.append("    except AttributeError:")
    out.append("        raise ImportError(f\"processkit: the library lacks {name} ({node}); it is older than this binding\") from None")
    out.append("    fn.argtypes = argtypes")
    out.append("    fn.restype = restype")
    out.append("    return fn")
    out.append("")
    out.append("")
    for f in mf.functions(m):
        name = python_identifier(f["name"])
        restype = ctype_expr(f["return"]["c_type"], types, f["return"].get("abi"))
        args = [ctype_expr(p["c_type"], types, p.get("abi")) for p in f["params"]]
        out.append(f"# {function_signature(f)}")
        out.append(f"{name} = _bind({f['name']!r}, {f.get('version_node', '')!r}, [{', '.join(args)}], {restype})")
    out.append("")
    out.append("# {function: version node}: every exported function, each bound above.")
    out.append("FUNCTIONS = {")
    for f in mf.functions(m):
        out.append(f"    {f['name']!r}: {f.get('version_node', '')!r},")
    out.append("}")


def render(m):
    types = Types(m)
    version = m.get("version", "0.0.0")
    major, minor = (int(x) for x in version.split(".")[:2])
    soname = m.get("soname", f"lib{m.get('library', 'processkit')}.so.{major}")
    out = [
        f"# {mf.HEADER_NOTE}",
        f"# Generator: bindings/gen/gen_python.py. Library {m.get('library', '')} {version}, {soname}, {m.get('platform', '')}.",
        '"""Low-level ctypes binding of processkit: structs, enums, constants and',
        "every exported function with its argtypes/restype. The idiomatic layer is",
        'processkit_c (Group, run, AsyncLoop); use this module for what it does not wrap."""',
        "import ctypes",
        "import enum",
        "import os",
        "",
        f"SONAME = {soname!r}",
        f"MANIFEST_VERSION = {version!r}",
        f"ABI_MAJOR = {major}",
        f"ABI_MINOR = {minor}",
        "",
        "",
        "def _load():",
        '    """Load the library processkit_c._loader chooses (the package\'s own copy,',
        '    then $PROCESSKIT_LIBRARY, then the system\'s) and check its version."""',
        "    try:",
        "        from ._loader import open_library",
        "    except (ImportError, KeyError):  # rendered outside its package (the generator's tests)",
        "        def open_library(soname):",
        '            path = os.environ.get("PROCESSKIT_LIBRARY") or soname',
        "            return ctypes.CDLL(path), path",
        "    lib, path = open_library(SONAME)",
        "    lib.pk_version.argtypes = []",
        "    lib.pk_version.restype = ctypes.c_uint32",
        "    found = lib.pk_version()",
        "    if found >> 16 != ABI_MAJOR or (found >> 8) & 0xFF < ABI_MINOR:",
        "        raise ImportError(",
        '            f"processkit: {path!r} is version {found >> 16}.{(found >> 8) & 0xFF}.{found & 0xFF}; "',
        '            f"this binding needs {ABI_MAJOR}.{ABI_MINOR} or a later {ABI_MAJOR}.x")',
        "    return lib",
        "",
        "",
        "class _VersionedStruct(ctypes.Structure):",
        '    """A struct whose leading uint32_t size is set to its ctypes size on creation."""',
        "",
        "    def __init__(self, *args, **kwargs):",
        "        super().__init__(*args, **kwargs)",
        '        if not args and "size" not in kwargs:',
        "            self.size = ctypes.sizeof(self)",
    ]
    for t in mf.opaque_types(m):
        name = mf.opaque_name(t)
        out.append("")
        out.append("")
        out.append(f"class {python_identifier(name)}(ctypes.Structure):")
        out.append(f'    """Opaque handle target ({name}); used only as POINTER({python_identifier(name)})."""')
    _emit_structs(m, types, out)
    if types.callbacks:
        out.append("")
        out.append("")
        out.append("# Callback types.")
        for c in mf.callbacks(m):
            ret = ctype_expr(c["return"]["c_type"], types, c["return"].get("abi"), in_callback=True)
            params = [ctype_expr(p["c_type"], types, p.get("abi"), in_callback=True) for p in c["params"]]
            sig = ", ".join(f"{p['c_type']} {p['name']}" for p in c["params"])
            out.append(f"# {c['return']['c_type']} (*{c['name']})({sig})")
            out.append(f"{python_identifier(c['name'])} = ctypes.CFUNCTYPE({', '.join([ret] + params)})")
    taken = _emit_enums(m, out)
    _emit_constants(m, taken, out)
    ids = struct_id_map(m)
    if ids:
        out.append("")
        out.append("# Each struct's pk_struct_id, for pk_struct_size().")
        out.append("STRUCT_IDS = {")
        for struct, member in ids.items():
            out.append(f"    {python_identifier(struct)}: {enum_class_name('pk_struct_id')}.{member},")
        out.append("}")
    _emit_functions(m, types, out)
    return "\n".join(out) + "\n"


def generate(m):
    return {OUTPUT: render(m)}
