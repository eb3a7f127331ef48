#!/usr/bin/env bash
# libprocesskit.so exports exactly the functions of the public header, each
# under the version node abi/processkit.map gives it (PROCESSKIT_1.0 for the
# 1.0 functions, PROCESSKIT_1.1 for those added in 1.1...), and its SONAME is
# libprocesskit.so.1.
set -euo pipefail
lib=$1
header=$2
map=$3

fail=0
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libprocesskit.so.1" ]; then
  echo "SONAME is '$soname', want libprocesskit.so.1"; fail=1
fi

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sort)
declared=$(grep -o '^PK_API [^(]*(' "$header" | sed 's/PK_API //; s/($//' | awk '{print $NF}' | tr -d '*' | sort)

while read -r sym; do
  [ -z "$sym" ] && continue
  name=${sym%%@*}
  want=$(awk -v s="$name;" '/^PROCESSKIT_[0-9.]+ *\{/ {node=$1} $1 == s {print node}' "$map")
  if [ -z "$want" ] || [ "$sym" != "$name@@$want" ]; then
    echo "not under its node ${want:-(none in the map)}: $sym"; fail=1
  fi
  case "$name" in
    pk_*) ;;
    *) echo "exported symbol outside pk_*: $sym"; fail=1 ;;
  esac
done <<< "$exported"

names=$(printf '%s\n' "$exported" | sed 's/@.*//' | sort)
if [ "$names" != "$declared" ]; then
  echo "exports and header differ:"; diff <(echo "$declared") <(echo "$names") || true; fail=1
fi

count=$(printf '%s\n' "$names" | grep -c .)
echo "checked $count exported functions"
if [ "$fail" -ne 0 ]; then
  echo "1 failed"; exit 1
fi
