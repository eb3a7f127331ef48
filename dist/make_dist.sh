#!/usr/bin/env bash
# Lays out the install tree for C users and packs it:
#   include/processkit.h
#   lib/libprocesskit.so.1.MINOR.PATCH, lib/libprocesskit.so.1, lib/libprocesskit.so
#   lib/libprocesskit.a
#   lib/pkgconfig/processkit.pc
#   bin/pk
# usage: make_dist.sh OUT.tar.gz HEADER SHARED_LIB PC_IN PK ARCHIVES...
set -euo pipefail
out=$1 header=$2 shared=$3 pc_in=$4 pk=$5
shift 5

major=$(sed -n 's/^#define PK_VERSION_MAJOR \([0-9]*\).*/\1/p' "$header")
minor=$(sed -n 's/^#define PK_VERSION_MINOR \([0-9]*\).*/\1/p' "$header")
patch=$(sed -n 's/^#define PK_VERSION_PATCH \([0-9]*\).*/\1/p' "$header")
version="$major.$minor.$patch"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tree="$root/processkit-$version"
mkdir -p "$tree/include" "$tree/lib/pkgconfig" "$tree/bin"
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
cp "$pk" "$tree/bin/pk"
chmod -R u+w,go-w "$tree"
tar -C "$root" --owner=0 --group=0 --numeric-owner -czf "$out" "processkit-$version"
