#!/usr/bin/env python3
"""Generate abi/processkit.abi.json, the ABI manifest, from the real header.

Everything in the manifest comes from the compiler, never from hand-typed
tables:
  * declarations (functions, structs, opaque types, enums, callbacks) from
    clang's JSON AST of api/include/processkit.h (`-ast-dump=json`);
  * integer macros from clang's preprocessor (`-E -dD`);
  * sizes, alignments, offsets and the values of enum constants and macros
    from a probe program that includes the header, compiled with cc and run;
  * each function's version node from the linker version script
    abi/processkit.map (the generator fails when header and map disagree).

Usage (from the repository root):
  python3 tools/abi/gen_manifest.py            # (re)write abi/processkit.abi.json
  python3 tools/abi/gen_manifest.py --check    # exit 1 with a diff if it is stale

Environment: CLANG (default "clang") and CC (default "cc") name the compilers.
Python standard library only.
"""

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile

LIBRARY = "processkit"
REGENERATE = "python3 tools/abi/gen_manifest.py"
ABI_CLASSES = ("void", "int8", "uint8", "int16", "uint16", "int32", "uint32",
               "int64", "uint64", "float", "double", "pointer", "struct")
QUALIFIERS = ("const", "volatile", "restrict", "__restrict", "__restrict__")

# C builtin types the probe measures (spelling as clang prints it, C name in the probe).
SIGNED_BUILTINS = ("signed char", "short", "int", "long", "long long")
UNSIGNED_BUILTINS = ("unsigned char", "unsigned short", "unsigned int",
                     "unsigned long", "unsigned long long", "_Bool")
FLOAT_BUILTINS = ("float", "double")


class GenError(Exception):
    """The header (or map) has something the generator cannot describe."""


# --------------------------------------------------------------------------
# Linker version script


def parse_version_script(text):
    """Parse a GNU ld version script.

    Returns a list of nodes in file order:
      [{"name": "PROCESSKIT_1.0", "parent": None, "global": [...], "local": [...]}]
    Raises GenError for constructs the manifest cannot express (anonymous
    nodes, extern "C++" blocks, wildcards among the global symbols, a symbol
    in two nodes).
    """
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    tokens = re.findall(r'[{}:;]|"[^"]*"|[^\s{}:;]+', text)
    nodes = []
    i = 0

    def expect(tok):
        nonlocal i
        if i >= len(tokens) or tokens[i] != tok:
            got = tokens[i] if i < len(tokens) else "end of file"
            raise GenError("version script: expected %r, got %r" % (tok, got))
        i += 1

    while i < len(tokens):
        name = tokens[i]
        if name == "{":
            raise GenError("version script: anonymous version nodes are not supported")
        if name in "{}:;":
            raise GenError("version script: unexpected %r" % name)
        i += 1
        expect("{")
        node = {"name": name, "parent": None, "global": [], "local": []}
        section = "global"
        while i < len(tokens) and tokens[i] != "}":
            tok = tokens[i]
            if tok in ("global", "local") and i + 1 < len(tokens) and tokens[i + 1] == ":":
                section = tok
                i += 2
                continue
            if tok == "extern":
                raise GenError("version script: extern blocks are not supported (node %s)" % name)
            if tok in "{:;":
                raise GenError("version script: unexpected %r in node %s" % (tok, name))
            i += 1
            expect(";")
            node[section].append(tok)
        expect("}")
        if i < len(tokens) and tokens[i] != ";":
            node["parent"] = tokens[i]
            i += 1
        expect(";")
        nodes.append(node)

    seen = {}
    for node in nodes:
        for sym in node["global"]:
            if any(c in sym for c in "*?["):
                raise GenError("version script: wildcard %r among the global symbols of %s"
                               % (sym, node["name"]))
            if sym in seen:
                raise GenError("version script: %s is in both %s and %s"
                               % (sym, seen[sym], node["name"]))
            seen[sym] = node["name"]
    names = {n["name"] for n in nodes}
    for node in nodes:
        if node["parent"] is not None and node["parent"] not in names:
            raise GenError("version script: node %s inherits unknown node %s"
                           % (node["name"], node["parent"]))
    return nodes


