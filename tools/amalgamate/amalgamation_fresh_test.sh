#!/usr/bin/env bash
# dist/amalgamation/ and every binding's copy are what tools/amalgamate/
# amalgamate.py makes of the current sources: a source change without
# regenerating fails here. Usage: amalgamation_fresh_test.sh AMALGAMATE_PY
set -uo pipefail
gen=$(readlink -f "$1") # the source tree's own copy, not the runfile link

if python3 "$gen" --check; then
  echo "1 passed, 0 failed"
  exit 0
fi
cat <<'MSG'

amalgamation_fresh_test FAILED: the amalgamation or a binding's copy of it is stale.
Regenerate from the repository root and commit the result:

    python3 tools/amalgamate/amalgamate.py

MSG
echo "0 passed, 1 failed"
exit 1
