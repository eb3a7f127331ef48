#!/usr/bin/env python3
"""Writes the amalgamation: the whole library as one C translation unit.

    python3 tools/amalgamate/amalgamate.py          # write every copy
    python3 tools/amalgamate/amalgamate.py --check  # exit 1 if any copy is stale

dist/amalgamation/ gets processkit.c (Linux and Windows sources, each under
its own #if), a copy of processkit.h and the linker version script. Each
binding that compiles the C code itself carries a copy of those (COPIES
below), so `cargo`, `go build`, `pip` and `zig build` need nothing else.

How the sources become one unit:
- every internal header is inlined once, in dependency order, into the part
  (shared, Linux or Windows) that needs it, and its #include lines dropped;
- the .c files follow, in a fixed order, the Linux and Windows ones under
  #if; the macros a .c file defines are #undef'd after it, since in the
  library they were private to that file;
- two .c files in the same part may not define the same file-scope name
  (a static function or variable, a type, an enum constant): the generator
  fails and names them, rather than emit a unit that does not compile.
"""
import argparse
import os
import re
import sys

# realpath: run from Bazel runfiles, this still finds the source tree.
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
PUBLIC_HEADER = "api/include/processkit.h"
VERSION_SCRIPT = "abi/processkit.map"
OUT_DIR = "dist/amalgamation"

# Where each binding keeps its copy, and a first line it needs (Go's build
# constraint lets `-tags processkit_system` use an installed library instead).
COPIES = {
    "bindings/rust/csrc": "",
    "bindings/python/csrc": "",
    "bindings/zig/csrc": "",
    "bindings/go": "//go:build !processkit_system\n\n",
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')
DEFINE_RE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)")


def rel(path):
    return os.path.relpath(path, ROOT).replace(os.sep, "/")


def listdir(d, suffix):
    full = os.path.join(ROOT, d)
    return sorted(f"{d}/{n}" for n in os.listdir(full) if n.endswith(suffix))


# The library's folders, bottom layer first, as the Bazel BUILD picks them
# (the fake backend is for unit tests only and is not shipped).
SHARED_DIRS = ("api/src/base", "api/src/backends", "api/src/core", "api/src/run", "api/src/layers")
LINUX_DIRS = ("api/src/linux", "api/src/backends/linux")
WINDOWS_DIRS = ("api/src/windows", "api/src/backends/windows")
HEADER_DIRS = SHARED_DIRS + LINUX_DIRS + WINDOWS_DIRS


def sources():
    """The library's .c files by part."""
    def files(dirs):
        return [f for d in dirs for f in listdir(d, ".c")]
    return {"shared": files(SHARED_DIRS), "linux": files(LINUX_DIRS), "windows": files(WINDOWS_DIRS)}


def header_index():
    """Internal header name -> repository path (names are unique)."""
    index = {}
    for d in HEADER_DIRS:
        for path in listdir(d, ".h"):
            name = os.path.basename(path)
            if name in index:
                sys.exit(f"amalgamate: two internal headers named {name}: {index[name]} and {path}")
            index[name] = path
    return index


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def internal_includes(text, index):
    return [m.group(1) for m in map(INCLUDE_RE.match, text.splitlines()) if m and m.group(1) in index]


def header_closure(files, index):
    """The internal headers the files need, dependencies first."""
    order, seen = [], set()

    def visit(name, stack):
        if name in seen:
            return
        if name in stack:
            sys.exit(f"amalgamate: include cycle through {' -> '.join(stack + [name])}")
        for dep in internal_includes(read(index[name]), index):
            visit(dep, stack + [name])
        seen.add(name)
        order.append(name)

    for f in files:
        for name in internal_includes(read(f), index):
            visit(name, [])
    return order


def strip_includes(text, index, what):
    out = []
    for line in text.splitlines():
        m = INCLUDE_RE.match(line)
        if m and m.group(1) in index:
            out.append(f"/* #include \"{m.group(1)}\": inlined above */")
        elif m and m.group(1) == "processkit.h":
            out.append("/* #include \"processkit.h\": included at the top */")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


# File-scope names a .c file defines, found with a light scan of its
# top-level lines (the library's style puts each at the start of a line).
NAME_PATTERNS = [
    re.compile(r"^static\s+(?:inline\s+)?[\w\s\*]*?\b([A-Za-z_]\w*)\s*\("),  # static function
    re.compile(r"^static\s+(?!inline)[\w\s\*]*?\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\])*\s*(?:=|;)"),  # static variable
    re.compile(r"^(?:typedef\s+)?(?:struct|union|enum)\s+([A-Za-z_]\w*)\s*\{"),  # tag
    re.compile(r"^\}\s*([A-Za-z_]\w*)\s*;"),  # typedef name after a body
    re.compile(r"^typedef\s+[^;{]*?\b([A-Za-z_]\w*)\s*;"),  # typedef of an existing type
]
ENUM_BODY_RE = re.compile(r"^(?:typedef\s+)?enum\b[^{;]*\{(.*?)\}", re.S | re.M)


def file_scope_names(text):
    names = set()
    for line in text.splitlines():
        for pat in NAME_PATTERNS:
            m = pat.match(line)
            if m:
                names.add(m.group(1))
    for body in ENUM_BODY_RE.findall(text):
        for item in body.split(","):
            item = re.sub(r"/\*.*?\*/", "", item, flags=re.S).strip()
            m = re.match(r"([A-Za-z_]\w*)", item)
            if m:
                names.add(m.group(1))
    return names


def check_collisions(part, files):
    owner = {}
    clashes = []
    for f in files:
        for name in sorted(file_scope_names(read(f))):
            if name in owner and owner[name] != f:
                clashes.append(f"{name}: {owner[name]} and {f}")
            owner.setdefault(name, f)
    return clashes


