#!/usr/bin/env bash
# abi/processkit.abi.json is what tools/abi/gen_manifest.py makes of the current
# header and version script: a header change without regenerating fails here.
# Usage: abi_manifest_test.sh GEN_MANIFEST HEADER MAP MANIFEST
set -uo pipefail
gen=$1 header=$2 map=$3 manifest=$4

if python3 "$gen" --check --header "$header" --map "$map" --output "$manifest"; then
  echo "1 passed, 0 failed"
  exit 0
fi
cat <<'MSG'

abi_manifest_test FAILED: abi/processkit.abi.json does not match api/include/processkit.h
and abi/processkit.map. Regenerate it from the repository root and commit it:

    python3 tools/abi/gen_manifest.py

MSG
echo "0 passed, 1 failed"
exit 1