def symbol_versions(nodes):
    """{symbol: node name} for every global symbol of the script."""
    return {sym: node["name"] for node in nodes for sym in node["global"]}


def since_of(node_name):
    """"PROCESSKIT_1.0" -> "1.0"."""
    m = re.search(r"_(\d+(?:\.\d+)*)$", node_name)
    if not m:
        raise GenError("version node %r does not end in _MAJOR.MINOR" % node_name)
    return m.group(1)


# --------------------------------------------------------------------------
# C type spellings and their FFI classification



def strip_qualifiers(spelling):
    """Drop cv-qualifiers at the outermost level: "const char *const" -> "const char *",
    "const pk_group_options" -> "pk_group_options"."""
    s = spelling.strip()
    while True:
        for q in QUALIFIERS:
            if s.endswith(" " + q) or s.endswith("*" + q):
                s = s[: -len(q)].rstrip()
                break
        else:
            break
    if s.endswith("*"):
        return s
    return " ".join(w for w in s.split() if w not in QUALIFIERS)


def pointee_of(spelling):
    """The pointee spelling of a pointer type, or None: "const char *const *" -> "const char *const"."""
    s = strip_qualifiers(spelling)
    if s.endswith("*") and "(" not in s:
        return s[:-1].rstrip()
    return None


def is_function_pointer(spelling):
    return re.search(r"\(\s*\*\s*\)\s*\(", spelling) is not None


class TypeContext:
    """What classification needs to know about the header and the platform.

    typedefs:  {name: underlying spelling} (from the AST, system headers included)
    structs:   {name: C spelling} of complete public structs
    opaque:    set of opaque typedef names (pk_group, ...)
    enums:     {C spelling or tag ("enum x") or typedef: (enum name, abi)}
    callbacks: set of function-pointer typedef names
    builtins:  {builtin spelling: abi class} for this platform (from the probe)
    """

    def __init__(self, typedefs=None, structs=None, opaque=None, enums=None,
                 callbacks=None, builtins=None):
        self.typedefs = dict(typedefs or {})
        self.structs = dict(structs or {})
        self.opaque = set(opaque or ())
        self.enums = dict(enums or {})
        self.callbacks = set(callbacks or ())
        self.builtins = dict(builtins or {})


def builtin_abis(sizes, char_signed):
    """Map C builtin spellings to ABI classes from measured sizes {spelling: bytes}."""
    out = {"void": "void"}
    for name in SIGNED_BUILTINS:
        out[name] = "int%d" % (8 * sizes[name])
    for name in UNSIGNED_BUILTINS:
        out[name] = "uint%d" % (8 * sizes[name])
    out["char"] = ("int%d" if char_signed else "uint%d") % (8 * sizes["char"])
    for name in FLOAT_BUILTINS:
        want = 4 if name == "float" else 8
        if sizes[name] != want:
            raise GenError("%s is %d bytes here; the manifest assumes IEEE %d"
                           % (name, sizes[name], want))
        out[name] = name
    # Other spellings clang may print for the same types.
    aliases = {"short int": "short", "long int": "long", "long long int": "long long",
               "unsigned short int": "unsigned short", "unsigned long int": "unsigned long",
               "unsigned long long int": "unsigned long long", "unsigned": "unsigned int",
               "signed": "int", "signed int": "int", "signed short": "short",
               "signed long": "long", "signed long long": "long long"}
    for alias, name in aliases.items():
        out[alias] = out[name]
    return out


def resolve_base(spelling, ctx, _depth=0):
    """Classify a non-pointer, non-array spelling: returns (kind, abi, name) where kind
    is builtin|struct|opaque|enum|callback."""
    if _depth > 32:
        raise GenError("typedef loop at %r" % spelling)
    base = strip_qualifiers(spelling)
    if base in ctx.callbacks:
        return ("callback", "pointer", base)
    if base in ctx.structs:
        return ("struct", "struct", ctx.structs[base])
    if base in ctx.opaque:
        return ("opaque", "struct", base)
    if base in ctx.enums:
        name, abi = ctx.enums[base]
        return ("enum", abi, name)
    if base.startswith("struct ") or base.startswith("union "):
        tag = base.split(None, 1)[1]
        if base.startswith("struct ") and tag in ctx.structs:
            return ("struct", "struct", ctx.structs[tag])
        if base.startswith("struct ") and tag in ctx.opaque:
            return ("opaque", "struct", tag)
        raise GenError("cannot classify %r: not a public struct of the header" % spelling)
    if base in ctx.builtins:
        return ("builtin", ctx.builtins[base], None)
    if base in ctx.typedefs:
        underlying = ctx.typedefs[base]
        if is_function_pointer(underlying) or pointee_of(underlying) is not None:
            raise GenError("cannot classify %r: a pointer typedef that is not a public callback"
                           % spelling)
        return resolve_base(underlying, ctx, _depth + 1)
    raise GenError("cannot classify C type %r" % spelling)


