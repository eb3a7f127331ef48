#!/usr/bin/env bash
# The built library and the current manifest against the released 1.0 ABI.
#   usage: check_abi_compat.sh LIB.so BASELINE.abi.xml BASELINE.abi.json CURRENT.abi.json COMPARE.py
# Two views of the same promise:
#   - libabigail (abidiff of the binary's debug info against abi/processkit-1.0.abi.xml):
#     no symbol may be removed and nothing abidiff calls incompatible may appear;
#   - the manifest policy (compare_manifests.py against abi/processkit-1.0.abi.json):
#     functions keep their signatures and version nodes, struct fields keep
#     offset, size and type, structs only grow at the end, enum values stay.
# Additions pass; new symbols are also held to being recorded in the
# manifest and the version script by abi_manifest_test and exports_test.
# Regenerate the baselines only when a release's ABI is fixed:
#   abidw --no-corpus-path bazel-bin/libprocesskit.so > abi/processkit-1.0.abi.xml
#   cp abi/processkit.abi.json abi/processkit-1.0.abi.json
set -uo pipefail
lib=$1 baseline_xml=$2 baseline_json=$3 current_json=$4 compare=$5
fail=0
command -v abidiff >/dev/null || { echo "abidiff missing (Debian package abigail-tools)"; echo "0 passed, 1 failed"; exit 1; }

current_xml=$(mktemp "${TEST_TMPDIR:-/tmp}/pk-abi.XXXXXX.xml")
trap 'rm -f "$current_xml"' EXIT
abidw --no-corpus-path "$lib" > "$current_xml" || { echo "abidw failed"; echo "0 passed, 1 failed"; exit 1; }
report=$(abidiff "$baseline_xml" "$current_xml")
rc=$?
printf '%s\n' "$report"
removed=$(printf '%s\n' "$report" | sed -n 's/.*changes summary: \([0-9]*\) Removed.*/\1/p' | awk '{n += $1} END {print n + 0}')
if [ $((rc & 3)) -ne 0 ]; then
  echo "abidiff could not compare (exit $rc)"; fail=1
elif [ $((rc & 8)) -ne 0 ] || [ "$removed" -ne 0 ]; then
  echo "ABI break (abidiff exit $rc, $removed removed)"; fail=1
fi

python3 "$compare" "$baseline_json" "$current_json" | sed '$d' || fail=1
python3 "$compare" "$baseline_json" "$current_json" >/dev/null || fail=1

if [ "$fail" -ne 0 ]; then echo "0 passed, 1 failed"; exit 1; fi
echo "1 passed, 0 failed"
