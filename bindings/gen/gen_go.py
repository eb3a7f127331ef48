"""Go generator: writes bindings/go/zz_generated.go (the cgo low-level layer)
and bindings/go/zz_generated_test.go (the layout check) from the manifest.

The low-level layer holds
- Go constants for every enum value, error code and manifest constant, each
  enum as its own named type with a String method (the readable name,
  "timed-out", so %v and fmt.Stringer print it) and a CName method (the C
  name, "PK_OUTCOME_TIMED_OUT");
- one sentinel *Error per error code (ErrInvalid, ErrNotFound, ...);
- an unexported Go struct mirroring each public C struct field by field
  (rawContainment, ...) and abiLayoutProblems(), which compares
  unsafe.Sizeof/Offsetof of both the Go mirror and the cgo type C.pk_xxx, and
  pk_struct_size() at run time, with the manifest's sizes and offsets;
- for every C function a C shim gopk_xxx in the cgo preamble, and a thin
  unexported Go wrapper pkXxx calling it. The shims of the functions that
  return a pk_error code copy pk_last_error() on failure inside the same C
  call (a goroutine may change OS threads between two cgo calls, and the
  message is thread-local), and their wrappers return an error (*Error).
  Public structs cross the shims as void *, so Go passes its manifest-laid
  mirror and never converts to a C struct type of another size.

Python stdlib only; output is deterministic (manifest order is sorted by the
shared helpers)."""
import manifest as mf

PACKAGE = "processkit"
OUT_DIR = "bindings/go"

GO_KEYWORDS = {
    "break", "case", "chan", "const", "continue", "default", "defer", "else",
    "fallthrough", "for", "func", "go", "goto", "if", "import", "interface",
    "map", "package", "range", "return", "select", "struct", "switch", "type", "var",
}

# Words kept upper-case in Go identifiers (Go's initialism convention).
INITIALISMS = {"OK", "ID", "FD", "CPU", "OS", "ABI", "PID"}

# Enum type names that would otherwise read badly or clash with the
# hand-written layer (type Error is the error type; the codes are Code).
ENUM_TYPE_OVERRIDES = {"pk_error": "Code", "pk_struct_id": "StructID"}

# Enums whose String method is hand-written (Mechanism uses the library's
# stable names, "cgroup-v2" ...); they still get a generated CName.
HAND_WRITTEN_STRING = {"pk_mechanism"}

SCALAR_GO = {"int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16",
             "int32": "int32", "uint32": "uint32", "int64": "int64", "uint64": "uint64",
             "float": "float32", "double": "float64"}

# cgo spellings of the C scalar types that appear behind pointers or in casts.
CGO_SCALAR = {"char": "C.char", "signed char": "C.schar", "unsigned char": "C.uchar",
              "short": "C.short", "unsigned short": "C.ushort", "int": "C.int", "unsigned int": "C.uint",
              "unsigned": "C.uint", "long": "C.long", "unsigned long": "C.ulong",
              "long long": "C.longlong", "unsigned long long": "C.ulonglong",
              "float": "C.float", "double": "C.double", "_Bool": "C._Bool", "bool": "C._Bool"}
for _bits in (8, 16, 32, 64):
    for _t in ("int%d_t" % _bits, "uint%d_t" % _bits):
        CGO_SCALAR[_t] = "C." + _t
for _t in ("size_t", "ssize_t", "intptr_t", "uintptr_t", "pid_t"):
    CGO_SCALAR[_t] = "C." + _t


# ---------------------------------------------------------------- names

def go_camel(snake):
    """cgroup_path -> CgroupPath, CPU_STATS -> CPUStats, ok -> OK."""
    out = []
    for part in snake.split("_"):
        if not part:
            continue
        if part.upper() in INITIALISMS:
            out.append(part.upper())
        else:
            out.append(part[0].upper() + part[1:].lower())
    return "".join(out)


def go_lower_camel(snake):
    """pk_group_create -> pkGroupCreate."""
    c = go_camel(snake)
    return c[0].lower() + c[1:] if c else c


def safe_ident(name):
    """A C parameter name as a Go identifier: timeout_ms -> timeoutMs, and a
    keyword gets a trailing underscore (type -> type_)."""
    parts = [w for w in name.split("_") if w]
    if len(parts) > 1:
        name = parts[0] + "".join(w[0].upper() + w[1:] for w in parts[1:])
    return name + "_" if name in GO_KEYWORDS else name


def cgo_field(name):
    """How cgo spells a C struct field in Go (keywords get a leading _)."""
    return "_" + name if name in GO_KEYWORDS else name


