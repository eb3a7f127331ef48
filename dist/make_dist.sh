#!/usr/bin/env bash
# Lays out the install tree for C users and packs it:
#   include/processkit.h
#   lib/libprocesskit.so.1.MINOR.PATCH, lib/libprocesskit.so.1, lib/libprocesskit.so
#   lib/libprocesskit.a
#   lib/pkgconfig/processkit.pc
#   lib/cmake/processkit/processkitConfig.cmake, processkitConfigVersion.cmake
#   bin/pk
# The .pc and CMake files find everything relative to themselves, so the
# tree works wherever it is unpacked.
# usage: make_dist.sh OUT.tar.gz HEADER SHARED_LIB PC_IN CMAKE_CONFIG_IN CMAKE_VERSION_IN PK ARCHIVES...
set -euo pipefail
out=$1 header=$2 shared=$3 pc_in=$4 cmake_config_in=$5 cmake_version_in=$6 pk=$7
shift 7

major=$(sed -n 's/^#define PK_VERSION_MAJOR \([0-9]*\).*/\1/p' "$header")
minor=$(sed -n 's/^#define PK_VERSION_MINOR \([0-9]*\).*/\1/p' "$header")
patch=$(sed -n 's/^#define PK_VERSION_PATCH \([0-9]*\).*/\1/p' "$header")
version="$major.$minor.$patch"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tree="$root/processkit-$version"
mkdir -p "$tree/include" "$tree/lib/pkgconfig" "$tree/lib/cmake/processkit" "$tree/bin"
cp "$header" "$tree/include/processkit.h"
cp "$shared" "$tree/lib/libprocesskit.so.$version"
ln -s "libprocesskit.so.$version" "$tree/lib/libprocesskit.so.$major"
ln -s "libprocesskit.so.$major" "$tree/lib/libprocesskit.so"
for a in "$@"; do
  case "$a" in
    *.pic.lo | *.pic.a) ;; # prefer the non-PIC archive when both exist
    *.lo | *.a) cp "$a" "$tree/lib/libprocesskit.a" ;;
  esac
done
[ -f "$tree/lib/libprocesskit.a" ] || for a in "$@"; do cp "$a" "$tree/lib/libprocesskit.a"; done
sed "s/@VERSION@/$version/" "$pc_in" > "$tree/lib/pkgconfig/processkit.pc"
# The shared library's word size (ELF class: 1 = 32-bit, 2 = 64-bit), for the
# CMake version file.
case "$(od -An -tu1 -j4 -N1 "$shared" | tr -d ' ')" in
  1) sizeof_void_p=4 ;;
  2) sizeof_void_p=8 ;;
  *) echo "make_dist.sh: $shared is not an ELF file" >&2; exit 1 ;;
esac
subst="s/@VERSION@/$version/g; s/@MAJOR@/$major/g; s/@SIZEOF_VOID_P@/$sizeof_void_p/g; s/@BITS@/$((sizeof_void_p * 8))/g"
sed "$subst" "$cmake_config_in" > "$tree/lib/cmake/processkit/processkitConfig.cmake"
sed "$subst" "$cmake_version_in" > "$tree/lib/cmake/processkit/processkitConfigVersion.cmake"
cp "$pk" "$tree/bin/pk"
chmod -R u+w,go-w "$tree"
tar -C "$root" --owner=0 --group=0 --numeric-owner -czf "$out" "processkit-$version"
