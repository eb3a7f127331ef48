#!/usr/bin/env bash
# The main job, end to end: pk runs a real command that leaves a background
# grandchild behind, and afterwards this script shows the grandchild is gone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pidfile=$(mktemp "${TMPDIR:-/tmp}/pk-demo.XXXXXX")
trap 'rm -f "$pidfile"' EXIT

./bazelw build //cli:pk >/dev/null 2>&1 || ./bazelw build //cli:pk
pk=bazel-bin/cli/pk

echo "\$ pk run --json -- sh -c 'sleep 300 & echo \$! > PIDFILE; echo \"started grandchild \$!\"'"
"$pk" run --json -- sh -c "sleep 300 & echo \$! > '$pidfile'; echo \"started grandchild \$!\""

gc=$(cat "$pidfile")
# A killed orphan may linger as a zombie until PID 1 reaps it: that is dead.
state=$(sed -n 's/^State:\s*\(.\).*/\1/p' "/proc/$gc/status" 2>/dev/null || true)
if [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]; then
  echo "grandchild $gc is gone: pk left nothing running"
else
  echo "grandchild $gc is still running (state $state)" >&2
  exit 1
fi
