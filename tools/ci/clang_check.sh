#!/usr/bin/env bash
# The library and pk compile cleanly under clang too (C11, -Wall -Wextra
# -Werror); the Bazel builds use gcc. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
flags=(-std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fsyntax-only -Iapi/include -Iapi/src -Ibackends
       -Ibackends/linux -Ibackends/posix -Ibackends/fake -Icli)
passed=0 failed=0
for f in api/src/*.c backends/*.c backends/*/*.c cli/*.c; do
  if clang "${flags[@]}" "$f"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $f"; fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