def defined_macros(text):
    """The macros a .c file defines for itself. A fallback for a system macro
    (`#ifndef X` then `#define X`) is not the file's own: undefining it
    after the file would take the system's definition from the files after."""
    names, guarded = [], set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = DEFINE_RE.match(line)
        if not m:
            continue
        prev = lines[i - 1].strip() if i else ""
        if re.match(r"#\s*ifndef\s+" + re.escape(m.group(1)) + r"\b", prev):
            guarded.add(m.group(1))
        elif m.group(1) not in names:
            names.append(m.group(1))
    return [n for n in names if n not in guarded]


def source_block(path, index):
    text = read(path)
    body = strip_includes(text, index, path)
    undefs = "".join(f"#undef {name}\n" for name in defined_macros(text))
    return f"/* ==== {path} ==== */\n{body}{undefs}\n"


def header_block(name, index):
    path = index[name]
    return f"/* ==== {path} ==== */\n{strip_includes(read(path), index, path)}\n"


GUARD = {"linux": "!defined(_WIN32)", "windows": "defined(_WIN32)"}

PREAMBLE = """\
/* processkit {version}: the whole library as one C translation unit.
 *
 * Generated by tools/amalgamate/amalgamate.py from the sources of the
 * processkit repository; do not edit. Compile it with the processkit.h
 * beside it:
 *
 *   cc -std=c11 -O2 app.c processkit.c -pthread
 *   cc -std=c11 -O2 -shared -fPIC -fvisibility=hidden -o libprocesskit.so.1 \\
 *      -Wl,-soname,libprocesskit.so.1 -Wl,--version-script=processkit.map processkit.c -pthread
 *
 * Linux (x86_64, aarch64, and any other architecture through glibc's clone)
 * and Windows are in here, each under its own #if. With mingw-w64 add
 * -lws2_32 (MSVC finds ws2_32.lib through the pragma below). */
#if !defined(_WIN32) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#if defined(_WIN32)
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00
#endif
#ifndef __USE_MINGW_ANSI_STDIO
#define __USE_MINGW_ANSI_STDIO 1 /* %zu as everywhere else */
#endif
#ifndef PK_BUILDING_LIBRARY
#define PK_BUILDING_LIBRARY /* export the pk_ functions from a DLL built of this file */
#endif
#ifndef _CRT_RAND_S
#define _CRT_RAND_S /* rand_s, before the first <stdlib.h> */
#endif
#include <winsock2.h> /* before any <windows.h> */
#if defined(_MSC_VER)
#pragma comment(lib, "ws2_32.lib")
#endif
#endif

#include "processkit.h"

"""


def version():
    text = read(PUBLIC_HEADER)
    parts = [re.search(rf"#define PK_VERSION_{p}\s+(\d+)", text) for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) for m in parts) if all(parts) else "(unknown version)"


def amalgamation():
    index = header_index()
    parts = sources()
    problems = []
    for part in ("linux", "windows"):
        problems += check_collisions(part, parts["shared"] + parts[part])
    if problems:
        sys.exit("amalgamate: file-scope names defined in more than one .c file (rename one of each):\n  "
                 + "\n  ".join(sorted(set(problems))))

    shared_headers = header_closure(parts["shared"], index)
    linux_headers = [h for h in header_closure(parts["linux"], index) if h not in shared_headers]
    windows_headers = [h for h in header_closure(parts["windows"], index) if h not in shared_headers]
    # A header both OS parts need, but no shared file, is shared too.
    both = [h for h in linux_headers if h in windows_headers]
    if both:
        shared_headers = header_closure(parts["shared"] + [index[h] for h in both], index)
        shared_headers += [h for h in both if h not in shared_headers]
        linux_headers = [h for h in linux_headers if h not in shared_headers]
        windows_headers = [h for h in windows_headers if h not in shared_headers]

    out = [PREAMBLE.format(version=version())]
    out += [header_block(h, index) for h in shared_headers]
    for part, headers in (("linux", linux_headers), ("windows", windows_headers)):
        out.append(f"#if {GUARD[part]}\n\n")
        out += [header_block(h, index) for h in headers]
        out.append(f"#endif /* {GUARD[part]} */\n\n")
    out += [source_block(f, index) for f in parts["shared"]]
    for part in ("linux", "windows"):
        out.append(f"#if {GUARD[part]}\n\n")
        out += [source_block(f, index) for f in parts[part]]
        out.append(f"#endif /* {GUARD[part]} */\n")
    return "".join(out)


def outputs():
    """Repository path -> content, for every file this tool owns."""
    unit = amalgamation()
    header = read(PUBLIC_HEADER)
    vscript = read(VERSION_SCRIPT)
    files = {
        f"{OUT_DIR}/processkit.c": unit,
        f"{OUT_DIR}/processkit.h": header,
        f"{OUT_DIR}/processkit.map": vscript,
    }
    for d, first_line in COPIES.items():
        files[f"{d}/processkit.c"] = first_line + unit
        files[f"{d}/processkit.h"] = header
        if d != "bindings/go":  # cgo links the package into the program: no shared library there
            files[f"{d}/processkit.map"] = vscript
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a generated file differs from the sources")
    args = ap.parse_args()
    stale = []
    for path, content in outputs().items():
        full = os.path.join(ROOT, path)
        try:
            with open(full, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == content:
            continue
        if args.check:
            stale.append(path)
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(content)
        print(f"wrote {path}")
    if stale:
        print("amalgamate: stale (run python3 tools/amalgamate/amalgamate.py):\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