def enum_type_name(enum):
    return ENUM_TYPE_OVERRIDES.get(enum["name"], go_camel(mf.strip_prefix(enum["name"], "pk_")))


def member_suffix(enum_name, member):
    """The member's own words: the enum's name words it shares are dropped
    (PK_COMMAND_NEW_SESSION in pk_command_flag -> NEW_SESSION), and the
    error codes drop ERR_ (PK_ERR_NOT_FOUND -> NOT_FOUND)."""
    ewords = enum_name.upper().split("_")
    mwords = member.split("_")
    i = 0
    while i < len(ewords) and i < len(mwords) - 1 and ewords[i] == mwords[i]:
        i += 1
    rest = mwords[i:]
    if enum_name == "pk_error" and len(rest) > 1 and rest[0] == "ERR":
        rest = rest[1:]
    if rest[0][:1].isdigit():
        rest = mwords[max(i - 1, 0):]
    return "_".join(rest)


def readable_name(enum, member):
    """The name String prints: the member's own words in lower case joined
    by '-' (PK_OUTCOME_TIMED_OUT -> timed-out, PK_ERR_NOT_FOUND -> not-found)."""
    return member_suffix(enum["name"], member).lower().replace("_", "-")


def enum_member_name(enum, member):
    return enum_type_name(enum) + go_camel(member_suffix(enum["name"], member))


def enum_underlying(enum):
    """Typedef'd enums are passed as int32_t parameters and fields; the
    untagged bit-flag enums (c_type "enum pk_feature") fill uint32_t words."""
    return "uint32" if enum["c_type"].startswith("enum ") else "int32"


def constant_name(const):
    return go_camel(mf.strip_prefix(const["name"], "PK_"))


def struct_go_name(struct):
    return "raw" + go_camel(mf.strip_prefix(struct["name"], "pk_"))


def error_sentinel_name(enum, member):
    return "Err" + go_camel(member_suffix(enum["name"], member))


def wrapper_name(func):
    return go_lower_camel(func["name"])


def shim_name(func):
    return "gopk_" + mf.strip_prefix(func["name"], "pk_")


# ---------------------------------------------------------------- types

def strip_c_type(c_type):
    """'const pk_process *const *' -> ('pk_process', 2)."""
    t = c_type.replace("const", " ")
    depth = t.count("*")
    base = " ".join(t.replace("*", " ").split())
    return base, depth


def struct_names(m):
    return {s["name"] for s in m["structs"]}


def opaque_set(m):
    return {mf.opaque_name(t) for t in m["opaque_types"]}


def callback_names(m):
    return {c["name"] for c in m.get("callbacks", [])}


def enum_c_types(m):
    """Typedef'd enum names a parameter may be declared with (pk_backend)."""
    return {e["c_type"] for e in m["enums"] if not e["c_type"].startswith("enum ")}


def cgo_base(base, m):
    if base in opaque_set(m) or base in callback_names(m) or base in enum_c_types(m):
        return "C." + base
    if base in struct_names(m):
        return "C." + base
    if base.startswith("enum "):
        return "C.enum_" + base[len("enum "):]
    if base in CGO_SCALAR:
        return CGO_SCALAR[base]
    raise ValueError("no cgo spelling for C type %r" % base)


def go_param_type(p, m):
    """The Go type a generated wrapper takes for parameter p."""
    if p["abi"] != "pointer":
        if p["abi"] not in SCALAR_GO:
            raise ValueError("unsupported scalar ABI type %r" % p["abi"])
        return SCALAR_GO[p["abi"]]
    base, depth = strip_c_type(p["c_type"])
    if base in callback_names(m) and depth == 0:
        return "C." + base
    if base == "void" and depth == 1:
        return "unsafe.Pointer"
    if base in struct_names(m) and depth == 1:
        return "*" + struct_go_name({"name": base})
    return "*" * depth + cgo_base(base, m)


def go_to_c_arg(p, m):
    """The expression that passes Go parameter p to the C shim."""
    name = safe_ident(p["name"])
    if p["abi"] != "pointer":
        base, _ = strip_c_type(p["c_type"])
        return "%s(%s)" % (cgo_base(base, m), name)
    if is_struct_pointer(p, m):
        return "unsafe.Pointer(%s)" % name
    return name


