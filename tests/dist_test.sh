#!/usr/bin/env bash
# The install tree works for a plain C user outside Bazel: unpack it, build an
# example with nothing but cc and pkg-config, and run it.
set -euo pipefail
tarball=$1
example=$2
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/dist.XXXXXX")
trap 'rm -rf "$work"' EXIT

tar -xzf "$tarball" -C "$work"
prefix=$(echo "$work"/processkit-*)
for f in include/processkit.h lib/libprocesskit.so lib/libprocesskit.so.1 lib/libprocesskit.a \
         lib/cmake/processkit/processkitConfig.cmake lib/cmake/processkit/processkitConfigVersion.cmake \
         lib/pkgconfig/processkit.pc bin/pk; do
  [ -e "$prefix/$f" ] || { echo "missing $f"; echo "0 passed, 1 failed"; exit 1; }
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
echo "pkg-config: $(pkg-config --cflags --libs processkit)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$example" $(pkg-config --cflags --libs processkit) -o "$work/contain"
"$work/contain"
# The static archive links too.
# shellcheck disable=SC2046
cc -std=c11 "$example" $(pkg-config --cflags processkit) "$prefix/lib/libprocesskit.a" -pthread -lm \
   -o "$work/contain-static"
"$work/contain-static"
"$prefix/bin/pk" run -- true
echo "3 passed, 0 failed"