def classify(spelling, ctx):
    """The manifest's description of a C type spelling.

    Returns an ordered dict: c_type, abi, then as applicable array_length,
    struct / enum / callback (the public name), pointee, pointee_abi, pointee_type.
    """
    out = {"c_type": spelling, "abi": None}
    s = spelling.strip()
    m = re.match(r"^(.*?)\s*\[(\d+)\]$", s)
    if m:
        elem = classify(m.group(1), ctx)
        if elem["abi"] in ("pointer", "struct", "void"):
            raise GenError("cannot classify %r: arrays of %s" % (spelling, elem["abi"]))
        out["abi"] = elem["abi"]
        out["array_length"] = int(m.group(2))
        return out
    if is_function_pointer(s):
        out["abi"] = "pointer"
        return out
    pointee = pointee_of(s)
    if pointee is not None:
        out["abi"] = "pointer"
        out["pointee"] = pointee
        inner = classify(pointee, ctx)
        out["pointee_abi"] = inner["abi"]
        if inner["abi"] == "struct":
            out["pointee_type"] = inner["struct"]
        return out
    kind, abi, name = resolve_base(s, ctx)
    out["abi"] = abi
    if kind in ("struct", "opaque"):
        out["struct"] = name
    elif kind == "enum":
        out["enum"] = name
    elif kind == "callback":
        out["callback"] = name
    if abi not in ABI_CLASSES:
        raise GenError("internal: %r classified as %r" % (spelling, abi))
    return out


