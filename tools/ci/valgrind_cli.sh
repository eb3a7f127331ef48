#!/usr/bin/env bash
# The pk CLI under valgrind (memcheck, full leak check): every run must be
# free of memory errors and leaks. valgrind has no clone3, so under it pk
# falls back to the process-group backend and the legacy clone path, which
# this exercises too. usage: tools/ci/valgrind_cli.sh PATH/TO/pk
set -uo pipefail
pk=${1:?usage: valgrind_cli.sh PATH/TO/pk}
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind </dev/null >/dev/null; }
passed=0 failed=0
check() { # expected exit code, pk args...
  local want=$1; shift
  local out rc
  out=$(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect -q "$pk" "$@" 2>&1 </dev/null)
  rc=$?
  if [ "$rc" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED (exit $rc, want $want): pk $*"; printf '%s\n' "$out" | tail -30
  fi
}
check 0 probe --json
check 3 run --capture --json -- sh -c 'echo out; echo err >&2; exit 3'
check 124 run --timeout 200ms --grace 100ms -- sh -c "trap '' TERM; sleep 5"
check 137 run -- sh -c 'kill -9 $$'
check 127 run -- no-such-program-here
check 125 run --memory-max 1G -- true
check 0 run --json --env A=b --unset HOME --stdin null -- sh -c 'test "$A" = b'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