def go_field_type(f):
    if "array_length" in f:
        elem = "byte" if f["abi"] == "int8" else SCALAR_GO[f["abi"]]
        return "[%d]%s" % (f["array_length"], elem)
    if f["abi"] == "pointer":
        return "unsafe.Pointer"
    if f["abi"] not in SCALAR_GO:
        raise ValueError("unsupported field ABI type %r" % f["abi"])
    return SCALAR_GO[f["abi"]]


def returns_error(func):
    return func["return"]["c_type"] == "int"


def c_param_decl(p):
    c_type = p["c_type"]
    if c_type.endswith("*"):
        return c_type + p["name"]
    return c_type + " " + p["name"]


# ---------------------------------------------------------------- rendering

def is_struct_pointer(p, m):
    base, depth = strip_c_type(p["c_type"])
    return p["abi"] == "pointer" and depth == 1 and base in struct_names(m)


def shim_param_decl(p, m):
    """Public structs cross the shim as void *: Go passes its manifest-laid
    mirror (whose size field tells the library how much of it there is), so
    a header with a newer, larger struct never makes Go's checkptr see a
    pointer straddling the mirror."""
    if is_struct_pointer(p, m):
        return ("const void *" if p["c_type"].startswith("const ") else "void *") + p["name"]
    return c_param_decl(p)


def shim_call_arg(p, m):
    if is_struct_pointer(p, m):
        return "(%s)%s" % (p["c_type"], p["name"])
    return p["name"]


def render_shim(func, m):
    params = [shim_param_decl(p, m) for p in func["params"]]
    args = ", ".join(shim_call_arg(p, m) for p in func["params"])
    if returns_error(func):
        params.append("char **pk__err")
        return ("static int %s(%s) {\n"
                "\tint rc = %s(%s);\n"
                "\tif (rc != 0 && pk__err) *pk__err = gopk_errdup();\n"
                "\treturn rc;\n"
                "}\n") % (shim_name(func), ", ".join(params), func["name"], args)
    ret = func["return"]["c_type"]
    decl = ", ".join(params) or "void"
    if ret == "void":
        return "static void %s(%s) {\n\t%s(%s);\n}\n" % (shim_name(func), decl, func["name"], args)
    sep = "" if ret.endswith("*") else " "
    return "static %s%s%s(%s) {\n\treturn %s(%s);\n}\n" % (ret, sep, shim_name(func), decl, func["name"], args)


def render_wrapper(func, m):
    gparams = ", ".join("%s %s" % (safe_ident(p["name"]), go_param_type(p, m)) for p in func["params"])
    cargs = [go_to_c_arg(p, m) for p in func["params"]]
    doc = "// %s wraps %s(%s).\n" % (
        wrapper_name(func), func["name"], ", ".join(c_param_decl(p) for p in func["params"]))
    if returns_error(func):
        cargs.append("&pkMsg")
        return (doc + "func %s(%s) error {\n"
                "\tvar pkMsg *C.char\n"
                "\tpkRC := C.%s(%s)\n"
                "\treturn errorFromC(int32(pkRC), pkMsg)\n"
                "}\n") % (wrapper_name(func), gparams, shim_name(func), ", ".join(cargs))
    ret = func["return"]
    call = "C.%s(%s)" % (shim_name(func), ", ".join(cargs))
    if ret["c_type"] in ("const char *", "char *"):
        return (doc + "func %s(%s) string {\n"
                "\ts := %s\n"
                "\tif s == nil {\n\t\treturn \"\"\n\t}\n"
                "\treturn C.GoString(s)\n"
                "}\n") % (wrapper_name(func), gparams, call)
    if ret["abi"] in SCALAR_GO:
        gt = SCALAR_GO[ret["abi"]]
        return (doc + "func %s(%s) %s {\n\treturn %s(%s)\n}\n") % (wrapper_name(func), gparams, gt, gt, call)
    if ret["abi"] == "void":
        return (doc + "func %s(%s) {\n\t%s\n}\n") % (wrapper_name(func), gparams, call)
    raise ValueError("unsupported return type %r of %s" % (ret["c_type"], func["name"]))


