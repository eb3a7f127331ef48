#!/usr/bin/env bash
# The library and pk compile cleanly under clang and under gcc with
# optimisation (C11, -Wall -Wextra -Werror): the Bazel builds use gcc without
# it, and both catch warnings the other does not. The Windows sources get the
# same from mingw-w64's gcc -O2. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
# Every folder of internal headers (as INTERNAL_INCLUDES in the root BUILD).
includes=(-Iapi/include -Iapi/src/base -Iapi/src/core -Iapi/src/run -Iapi/src/layers -Iapi/src/linux
          -Iapi/src/windows -Iapi/src/backends -Iapi/src/backends/linux -Iapi/src/backends/windows -Iapi/src/backends/fake -Icli)
flags=(-std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE "${includes[@]}")
win_flags=(-std=c11 -Wall -Wextra -Werror -D_WIN32_WINNT=0x0A00 -D__USE_MINGW_ANSI_STDIO=1
           -DPK_BUILDING_LIBRARY "${includes[@]}")
# What only one OS builds: its folders (keep in step with the root BUILD and cli/windows/BUILD).
windows_only='^api/src/windows/|^api/src/backends/windows/|^cli/pk_windows\.c$'
linux_only='^api/src/linux/|^api/src/backends/(linux|fake)/|^cli/pk(_pipe|_posix|_retry)?\.c$'
sources=(api/src/*/*.c api/src/backends/*/*.c cli/*.c)
passed=0 failed=0
for f in "${sources[@]}"; do
  if [[ $f =~ $windows_only ]]; then continue; fi
  if clang "${flags[@]}" -fsyntax-only "$f" && gcc "${flags[@]}" -O2 -c -o /dev/null "$f"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: $f"
  fi
done
if command -v x86_64-w64-mingw32-gcc-posix >/dev/null 2>&1; then
  for f in "${sources[@]}"; do
    if [[ $f =~ $linux_only ]]; then continue; fi
    if x86_64-w64-mingw32-gcc-posix "${win_flags[@]}" -O2 -c -o /dev/null "$f"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); echo "FAILED (mingw): $f"
    fi
  done
else
  failed=$((failed + 1)); echo "FAILED: x86_64-w64-mingw32-gcc-posix is missing (./bazelw --config=mingw installs it)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
