#!/usr/bin/env bash
# The library and pk compile cleanly under clang and under gcc with
# optimisation (C11, -Wall -Wextra -Werror): the Bazel builds use gcc without
# it, and both catch warnings the other does not. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
flags=(-std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iapi/include -Iapi/src -Ibackends
       -Ibackends/linux -Ibackends/posix -Ibackends/fake -Icli)
passed=0 failed=0
for f in api/src/*.c backends/*.c backends/*/*.c cli/*.c; do
  if clang "${flags[@]}" -fsyntax-only "$f" && gcc "${flags[@]}" -O2 -c -o /dev/null "$f"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: $f"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