def render_enum(enum):
    tname = enum_type_name(enum)
    lines = ["// %s mirrors %s." % (tname, enum["c_type"]),
             "type %s %s" % (tname, enum_underlying(enum)), "", "const ("]
    lines.extend(align([[enum_member_name(enum, v["name"]), tname, "= %d" % v["value"], "// " + v["name"]]
                        for v in enum["values"]]))
    lines.append(")")
    lines.append("")
    methods = [("CName", "the C name of the value", lambda v: v["name"])]
    if enum["name"] not in HAND_WRITTEN_STRING:
        methods.append(("String", "the readable name of the value (fmt.Stringer)",
                        lambda v: readable_name(enum, v["name"])))
    for method, what, name_of in methods:
        lines.append("// %s returns %s." % (method, what))
        lines.append("func (v %s) %s() string {" % (tname, method))
        lines.append("\tswitch v {")
        seen = set()
        for v in enum["values"]:
            if v["value"] in seen:
                continue
            seen.add(v["value"])
            lines.append("\tcase %s:" % enum_member_name(enum, v["name"]))
            lines.append("\t\treturn %s" % go_string(name_of(v)))
        lines.append("\t}")
        lines.append("\treturn %s + strconv.FormatInt(int64(v), 10) + \")\"" % go_string(tname + "("))
        lines.append("}")
        lines.append("")
    return "\n".join(lines)


def align(rows, indent="\t"):
    """Lines whose cells line up the way gofmt's tabwriter aligns them: every
    cell but the last padded to its column's widest cell plus one space."""
    widths = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell))
    out = []
    for row in rows:
        cells = [cell.ljust(widths[i]) + " " for i, cell in enumerate(row[:-1])]
        out.append(indent + "".join(cells) + row[-1])
    return out


def go_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_struct(struct):
    name = struct_go_name(struct)
    lines = ["// %s mirrors %s (%d bytes)." % (name, struct["c_type"], struct["size"]),
             "type %s struct {" % name]
    lines.extend(align([[go_camel(f["name"]), go_field_type(f),
                         "// %s %s, offset %d" % (f["c_type"], f["name"], f["offset"])]
                        for f in struct["fields"]]))
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def struct_id_member(m, struct):
    """The PK_STRUCT_* value naming this struct, if pk_struct_id has one."""
    for e in m["enums"]:
        if e["name"] != "pk_struct_id":
            continue
        want = "PK_STRUCT_" + mf.strip_prefix(struct["name"], "pk_").upper()
        for v in e["values"]:
            if v["name"] == want:
                return enum_member_name(e, v["name"])
    return None


def render_layout_check(m):
    lines = [
        "// abiLayoutProblems compares every public struct's size and field offsets,",
        "// as cgo sees the header and as the Go mirror lays them out, and the",
        "// library's pk_struct_size(), with the manifest. It returns one line per",
        "// mismatch (none when the binding matches the library).",
        "func abiLayoutProblems() []string {",
        "\tvar problems []string",
        "\tcheck := func(what string, got, want uintptr) {",
        "\t\tif got != want {",
        "\t\t\tproblems = append(problems, what+\": got \"+strconv.FormatUint(uint64(got), 10)+\", manifest \"+strconv.FormatUint(uint64(want), 10))",
        "\t\t}",
        "\t}",
    ]
    for s in mf.structs(m):
        g = struct_go_name(s)
        c = "C." + s["name"]
        lines.append("\tcheck(%s, unsafe.Sizeof(%s{}), %d)" % (go_string("sizeof(%s)" % c), c, s["size"]))
        lines.append("\tcheck(%s, unsafe.Sizeof(%s{}), %d)" % (go_string("sizeof(%s)" % g), g, s["size"]))
        lines.append("\tcheck(%s, unsafe.Alignof(%s{}), %d)" % (go_string("alignof(%s)" % c), c, s["align"]))
        for f in s["fields"]:
            lines.append("\tcheck(%s, unsafe.Offsetof(%s{}.%s), %d)" % (
                go_string("offsetof(%s.%s)" % (c, f["name"])), c, cgo_field(f["name"]), f["offset"]))
            lines.append("\tcheck(%s, unsafe.Offsetof(%s{}.%s), %d)" % (
                go_string("offsetof(%s.%s)" % (g, go_camel(f["name"]))), g, go_camel(f["name"]), f["offset"]))
            lines.append("\tcheck(%s, unsafe.Sizeof(%s{}.%s), %d)" % (
                go_string("sizeof(%s.%s)" % (g, go_camel(f["name"]))), g, go_camel(f["name"]), f["size"]))
        sid = struct_id_member(m, s)
        if sid:
            lines.append("\t{")
            lines.append("\t\tvar n C.size_t")
            lines.append("\t\tif err := pkStructSize(int32(%s), &n); err != nil {" % sid)
            lines.append("\t\t\tproblems = append(problems, %s+err.Error())" % go_string("pk_struct_size(%s): " % sid))
            lines.append("\t\t} else {")
            lines.append("\t\t\tcheck(%s, uintptr(n), %d)" % (go_string("pk_struct_size(%s)" % sid), s["size"]))
            lines.append("\t\t}")
            lines.append("\t}")
    lines.append("\treturn problems")
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


