#!/usr/bin/env bash
# C with CMake, no Bazel: dist/amalgamation/CMakeLists.txt builds and installs
# libprocesskit into a prefix, then a new CMake project finds it the way a
# CMake user points at an install,
#
#   cmake -S dist/amalgamation -B build && cmake --build build && cmake --install build --prefix PREFIX
#   find_package(processkit REQUIRED)                           (cmake -DCMAKE_PREFIX_PATH=PREFIX)
#   target_link_libraries(app PRIVATE processkit::processkit)
#
# and runs without LD_LIBRARY_PATH (the RPATH CMake records for an imported
# library; CMAKE_INSTALL_RPATH_USE_LINK_PATH for an installed program). The
# static archive, add_subdirectory() and the same prefix's processkit.pc
# (pkg-config) are checked too.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Only the -DCMAKE_PREFIX_PATH given below may lead CMake to an install.
unset CMAKE_PREFIX_PATH processkit_DIR

need_tool cmake || { finish; exit; }
need_tool cc || { finish; exit; }
new_project
PREFIX=$PROJECT/prefix
cd "$PROJECT" || exit 1
echo "cmake: $(cmake --version | head -1)"

# The producer: the amalgamation's CMakeLists.txt, configured with no
# install prefix (the user picks one at install time).
check "cmake configures dist/amalgamation" scrubbed cmake -S "$REPO/dist/amalgamation" -B lib-build
check "cmake --build builds libprocesskit" scrubbed cmake --build lib-build --parallel 4
check "cmake --install --prefix installs it" scrubbed cmake --install lib-build --prefix "$PREFIX"
for f in include/processkit.h lib/libprocesskit.so lib/libprocesskit.so.1 lib/libprocesskit.so.1.2.0 \
         lib/libprocesskit.a lib/pkgconfig/processkit.pc lib/cmake/processkit/processkitConfig.cmake \
         lib/cmake/processkit/processkitConfigVersion.cmake lib/cmake/processkit/processkitTargets.cmake; do
  check "installed: $f" test -e "$PREFIX/$f"
done
if [ -f "$PREFIX/lib/libprocesskit.so.1" ]; then
  check "the installed library's SONAME is libprocesskit.so.1" \
    sh -c "readelf -d '$PREFIX/lib/libprocesskit.so.1' | grep -F 'Library soname: [libprocesskit.so.1]'"
  nm -D --defined-only "$PREFIX/lib/libprocesskit.so.1" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u >exports
  python3 -c 'import json, sys; print("\n".join(sorted(f["name"] for f in json.load(open(sys.argv[1]))["functions"])))' \
    "$REPO/abi/processkit.abi.json" >manifest-functions
  check "it exports exactly the manifest's functions (version script, -fvisibility=hidden)" diff -u manifest-functions exports
  check "every export carries a version node" \
    sh -c "! nm -D --defined-only '$PREFIX/lib/libprocesskit.so.1' | awk '\$2 == \"T\"' | grep -v '@@PROCESSKIT_'"
fi

# The program every C consumer runs (c_amalgamation.sh).
mkdir -p app
cp "$REPO/tests/consumers/app.c" app/app.c

# The consumer: a new CMake project that only names the package.
cat > app/CMakeLists.txt <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(app C)
find_package(processkit REQUIRED)
add_executable(app app.c)
target_link_libraries(app PRIVATE processkit::processkit)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE processkit::processkit_static)
install(TARGETS app app_static DESTINATION bin)
CMAKE

check "the consumer configures with -DCMAKE_PREFIX_PATH=<prefix>" \
  scrubbed cmake -S app -B app/build -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON
check "find_package found the installed package" \
  grep -qxF "processkit_DIR:PATH=$PREFIX/lib/cmake/processkit" app/build/CMakeCache.txt
check "find_package(processkit 1) accepts it, (processkit 2) does not" scrubbed sh -c '
  mkdir -p v && cd v &&
  printf "cmake_minimum_required(VERSION 3.13)\nproject(v C)\nfind_package(processkit \$ENV{V} REQUIRED)\n" > CMakeLists.txt &&
  V=1.0 cmake -S . -B b1 -DCMAKE_PREFIX_PATH="$1" && ! V=2 cmake -S . -B b2 -DCMAKE_PREFIX_PATH="$1"' _ "$PREFIX"
check "the consumer builds with cmake --build" scrubbed cmake --build app/build
if [ -x app/build/app ]; then
  check "app links libprocesskit.so.1 with RUNPATH <prefix>/lib" sh -c "
    readelf -d app/build/app | grep -F 'Shared library: [libprocesskit.so.1]' &&
    readelf -d app/build/app | grep -E 'R(UN)?PATH' | grep -F '$PREFIX/lib'"
  run_and_check_grandchild "cmake: the program on the installed shared library" ./app/build/app
fi
[ -x app/build/app_static ] && run_and_check_grandchild "cmake: the program on processkit::processkit_static" ./app/build/app_static
check "the consumer installs (CMAKE_INSTALL_RPATH_USE_LINK_PATH)" scrubbed cmake --install app/build --prefix "$PROJECT/app-installed"
[ -x app-installed/bin/app ] && run_and_check_grandchild "cmake: the installed program finds the library" ./app-installed/bin/app

# add_subdirectory(): the same target names without installing.
mkdir -p sub
cp app/app.c sub/
cat > sub/CMakeLists.txt <<CMAKE
cmake_minimum_required(VERSION 3.13)
project(sub C)
add_subdirectory("$REPO/dist/amalgamation" processkit)
add_executable(app app.c)
target_link_libraries(app PRIVATE processkit::processkit)
CMAKE
check "add_subdirectory(dist/amalgamation) configures" scrubbed cmake -S sub -B sub/build
check "add_subdirectory(dist/amalgamation) builds" scrubbed cmake --build sub/build --parallel 4
[ -x sub/build/app ] && run_and_check_grandchild "cmake: add_subdirectory program" ./sub/build/app

# pkg-config from the same prefix (PKG_CONFIG_PATH for this check only).
if need_tool pkg-config; then
  pc_flags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags --libs processkit 2>&1)
  echo "pkg-config --cflags --libs processkit: $pc_flags"
  check "pkg-config reads the installed processkit.pc (version 1.2.0)" \
    sh -c "[ \"\$(PKG_CONFIG_PATH='$PREFIX/lib/pkgconfig' pkg-config --modversion processkit)\" = 1.2.0 ]"
  # shellcheck disable=SC2086
  check "cc app.c \$(pkg-config --cflags --libs processkit) links" \
    scrubbed cc -std=c11 -Wall -Wextra -Werror app/app.c $pc_flags -o app-pc
  [ -x app-pc ] && run_and_check_grandchild "pkg-config: the program on the installed shared library" ./app-pc
fi

finish
