#!/usr/bin/env bash
# C, the SQLite way: a project copies dist/amalgamation/processkit.{c,h} and
# compiles them with its own program, nothing else on the line; or builds a
# shared library with the version script. Under gcc and clang; cross-compiled
# for aarch64 (and run there under qemu-user where it can); and compiled for
# Windows with mingw-w64.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
AMAL=$REPO/dist/amalgamation
new_project
cp "$AMAL/processkit.c" "$AMAL/processkit.h" "$AMAL/processkit.map" "$PROJECT/"
cd "$PROJECT" || exit 1

# The program every C consumer runs (README: "Use it from your language").
cp "$REPO/tests/consumers/app.c" app.c

for cc in gcc clang; do
  need_tool "$cc" || continue
  check "$cc: cc -std=c11 -O2 app.c processkit.c -pthread" \
    scrubbed "$cc" -std=c11 -O2 -Wall -Wextra -Werror app.c processkit.c -pthread -o "app-$cc"
  [ -x "app-$cc" ] && run_and_check_grandchild "$cc: the static program" "./app-$cc"

  check "$cc: shared library with the version script" \
    scrubbed "$cc" -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden -o "libprocesskit-$cc.so.1" \
    -Wl,-soname,libprocesskit.so.1 -Wl,--version-script=processkit.map processkit.c -pthread
  if [ -f "libprocesskit-$cc.so.1" ]; then
    nm -D --defined-only "libprocesskit-$cc.so.1" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u >"exports-$cc"
    python3 -c 'import json, sys; print("\n".join(sorted(f["name"] for f in json.load(open(sys.argv[1]))["functions"])))' \
      "$REPO/abi/processkit.abi.json" >manifest-functions
    check "$cc: the shared library exports exactly the manifest's functions" diff -u manifest-functions "exports-$cc"
    check "$cc: every export carries a version node" \
      sh -c "! nm -D --defined-only libprocesskit-$cc.so.1 | awk '\$2 == \"T\"' | grep -v '@@PROCESSKIT_'"
    mkdir -p "shared-$cc" && cp "libprocesskit-$cc.so.1" "shared-$cc/libprocesskit.so.1" &&
      ln -sf libprocesskit.so.1 "shared-$cc/libprocesskit.so"
    check "$cc: a program links the shared library" \
      scrubbed "$cc" -std=c11 -O2 app.c -I. -L"shared-$cc" -Wl,-rpath,"$PROJECT/shared-$cc" -lprocesskit -o "app-shared-$cc"
    [ -x "app-shared-$cc" ] && run_and_check_grandchild "$cc: the program on the shared library" "./app-shared-$cc"
  fi
done

# aarch64: compiled with Debian's cross gcc. Under qemu-user a vfork-style
# clone (CLONE_VM|CLONE_VFORK) is refused, so only the parts that start no
# process run there; spawning on aarch64 is compiled, not run.
if need_tool aarch64-linux-gnu-gcc; then
  check "aarch64: cross-compiles with -Werror" \
    scrubbed aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Werror app.c processkit.c -pthread -o app-arm64
  cat > probe.c <<'C'
#include <stdio.h>
#include <string.h>
#include "processkit.h"

int main(void) {
    pk_containment c = PK_CONTAINMENT_INIT;
    pk_command *cmd;
    if (pk_version() != PK_VERSION_NUMBER || strcmp(pk_version_string(), "1.2.0") != 0)
        return 1;
    if (pk_host_probe(PK_BACKEND_PROCESS_GROUP, &c) != PK_OK || c.mechanism != PK_MECHANISM_PROCESS_GROUP)
        return 2;
    if (pk_command_new("true", &cmd) != PK_OK || pk_command_arg(NULL, "x") != PK_ERR_HANDLE || !pk_last_error()[0])
        return 3;
    pk_command_free(cmd);
    puts("ok");
    return 0;
}
C
  check "aarch64: the probe program cross-compiles" \
    scrubbed aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Werror probe.c processkit.c -pthread -o probe-arm64
  if need_tool qemu-aarch64; then
    check "aarch64: version, host probe and handles run under qemu-user" \
      sh -c '[ "$(qemu-aarch64 -L /usr/aarch64-linux-gnu ./probe-arm64)" = ok ]'
  fi
fi

if need_tool x86_64-w64-mingw32-gcc; then
  check "windows: mingw-w64 compiles and links it (-pthread -lws2_32)" \
    scrubbed x86_64-w64-mingw32-gcc -std=c11 -O2 -Wall -Wextra -Werror probe.c processkit.c -pthread -lws2_32 -o probe.exe
fi

finish