def render_main(m):
    note = mf.HEADER_NOTE
    out = []
    out.append("// %s\n" % note)
    out.append("// Code generated by bindings/gen/gen_go.py. DO NOT EDIT.\n\n")
    out.append("package %s\n\n" % PACKAGE)
    out.append("/*\n#include <stdlib.h>\n#include <string.h>\n#include <processkit.h>\n\n")
    out.append("// The thread-local message, copied before the C call returns to Go.\n")
    out.append("static char *gopk_errdup(void) {\n\tconst char *m = pk_last_error();\n\treturn strdup(m ? m : \"\");\n}\n\n")
    for func in mf.functions(m):
        out.append(render_shim(func, m) + "\n")
    out.append("*/\nimport \"C\"\n\n")
    out.append("import (\n\t\"strconv\"\n\t\"unsafe\"\n)\n\n")

    out.append("// Library identity from the manifest.\n")
    out.append("const (\n")
    out.append("\tmanifestLibrary = %s\n" % go_string(m["library"]))
    out.append("\tmanifestVersion = %s\n" % go_string(m["version"]))
    out.append("\tmanifestSoname  = %s\n" % go_string(m["soname"]))
    out.append(")\n\n")

    consts = mf.constants(m)
    if consts:
        out.append("// Constants of the C header.\n")
        out.append("const (\n")
        for line in align([[constant_name(c), "= %d" % c["value"], "// " + c["name"]] for c in consts]):
            out.append(line + "\n")
        out.append(")\n\n")

    for e in mf.enums(m):
        out.append(render_enum(e) + "\n")

    for e in mf.enums(m):
        if e["name"] != "pk_error":
            continue
        out.append("// Sentinel errors, one per error code: errors.Is(err, ErrNotFound) holds for\n")
        out.append("// every *Error carrying that code, whatever its message.\n")
        out.append("var (\n")
        codes = [v for v in e["values"] if v["value"] != 0]
        for line in align([[error_sentinel_name(e, v["name"]), "= &Error{Code: %s}" % enum_member_name(e, v["name"]),
                            "// " + v["name"]] for v in codes]):
            out.append(line + "\n")
        out.append(")\n\n")
        out.append("// sentinelErrors maps each code to its sentinel.\n")
        out.append("var sentinelErrors = map[Code]*Error{\n")
        for line in align([[enum_member_name(e, v["name"]) + ":", error_sentinel_name(e, v["name"]) + ","]
                           for v in codes]):
            out.append(line + "\n")
        out.append("}\n\n")

    for s in mf.structs(m):
        out.append(render_struct(s) + "\n")

    out.append(render_layout_check(m) + "\n")

    for func in mf.functions(m):
        out.append(render_wrapper(func, m) + "\n")
    text = "".join(out)
    while text.endswith("\n\n"):
        text = text[:-1]
    return text


def render_test(m):
    return (
        "// %s\n"
        "// Code generated by bindings/gen/gen_go.py. DO NOT EDIT.\n\n"
        "package %s\n\n"
        "import \"testing\"\n\n"
        "// TestABILayout checks every public struct against the manifest: the size\n"
        "// and field offsets of C.pk_xxx (the header through cgo) and of the Go mirror,\n"
        "// and pk_struct_size() of the loaded library.\n"
        "func TestABILayout(t *testing.T) {\n"
        "\tfor _, p := range abiLayoutProblems() {\n"
        "\t\tt.Error(p)\n"
        "\t}\n"
        "}\n\n"
        "// TestFunctionCount checks that the binding wraps every manifest function.\n"
        "func TestFunctionCount(t *testing.T) {\n"
        "\tif got, want := len(generatedFunctions), %d; got != want {\n"
        "\t\tt.Fatalf(\"generated wrappers: %%d, manifest functions: %%d\", got, want)\n"
        "\t}\n"
        "}\n"
    ) % (mf.HEADER_NOTE, PACKAGE, len(m["functions"]))


def render_function_list(m):
    lines = ["// generatedFunctions lists the C functions wrapped above, by C name.",
             "var generatedFunctions = []string{"]
    for func in mf.functions(m):
        lines.append("\t%s," % go_string(func["name"]))
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(m):
    main = render_main(m) + "\n" + render_function_list(m)
    return {
        OUT_DIR + "/zz_generated.go": main,
        OUT_DIR + "/zz_generated_test.go": render_test(m),
    }
