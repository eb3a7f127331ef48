#!/usr/bin/env bash
# Go: a new module requires processkit.dev/processkit with a replace
# directive pointing at this clone's bindings/go (how Go depends on a local
# or unpublished module) and builds with `go build` alone: cgo compiles the
# amalgamation the package carries (bindings/go/processkit.c), no CGO_*
# variables, no library, no pkg-config. Then the same program with
# `-tags processkit_system` against a libprocesskit.so built here from
# dist/amalgamation and found through a processkit.pc written here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
new_project
cd "$PROJECT" || exit 1

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  PATH="/usr/local/go/bin:$PATH"
fi
need_tool go || { finish; exit; }
echo "go: $(go version)"
# Nothing is downloaded (the module has no dependencies), and a Go older
# than go.mod's fails instead of fetching a newer toolchain.
export GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1

mkdir app && cd app || exit 1
# The program every Go consumer runs (README: "Use it from your language").
cat > main.go <<'GO'
package main

import (
	"context"
	"fmt"
	"log"

	"processkit.dev/processkit"
)

func main() {
	res, err := processkit.Run(context.Background(), "sh", "-c", "sleep 300 & echo $!")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(res.Stdout)) // the grandchild's pid: the run killed it on return
}
GO

check "go mod init, replace with bindings/go, go mod tidy" scrubbed sh -c "
  go mod init example.com/app &&
  go mod edit -replace=processkit.dev/processkit='$REPO/bindings/go' &&
  go mod tidy &&
  grep -q '^require processkit.dev/processkit ' go.mod"

check "go build (bundled amalgamation, scrubbed environment)" scrubbed go build -o app .
[ -x app ] && run_and_check_grandchild "go: the program" ./app
if [ -x app ]; then
  check "go: the program needs no libprocesskit.so" sh -c "! readelf -d app | grep -q 'NEEDED.*libprocesskit'"
fi

if need_tool clang; then
  check "CC=clang go build" scrubbed env CC=clang go build -o app-clang .
  [ -x app-clang ] && run_and_check_grandchild "go (clang): the program" ./app-clang
fi

# -tags processkit_system: an installed library, found with pkg-config.
AMAL=$REPO/dist/amalgamation
prefix=$PROJECT/prefix
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
version=$(awk '$1 == "#define" && $2 ~ /^PK_VERSION_(MAJOR|MINOR|PATCH)$/ { print $3 }' "$AMAL/processkit.h" | paste -sd.)
cp "$AMAL/processkit.h" "$prefix/include/"
cat > "$prefix/lib/pkgconfig/processkit.pc" <<PC
prefix=$prefix
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: processkit
Description: processkit, built from the amalgamation by tests/consumers/go.sh
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lprocesskit
PC
check "cc -shared libprocesskit.so.1 from dist/amalgamation" \
  scrubbed cc -std=c11 -O2 -shared -fPIC -fvisibility=hidden -Wl,--version-script="$AMAL/processkit.map" \
  -Wl,-soname,libprocesskit.so.1 -o "$prefix/lib/libprocesskit.so.1" "$AMAL/processkit.c" -pthread
ln -sf libprocesskit.so.1 "$prefix/lib/libprocesskit.so"
if need_tool pkg-config; then
  check "go list -tags processkit_system: the package compiles no C file of its own" \
    sh -c '[ "$(go list -tags processkit_system -f "{{.CFiles}}" processkit.dev/processkit)" = "[]" ]'
  # Go's build cache does not key on pkg-config's output (golang/go#24544):
  # a package built by an earlier run would link with that run's -L and
  # rpath, long deleted. So this build gets a cache of its own.
  check "go build -tags processkit_system (PKG_CONFIG_PATH for this build only)" \
    scrubbed env PKG_CONFIG_PATH="$prefix/lib/pkgconfig" GOCACHE="$PROJECT/gocache-system" \
    go build -tags processkit_system -o app-system .
  [ -x app-system ] && run_and_check_grandchild "go (processkit_system): the program" ./app-system
  if [ -x app-system ]; then
    check "go (processkit_system): the program loads libprocesskit.so.1 from the prefix" \
      sh -c "readelf -d app-system | grep -q 'NEEDED.*\[libprocesskit\.so\.1\]' &&
             env -u LD_LIBRARY_PATH ldd app-system | grep -q '$prefix/lib/libprocesskit\.so\.1'"
  fi
fi

finish
