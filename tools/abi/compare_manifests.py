#!/usr/bin/env python3
"""Holds the current ABI manifest to the compatibility policy of docs/abi.md
against a released baseline manifest:

- every baseline function still exists, under the same version node, with
  the same return and parameter types (names may change);
- every baseline struct keeps each field at the same offset, size and type,
  and may only grow by fields appended after the old end;
- every baseline enum constant keeps its value; constants keep theirs.

usage: compare_manifests.py BASELINE.json CURRENT.json
Prints one line per break and "N passed, M failed" (one check) last.
"""
import json
import sys


def type_key(t):
    return (t.get("c_type"), t.get("abi"), t.get("pointee"), t.get("array_length"))


def compare(base, cur):
    breaks = []
    cur_funcs = {f["name"]: f for f in cur["functions"]}
    for f in base["functions"]:
        c = cur_funcs.get(f["name"])
        if c is None:
            breaks.append(f"function {f['name']} was removed")
            continue
        if c["version_node"] != f["version_node"]:
            breaks.append(f"function {f['name']} moved from {f['version_node']} to {c['version_node']}")
        if type_key(c["return"]) != type_key(f["return"]):
            breaks.append(f"function {f['name']} returns {c['return']['c_type']}, was {f['return']['c_type']}")
        old = [type_key(p) for p in f["params"]]
        new = [type_key(p) for p in c["params"]]
        if old != new:
            breaks.append(f"function {f['name']} parameters changed: "
                          f"({', '.join(p['c_type'] for p in f['params'])}) -> "
                          f"({', '.join(p['c_type'] for p in c['params'])})")
    cur_structs = {s["name"]: s for s in cur["structs"]}
    for s in base["structs"]:
        c = cur_structs.get(s["name"])
        if c is None:
            breaks.append(f"struct {s['name']} was removed")
            continue
        cur_fields = {f["name"]: f for f in c["fields"]}
        for f in s["fields"]:
            g = cur_fields.get(f["name"])
            if g is None:
                breaks.append(f"struct {s['name']}: field {f['name']} was removed or renamed")
            elif (g["offset"], g["size"], type_key(g)) != (f["offset"], f["size"], type_key(f)):
                breaks.append(f"struct {s['name']}: field {f['name']} changed "
                              f"({f['c_type']} at {f['offset']}) -> ({g['c_type']} at {g['offset']})")
        old_names = {f["name"] for f in s["fields"]}
        for g in c["fields"]:
            if g["name"] not in old_names and g["offset"] < s["size"]:
                breaks.append(f"struct {s['name']}: new field {g['name']} at {g['offset']} is inside the old "
                              f"{s['size']} bytes (append at the end)")
        if c["size"] < s["size"]:
            breaks.append(f"struct {s['name']} shrank from {s['size']} to {c['size']} bytes")
    cur_enums = {e["name"]: e for e in cur["enums"]}
    for e in base["enums"]:
        c = cur_enums.get(e["name"])
        if c is None:
            breaks.append(f"enum {e['name']} was removed")
            continue
        values = {v["name"]: v["value"] for v in c["values"]}
        for v in e["values"]:
            if values.get(v["name"]) != v["value"]:
                breaks.append(f"enum {e['name']}: {v['name']} = {v['value']} changed to {values.get(v['name'])}")
    cur_consts = {k["name"]: k["value"] for k in cur.get("constants", [])}
    for k in base.get("constants", []):
        if k["name"].startswith("PK_VERSION"):
            continue  # the version moves on by design
        if cur_consts.get(k["name"]) != k["value"]:
            breaks.append(f"constant {k['name']} = {k['value']} changed to {cur_consts.get(k['name'])}")
    return breaks


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    with open(argv[1]) as f:
        base = json.load(f)
    with open(argv[2]) as f:
        cur = json.load(f)
    breaks = compare(base, cur)
    for b in breaks:
        print("ABI break:", b)
    print(f"checked {len(base['functions'])} functions, {len(base['structs'])} structs, "
          f"{len(base['enums'])} enums against {argv[1]}")
    print("0 passed, 1 failed" if breaks else "1 passed, 0 failed")
    return 1 if breaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
