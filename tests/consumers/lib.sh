# Shared by the consumer tests (sourced): a scratch project outside the
# repository, a scrubbed environment, and the check that a run's grandchild
# died with it.
#
# Each consumer test builds a new project with one language's own tool and
# runs `sh -c 'sleep 300 & echo $!'` through the binding's run API. The
# program prints the run's stdout (the grandchild's pid); the test then
# checks by pid plus start time that the grandchild is gone.

set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CONSUMER_PASSED=0
CONSUMER_FAILED=0

# A fresh directory outside the repository, removed when the test exits.
new_project() {
  PROJECT=$(mktemp -d "${TMPDIR:-/tmp}/pk-consumer.XXXXXX")
  trap 'rm -rf "$PROJECT"' EXIT
}

# Runs a command with every variable that could point it at a prebuilt
# library removed: what a user who only typed the install line has.
scrubbed() {
  local unset_args=() name
  while IFS='=' read -r name _; do
    case "$name" in
      PROCESSKIT_* | LD_LIBRARY_PATH | CGO_* | PKG_CONFIG_PATH | LIBRARY_PATH | CPATH | C_INCLUDE_PATH) unset_args+=(-u "$name") ;;
    esac
  done < <(env)
  env "${unset_args[@]}" "$@"
}

# Clock ticks since boot now (field 22 of a fresh process's stat).
ticks_now() {
  local stat
  stat=$(cat /proc/self/stat)
  stat=${stat##*) }
  set -- $stat
  echo "${20}"
}

# The start time of pid (0 if it is gone or a zombie).
start_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  set -- $stat
  [ "$1" = Z ] && { echo 0; return; }
  echo "${20}"
}

# check NAME COMMAND...: one counted check.
check() {
  local name=$1; shift
  local log="${PROJECT:-/tmp}/check.log"
  if "$@" >"$log" 2>&1; then
    echo "ok: $name"
    CONSUMER_PASSED=$((CONSUMER_PASSED + 1))
  else
    echo "FAIL: $name"
    tail -25 "$log" | sed 's/^/    /'
    CONSUMER_FAILED=$((CONSUMER_FAILED + 1))
  fi
}

# run_and_check_grandchild NAME COMMAND...: runs the consumer program, takes
# the grandchild pid from the last line of its stdout, and checks that the
# process that pid named (started after the program did) no longer runs.
run_and_check_grandchild() {
  local name=$1; shift
  local t0 out pid started waited
  t0=$(ticks_now)
  if ! out=$(scrubbed "$@" 2>"$PROJECT/stderr.log"); then
    echo "FAIL: $name: the program failed"
    sed 's/^/    /' "$PROJECT/stderr.log" | tail -20
    CONSUMER_FAILED=$((CONSUMER_FAILED + 1))
    return
  fi
  pid=$(printf '%s\n' "$out" | grep -E '^[0-9]+$' | tail -1)
  if [ -z "$pid" ]; then
    echo "FAIL: $name: no grandchild pid in the program's output: $out"
    CONSUMER_FAILED=$((CONSUMER_FAILED + 1))
    return
  fi
  for waited in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    started=$(start_ticks "$pid")
    # The grandchild still runs only if the pid names a live `sleep` that
    # started after the program did; anything else (gone, a zombie, another
    # program reusing the number) means it died.
    if [ "$started" = 0 ] || [ "$started" -lt "$t0" ] || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != sleep ]; then
      echo "ok: $name (grandchild $pid gone)"
      CONSUMER_PASSED=$((CONSUMER_PASSED + 1))
      return
    fi
    sleep 0.1
  done
  echo "FAIL: $name: grandchild $pid (sleep 300) still runs after the program ended"
  kill -9 "$pid" 2>/dev/null # our own test's process, identified by pid and start time
  CONSUMER_FAILED=$((CONSUMER_FAILED + 1))
}

# A tool this test needs, or a skip that is counted as a failure in CI
# (where .ci/run installs everything) and reported plainly elsewhere.
need_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "FAIL: $1 is not installed (.ci/run installs it)"
  CONSUMER_FAILED=$((CONSUMER_FAILED + 1))
  return 1
}

finish() {
  echo "$CONSUMER_PASSED passed, $CONSUMER_FAILED failed"
  [ "$CONSUMER_FAILED" -eq 0 ]
}
