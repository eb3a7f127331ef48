#!/usr/bin/env python3
"""Writes every language's low-level binding layer from the ABI manifest.

Each module gen_<language>.py in this directory exposes
    generate(manifest) -> {repo-relative path: file content}
and this driver writes (or, with --check, compares) all of them.

usage: python3 bindings/gen/generate.py [--check] [--manifest PATH]
"""
import argparse
import difflib
import importlib
import os
import pkgutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import manifest as mf  # noqa: E402


def all_outputs(m):
    outputs = {}
    here = os.path.dirname(os.path.abspath(__file__))
    for info in sorted(pkgutil.iter_modules([here]), key=lambda i: i.name):
        if not info.name.startswith("gen_"):
            continue
        module = importlib.import_module(info.name)
        for path, content in module.generate(m).items():
            if path in outputs:
                raise SystemExit(f"{info.name} and another generator both write {path}")
            outputs[path] = content
    return outputs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if a checked-in file differs")
    ap.add_argument("--manifest", default=mf.MANIFEST)
    ap.add_argument("--root", default=mf.REPO, help="repository root the paths are relative to")
    args = ap.parse_args(argv)
    outputs = all_outputs(mf.load(args.manifest))
    stale = 0
    for rel, content in sorted(outputs.items()):
        path = os.path.join(args.root, rel)
        if args.check:
            try:
                with open(path) as f:
                    current = f.read()
            except FileNotFoundError:
                current = ""
            if current != content:
                stale += 1
                sys.stdout.writelines(difflib.unified_diff(
                    current.splitlines(True), content.splitlines(True), rel + " (checked in)", rel + " (generated)"))
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(content)
            print("wrote", rel)
    if args.check:
        if stale:
            print(f"{stale} generated binding file(s) are stale; run: python3 bindings/gen/generate.py")
            return 1
        print(f"{len(outputs)} generated binding files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
