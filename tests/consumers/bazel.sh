#!/usr/bin/env bash
# Bazel: another workspace depends on this one. A new workspace outside the
# repository declares
#
#   local_repository(name = "processkit", path = "<this clone>")
#   local_repository(name = "rules_cc", path = "<this clone>/third_party/bazel_stubs/rules_cc")
#   local_repository(name = "rules_java", path = "<this clone>/third_party/bazel_stubs/rules_java")
#   local_repository(name = "remote_coverage_tools", path = "<this clone>/third_party/bazel_stubs/remote_coverage_tools")
#
# and has a cc_binary and a cc_test with deps = ["@processkit//:processkit"].
# Why the three stand-ins: our BUILD files load @rules_cc//cc:defs.bzl, and a
# label in an external repository resolves in the main workspace, so the
# consumer must declare rules_cc; any toolchain resolution needs rules_java
# and any test target remote_coverage_tools. Debian's Bazel 4.2.3 cannot
# download them offline, so the consumer points at our stand-ins (rules_cc's
# forwards to the native rules), as our own WORKSPACE does. From our .bazelrc
# a C consumer needs only --nosandbox_debug (Debian's /etc/bazel/bazelrc
# turns on the very noisy --sandbox_debug; its --host_javabase applies to
# every workspace already). Built with the bazel ./bazelw runs, with
# --output_user_root in the scratch directory so the server and cache go
# away with it; the program is run and its grandchild must be gone.
#
# The consumer also builds @processkit//dist:dist, the install tree tarball,
# and a CMake project links it through its lib/cmake/processkit package.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
unset CMAKE_PREFIX_PATH processkit_DIR

# ./bazelw installs Debian's bazel-bootstrap when `bazel` is missing.
command -v bazel >/dev/null 2>&1 || "$REPO/bazelw" --version >/dev/null 2>&1 </dev/null
need_tool bazel || { finish; exit; }
BAZEL=$(command -v bazel)

new_project
ROOT=$PROJECT/bazel-root
WS=$PROJECT/ws
bazel_shutdown() {
  [ -d "$WS" ] && [ -d "$ROOT" ] && (cd "$WS" && "$BAZEL" --output_user_root="$ROOT" shutdown >/dev/null 2>&1)
  return 0
}
# The server first, then the files (Bazel leaves some of them read-only).
trap 'bazel_shutdown; chmod -R u+w "$PROJECT" 2>/dev/null; rm -rf "$PROJECT"' EXIT
mkdir -p "$WS"
cd "$WS" || exit 1
echo "bazel: $("$BAZEL" --version) ($(dpkg-query -W -f '${Package} ${Version}' bazel-bootstrap 2>/dev/null))"

cat > WORKSPACE <<EOF
workspace(name = "app")

local_repository(
    name = "processkit",
    path = "$REPO",
)

# processkit's BUILD files load @rules_cc//cc:defs.bzl. Bazel 4.2.3 offline
# cannot download rules_cc: processkit's stand-in forwards to the native rules.
local_repository(
    name = "rules_cc",
    path = "$REPO/third_party/bazel_stubs/rules_cc",
)

# Resolving any toolchain loads @bazel_tools//tools/jdk, which needs
# @rules_java: the same offline stand-in.
local_repository(
    name = "rules_java",
    path = "$REPO/third_party/bazel_stubs/rules_java",
)

# Every test target depends on @remote_coverage_tools (for coverage runs).
local_repository(
    name = "remote_coverage_tools",
    path = "$REPO/third_party/bazel_stubs/remote_coverage_tools",
)
EOF

cat > .bazelrc <<'EOF'
# Debian's /etc/bazel/bazelrc turns on --sandbox_debug, which is very noisy.
build --nosandbox_debug
EOF

cat > BUILD <<'EOF'
load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

cc_binary(
    name = "app",
    srcs = ["app.c"],
    deps = ["@processkit//:processkit"],
)

cc_test(
    name = "version_test",
    srcs = ["version_test.c"],
    deps = ["@processkit//:processkit"],
)
EOF

cat > version_test.c <<'C'
#include <string.h>
#include "processkit.h"

int main(void) {
    return pk_version() == PK_VERSION_NUMBER && strcmp(pk_version_string(), "1.2.0") == 0 ? 0 : 1;
}
C

# The program every C consumer runs (c_amalgamation.sh).
cp "$REPO/tests/consumers/app.c" app.c

bz() { scrubbed "$BAZEL" --output_user_root="$ROOT" "$@" </dev/null; }

check "bazel build //:app (deps = [\"@processkit//:processkit\"])" bz build //:app
[ -x bazel-bin/app ] && run_and_check_grandchild "bazel: the program on @processkit//:processkit" ./bazel-bin/app
check "bazel test //:version_test (a consumer's cc_test)" bz test //:version_test

# The install tree, built from the consumer's workspace, found by CMake.
check "bazel build @processkit//dist:dist" bz build @processkit//dist:dist
tarball=bazel-bin/external/processkit/dist/processkit.tar.gz
if [ -f "$tarball" ] && need_tool cmake; then
  mkdir -p "$PROJECT/opt" "$PROJECT/cm"
  check "the tarball unpacks" tar -xzf "$tarball" -C "$PROJECT/opt"
  prefix=$(echo "$PROJECT"/opt/processkit-*)
  cp app.c "$PROJECT/cm/"
  cat > "$PROJECT/cm/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(app C)
find_package(processkit 1 REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE processkit::processkit)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE processkit::processkit_static)
CMAKE
  check "cmake finds the tarball's processkit (-DCMAKE_PREFIX_PATH=<tree>)" \
    scrubbed cmake -S "$PROJECT/cm" -B "$PROJECT/cm/build" -DCMAKE_PREFIX_PATH="$prefix"
  check "find_package found lib/cmake/processkit in the tree" \
    grep -qxF "processkit_DIR:PATH=$prefix/lib/cmake/processkit" "$PROJECT/cm/build/CMakeCache.txt"
  check "cmake builds against the tarball" scrubbed cmake --build "$PROJECT/cm/build"
  [ -x "$PROJECT/cm/build/app" ] &&
    run_and_check_grandchild "dist tarball + cmake: processkit::processkit" "$PROJECT/cm/build/app"
  [ -x "$PROJECT/cm/build/app_static" ] &&
    run_and_check_grandchild "dist tarball + cmake: processkit::processkit_static" "$PROJECT/cm/build/app_static"
fi

check "bazel shutdown" bz shutdown
finish
