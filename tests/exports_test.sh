#!/usr/bin/env bash
# libprocesskit.so exports exactly the functions of the public header, all
# under version node PROCESSKIT_1.0, and its SONAME is libprocesskit.so.1.
set -euo pipefail
lib=$1
header=$2

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
  case "$sym" in
    *@@PROCESSKIT_1.0) ;;
    *) echo "not under PROCESSKIT_1.0: $sym"; fail=1 ;;
  esac
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