def split_top_level(text, sep=","):
    """Split at separators outside parentheses/brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    last = "".join(cur).strip()
    if last or parts:
        parts.append(last)
    return parts


def split_function_type(qual_type):
    """"int (int32_t, size_t *)" -> ("int", ["int32_t", "size_t *"]); "(void)" -> []."""
    s = qual_type.strip()
    if not s.endswith(")"):
        raise GenError("not a function type: %r" % qual_type)
    depth = 0
    for i in range(len(s) - 1, -1, -1):
        if s[i] == ")":
            depth += 1
        elif s[i] == "(":
            depth -= 1
            if depth == 0:
                break
    else:
        raise GenError("unbalanced function type: %r" % qual_type)
    ret = s[:i].strip()
    params = split_top_level(s[i + 1:-1])
    if params == ["void"]:
        params = []
    if "..." in params:
        raise GenError("variadic function type %r is not supported" % qual_type)
    return ret, params


def param_name_from_source(decl_text, type_spelling):
    """The parameter name in source text "const char *line" given its type spelling
    "const char *", or None when the text is not simply TYPE NAME."""
    m = re.match(r"^(.*?)([A-Za-z_]\w*)\s*$", decl_text.strip(), flags=re.S)
    if not m:
        return None
    norm = lambda t: re.sub(r"\s*\*\s*", "*", " ".join(t.split()))
    if norm(m.group(1)) == norm(type_spelling):
        return m.group(2)
    return None


# --------------------------------------------------------------------------
# clang AST


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, **kw).stdout
    except FileNotFoundError:
        raise GenError("cannot run %s: not found (set CLANG / CC or PATH)" % cmd[0])
    except subprocess.CalledProcessError as e:
        raise GenError("command failed (%d): %s\n%s" % (e.returncode, " ".join(cmd), e.stderr))


def toplevel_decls_in_file(ast, basename):
    """Top-level AST nodes whose location is in a file named `basename`.

    clang's JSON dump prints a location's "file" only when it differs from the
    previously printed location, so the current file is tracked through every
    location in document order.
    """
    state = {"file": None}

    def visit(node):
        if isinstance(node, dict):
            if "offset" in node and "file" in node and isinstance(node["file"], str):
                state["file"] = node["file"]
            for key, value in node.items():
                if key != "includedFrom":
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    out = []
    for decl in ast.get("inner", []):
        visit(decl.get("loc", {}))
        in_file = state["file"] is not None and os.path.basename(state["file"]) == basename
        for key, value in decl.items():
            if key != "loc":
                visit(value)
        if in_file and not decl.get("isImplicit"):
            out.append(decl)
    return out


def first_constant_value(node):
    """The value of the first ConstantExpr (or literal) under an enum constant."""
    if isinstance(node, dict):
        if node.get("kind") == "ConstantExpr" and "value" in node:
            return int(node["value"])
        for child in node.get("inner", []):
            v = first_constant_value(child)
            if v is not None:
                return v
    return None


def all_typedefs(ast):
    """{typedef name: underlying spelling} for every typedef in the translation unit."""
    out = {}
    for decl in ast.get("inner", []):
        if decl.get("kind") == "TypedefDecl" and "name" in decl:
            out[decl["name"]] = decl["type"]["qualType"]
    return out


def owned_decl_id(typedef_decl):
    """The id of the record/enum a typedef names (typedef struct x y; typedef enum x y;)."""
    for child in typedef_decl.get("inner", []):
        if child.get("kind") == "ElaboratedType":
            if "ownedTagDecl" in child:
                return child["ownedTagDecl"]["id"]
            for grand in child.get("inner", []):
                if "decl" in grand:
                    return grand["decl"]["id"]
        if child.get("kind") in ("RecordType", "EnumType") and "decl" in child:
            return child["decl"]["id"]
    return None


def function_proto(typedef_decl):
    """The FunctionProtoType under a function-pointer typedef, or None."""
    node = typedef_decl
    path = ["PointerType", "ParenType", "FunctionProtoType"]
    inner = node.get("inner", [])
    for kind in path:
        nxt = [c for c in inner if c.get("kind") == kind]
        if not nxt:
            return None
        node = nxt[0]
        inner = node.get("inner", [])
    return node


def doc_text(decl):
    """The text of a declaration's doc comment (/** */ or /**< */), one line,
    or None. Reference commands (::PK_ERR_X) keep their words."""
    def texts(node):
        out = []
        if node.get("kind") == "TextComment":
            out.append(node.get("text", "").strip())
        for child in node.get("inner", []):
            out += texts(child)
        return out
    for node in decl.get("inner", []):
        if node.get("kind") == "FullComment":
            text = " ".join(t for t in texts(node) if t)
            return re.sub(r"\s+", " ", text).strip() or None
    return None


def collect_header(ast, header_basename, header_text):
    """Pull the raw declarations out of the AST (no classification yet)."""
    decls = toplevel_decls_in_file(ast, header_basename)
    records, enums, typedefs, functions = {}, {}, [], []
    for d in decls:
        kind = d.get("kind")
        if kind == "RecordDecl":
            if d.get("tagUsed") != "struct":
                raise GenError("%s %s: only structs are supported" % (d.get("tagUsed"), d.get("name")))
            rec = records.setdefault(d["id"], {"tag": d.get("name"), "complete": False, "fields": []})
            if d.get("completeDefinition"):
                rec["complete"] = True
                for f in d.get("inner", []):
                    if f.get("kind") == "FieldDecl":
                        if f.get("isBitfield"):
                            raise GenError("bit-field %s.%s is not supported" % (d.get("name"), f["name"]))
                        if not f.get("name"):
                            raise GenError("anonymous member in struct %s is not supported" % d.get("name"))
                        rec["fields"].append({"name": f["name"], "c_type": f["type"]["qualType"]})
                    elif f.get("kind") in ("RecordDecl",):
                        raise GenError("nested struct in %s is not supported" % d.get("name"))
        elif kind == "EnumDecl":
            values, nxt = [], 0
            for c in d.get("inner", []):
                if c.get("kind") != "EnumConstantDecl":
                    continue
                v = first_constant_value(c)
                if v is None:
                    v = nxt
                entry = {"name": c["name"], "value": v}
                doc = doc_text(c)
                if doc:
                    entry["doc"] = doc
                values.append(entry)
                nxt = v + 1
            enums[d["id"]] = {"tag": d.get("name"), "values": values}
        elif kind == "TypedefDecl":
            typedefs.append(d)
        elif kind == "FunctionDecl":
            if d.get("storageClass") == "static" or d.get("inline"):
                raise GenError("function %s is static/inline: not part of the ABI" % d["name"])
            if d.get("variadic"):
                raise GenError("variadic function %s is not supported" % d["name"])
            ret, _ = split_function_type(d["type"]["qualType"])
            params = []
            for p in d.get("inner", []):
                if p.get("kind") == "ParmVarDecl":
                    params.append({"name": p.get("name", ""), "c_type": p["type"]["qualType"]})
            functions.append({"name": d["name"], "return": ret, "params": params})
        elif kind in ("VarDecl",):
            raise GenError("variable %s in the public header is not supported" % d.get("name"))

    # Resolve typedefs of records/enums, and callbacks.
    structs, opaque, enum_list, callbacks = {}, {}, [], []
    named_records = set()
    for t in typedefs:
        name = t["name"]
        owned = owned_decl_id(t)
        if owned in records:
            named_records.add(owned)
            rec = records[owned]
            # A later complete definition of the same tag anywhere in the header counts.
            complete = rec["complete"] or any(r["complete"] and r["tag"] == rec["tag"]
                                              for r in records.values())
            if complete:
                full = next(r for r in records.values() if r["tag"] == rec["tag"] and r["complete"]) \
                    if not rec["complete"] else rec
                structs[name] = {"name": name, "c_type": name, "fields": full["fields"]}
            else:
                opaque[name] = {"name": name, "c_type": name, "tag": "struct %s" % rec["tag"]}
        elif owned in enums:
            enums[owned]["typedef"] = name
        else:
            proto = function_proto(t)
            if proto is not None:
                types = [c["type"]["qualType"] for c in proto.get("inner", [])]
                ret, params = types[0], types[1:]
                names = []
                rng = t.get("range", {})
                text = None
                if "offset" in rng.get("begin", {}) and "offset" in rng.get("end", {}):
                    text = header_text[rng["begin"]["offset"]:
                                       rng["end"]["offset"] + rng["end"].get("tokLen", 0)]
                if text:
                    m = re.search(r"\)\s*\((.*)\)\s*$", text, flags=re.S)
                    pieces = split_top_level(m.group(1)) if m else []
                    if len(pieces) == len(params):
                        names = [param_name_from_source(p, ty) for p, ty in zip(pieces, params)]
                callbacks.append({"name": name, "return": ret, "params": [
                    {"name": names[i] if i < len(names) else None, "c_type": ty}
                    for i, ty in enumerate(params)]})
            # Other typedefs (plain aliases) are resolved through the typedef table.
    for rid, rec in records.items():
        if rec["complete"] and rid not in named_records and rec["tag"] and \
                not any(s["fields"] is rec["fields"] for s in structs.values()):
            structs["struct " + rec["tag"]] = {"name": rec["tag"], "c_type": "struct " + rec["tag"],
                                               "fields": rec["fields"]}
    for eid, e in enums.items():
        name = e.get("typedef") or e["tag"]
        if not name:
            raise GenError("anonymous enum (first constant %s): give it a tag"
                           % (e["values"][0]["name"] if e["values"] else "?"))
        c_type = e.get("typedef") or "enum %s" % e["tag"]
        enum_list.append({"name": name, "tag": e["tag"], "c_type": c_type, "values": e["values"]})
    return {"functions": functions, "structs": list(structs.values()),
            "opaque": list(opaque.values()), "enums": enum_list, "callbacks": callbacks}


# --------------------------------------------------------------------------
# Integer macros


def header_macros(preprocessed, header_basename):
    """Object-like macros defined in the header whose body looks like an integer
    constant expression, from `clang -E -dD` output: [(name, body)]."""
    current = None
    out = []
    for line in preprocessed.splitlines():
        m = re.match(r'^#\s+\d+\s+"([^"]*)"', line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^#define\s+([A-Za-z_]\w*)(\(?)(.*)$", line)
        if not m or current is None or os.path.basename(current) != header_basename:
            continue
        name, paren, body = m.group(1), m.group(2), m.group(3).strip()
        if paren or not body:
            continue
        if re.fullmatch(r"[\sA-Za-z0-9_()<>|&^~+\-*/%!?:]+", body) and not re.search(
                r"__attribute__|__declspec", body):
            out.append((name, body))
    return out


# --------------------------------------------------------------------------
# The probe program


def probe_source(header_name, structs, enums, macros):
    lines = [
        "#include <limits.h>",
        "#include <stddef.h>",
        "#include <stdio.h>",
        '#include "%s"' % header_name,
        "#define PK__TN(x) _Generic((x), int: \"int\", unsigned int: \"unsigned int\", "
        "long: \"long\", unsigned long: \"unsigned long\", long long: \"long long\", "
        "unsigned long long: \"unsigned long long\", default: \"?\")",
        "#define PK__PV(x) ((x) < 0 ? printf(\"%lld\", (long long)(x)) "
        ": printf(\"%llu\", (unsigned long long)(x)))",
        "int main(void) {",
    ]
    for name in SIGNED_BUILTINS + UNSIGNED_BUILTINS + FLOAT_BUILTINS + ("char",):
        lines.append('  printf("builtin|%s|%%zu\\n", sizeof(%s));' % (name, name))
    lines.append('  printf("builtin|pointer|%zu\\n", sizeof(void *));')
    lines.append('  printf("builtin|size_t|%zu\\n", sizeof(size_t));')
    lines.append('  printf("char_signed|%d\\n", CHAR_MIN < 0);')
    for s in structs:
        t = s["c_type"]
        lines.append('  printf("struct|%s|%%zu|%%zu\\n", sizeof(%s), _Alignof(%s));'
                     % (s["name"], t, t))
        for f in s["fields"]:
            m = "((%s *)0)->%s" % (t, f["name"])
            lines.append('  printf("field|%s|%s|%%zu|%%zu|%%zu\\n", offsetof(%s, %s), sizeof(%s), '
                         '_Alignof(__typeof__(%s)));' % (s["name"], f["name"], t, f["name"], m, m))
    for e in enums:
        t = e["c_type"]
        lines.append('  printf("enum|%s|%%zu|%%d\\n", sizeof(%s), (%s)-1 < 0);' % (e["name"], t, t))
        for v in e["values"]:
            lines.append('  printf("enumval|%s|"); PK__PV(%s); printf("\\n");' % (v["name"], v["name"]))
    for name, _ in macros:
        lines.append('  printf("macro|%s|%%s|", PK__TN(%s)); PK__PV(%s); printf("\\n");'
                     % (name, name, name))
    lines += ["  return 0;", "}", ""]
    return "\n".join(lines)


def run_probe(source, include_dir, cc):
    with tempfile.TemporaryDirectory(prefix="pk_abi_probe.") as tmp:
        src = os.path.join(tmp, "probe.c")
        exe = os.path.join(tmp, "probe")
        with open(src, "w") as f:
            f.write(source)
        run([cc, "-std=c11", "-I", include_dir, src, "-o", exe])
        out = run([exe])
    result = {"builtin": {}, "struct": {}, "field": {}, "enum": {}, "enumval": {}, "macro": {},
              "char_signed": None}
    for line in out.splitlines():
        parts = line.split("|")
        kind = parts[0]
        if kind == "builtin":
            result["builtin"][parts[1]] = int(parts[2])
        elif kind == "char_signed":
            result["char_signed"] = parts[1] == "1"
        elif kind == "struct":
            result["struct"][parts[1]] = (int(parts[2]), int(parts[3]))
        elif kind == "field":
            result["field"][(parts[1], parts[2])] = (int(parts[3]), int(parts[4]), int(parts[5]))
        elif kind == "enum":
            result["enum"][parts[1]] = (int(parts[2]), parts[3] == "1")
        elif kind == "enumval":
            result["enumval"][parts[1]] = int(parts[2])
        elif kind == "macro":
            result["macro"][parts[1]] = (parts[2], int(parts[3]))
    return result


def platform_triple(cc):
    return run([cc, "-dumpmachine"]).strip()


# --------------------------------------------------------------------------
# Assembly


def type_entry(spelling, ctx, name=None):
    t = classify(spelling, ctx)
    return t if name is None else dict([("name", name)] + list(t.items()))


def build_manifest(header, map_path, clang, cc):
    header_basename = os.path.basename(header)
    include_dir = os.path.dirname(header) or "."
    with open(header) as f:
        header_text = f.read()
    with open(map_path) as f:
        nodes = parse_version_script(f.read())
    versions = symbol_versions(nodes)

    ast = json.loads(run([clang, "-x", "c", "-std=c11", "-Xclang", "-ast-dump=json",
                          "-fsyntax-only", "-I", include_dir, header]))
    raw = collect_header(ast, header_basename, header_text)
    pre = run([clang, "-x", "c", "-std=c11", "-E", "-dD", "-I", include_dir, header])
    macros = header_macros(pre, header_basename)

    probe = run_probe(probe_source(header_basename, raw["structs"], raw["enums"], macros),
                      include_dir, cc)
    sizes = dict(probe["builtin"])
    builtins = builtin_abis(sizes, probe["char_signed"])

    enum_abi = {}
    for e in raw["enums"]:
        size, signed = probe["enum"][e["name"]]
        abi = ("int%d" if signed else "uint%d") % (8 * size)
        for key in {e["c_type"], e["name"], "enum %s" % e["tag"] if e["tag"] else None} - {None}:
            enum_abi[key] = (e["name"], abi)
        e["abi"] = abi
        e["size"] = size
        for v in e["values"]:
            probed = probe["enumval"][v["name"]]
            if probed != v["value"]:
                raise GenError("enum constant %s: AST says %d, compiler says %d"
                               % (v["name"], v["value"], probed))
    struct_names = {}
    for s in raw["structs"]:
        struct_names[s["c_type"]] = s["name"]
        struct_names[s["name"]] = s["name"]
    ctx = TypeContext(typedefs=all_typedefs(ast),
                      structs=struct_names,
                      opaque={o["name"] for o in raw["opaque"]},
                      enums=enum_abi,
                      callbacks={c["name"] for c in raw["callbacks"]},
                      builtins=builtins)

    header_funcs = {f["name"] for f in raw["functions"]}
    missing_in_map = sorted(header_funcs - set(versions))
    missing_in_header = sorted(set(versions) - header_funcs)
    if missing_in_map or missing_in_header:
        msg = []
        if missing_in_map:
            msg.append("in the header but not in %s: %s" % (map_path, ", ".join(missing_in_map)))
        if missing_in_header:
            msg.append("in %s but not in the header: %s" % (map_path, ", ".join(missing_in_header)))
        raise GenError("header and version script disagree:\n  " + "\n  ".join(msg))

    functions = []
    for f in sorted(raw["functions"], key=lambda f: f["name"]):
        node = versions[f["name"]]
        params = []
        for i, p in enumerate(f["params"]):
            if not p["name"]:
                raise GenError("function %s: parameter %d has no name" % (f["name"], i + 1))
            params.append(type_entry(p["c_type"], ctx, p["name"]))
        functions.append({"name": f["name"], "version_node": node, "since": since_of(node),
                          "return": type_entry(f["return"], ctx), "params": params})

    structs = []
    for s in sorted(raw["structs"], key=lambda s: s["name"]):
        size, align = probe["struct"][s["name"]]
        fields = []
        for fd in s["fields"]:
            off, fsize, falign = probe["field"][(s["name"], fd["name"])]
            entry = type_entry(fd["c_type"], ctx, fd["name"])
            entry["offset"] = off
            entry["size"] = fsize
            entry["align"] = falign
            fields.append(entry)
        structs.append({"name": s["name"], "c_type": s["c_type"], "size": size, "align": align,
                        "fields": fields})

    enums = [{"name": e["name"], "c_type": e["c_type"], "abi": e["abi"], "size": e["size"],
              "values": [dict({"name": v["name"], "value": v["value"]}, **({"doc": v["doc"]} if "doc" in v else {}))
                         for v in e["values"]]}
             for e in sorted(raw["enums"], key=lambda e: e["name"])]

    opaque = [{"name": o["name"], "c_type": o["c_type"], "tag": o["tag"]}
              for o in sorted(raw["opaque"], key=lambda o: o["name"])]

    callbacks = []
    for c in sorted(raw["callbacks"], key=lambda c: c["name"]):
        params = []
        for p in c["params"]:
            t = classify(p["c_type"], ctx)
            params.append(dict(([("name", p["name"])] if p["name"] else []) + list(t.items())))
        callbacks.append({"name": c["name"], "c_type": c["name"], "abi": "pointer",
                          "return": type_entry(c["return"], ctx), "params": params})

    constants = []
    for name, _ in sorted(macros):
        if name not in probe["macro"]:
            continue
        c_type, value = probe["macro"][name]
        if c_type == "?":
            continue
        t = classify(c_type, ctx)
        constants.append({"name": name, "c_type": c_type, "abi": t["abi"], "value": value})
    const_values = {c["name"]: c["value"] for c in constants}
    for part in ("PK_VERSION_MAJOR", "PK_VERSION_MINOR", "PK_VERSION_PATCH"):
        if part not in const_values:
            raise GenError("integer macro %s not found in the header" % part)
    major, minor, patch = (const_values["PK_VERSION_MAJOR"], const_values["PK_VERSION_MINOR"],
                           const_values["PK_VERSION_PATCH"])

    type_sizes = {"char": sizes["char"], "short": sizes["short"], "int": sizes["int"],
                  "long": sizes["long"], "long long": sizes["long long"],
                  "float": sizes["float"], "double": sizes["double"],
                  "pointer": sizes["pointer"], "size_t": sizes["size_t"]}

    return {
        "library": LIBRARY,
        "version": "%d.%d.%d" % (major, minor, patch),
        "soname": "lib%s.so.%d" % (LIBRARY, major),
        "generated_by": "tools/abi/gen_manifest.py from api/include/processkit.h and "
                        "abi/processkit.map; do not edit, regenerate with: " + REGENERATE,
        "platform": platform_triple(cc),
        "char_signed": probe["char_signed"],
        "type_sizes": type_sizes,
        "version_nodes": [{"name": n["name"], "since": since_of(n["name"]), "parent": n["parent"],
                           "functions": len(n["global"])} for n in nodes],
        "functions": functions,
        "structs": structs,
        "enums": enums,
        "opaque_types": opaque,
        "callbacks": callbacks,
        "constants": constants,
    }


def render(manifest):
    return json.dumps(manifest, indent=2, ensure_ascii=True) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default="api/include/processkit.h")
    ap.add_argument("--map", default="abi/processkit.map")
    ap.add_argument("--output", default="abi/processkit.abi.json",
                    help="the manifest to write (or compare with --check)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate to a temporary file and fail with a diff if --output differs")
    args = ap.parse_args(argv)
    clang = os.environ.get("CLANG") or "clang"
    cc = os.environ.get("CC") or "cc"
    try:
        text = render(build_manifest(args.header, args.map, clang, cc))
    except GenError as e:
        print("gen_manifest: error: %s" % e, file=sys.stderr)
        return 2
    if not args.check:
        tmp = args.output + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.output)
        print("wrote %s" % args.output)
        return 0
    with tempfile.TemporaryDirectory(prefix="pk_abi_check.") as tmpdir:
        fresh_path = os.path.join(tmpdir, "processkit.abi.json")
        with open(fresh_path, "w") as f:
            f.write(text)
        with open(fresh_path) as f:
            fresh = f.read()
    try:
        with open(args.output) as f:
            current = f.read()
    except FileNotFoundError:
        current = ""
    if current == fresh:
        print("%s is up to date" % args.output)
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        current.splitlines(True), fresh.splitlines(True),
        fromfile="%s (checked in)" % args.output, tofile="%s (from the header)" % args.output))
    print("\n%s is stale: the header or the version script changed without regenerating it.\n"
          "Regenerate it from the repository root with:\n    %s\nand commit the result."
          % (args.output, REGENERATE))
    return 1


if __name__ == "__main__":
    sys.exit(main())
