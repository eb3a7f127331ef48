#!/usr/bin/env bash
# Zig, the way Zig users take a local package: a new project whose
# build.zig.zon has a `.path` dependency on bindings/zig, built with
# `zig build` and nothing else. The package's module compiles the
# amalgamation (bindings/zig/csrc/processkit.c) itself: no Bazel, no prebuilt
# library, no environment variables. Zig is PyPI's `ziglang` (pinned below),
# installed with pip --target into a cache outside the repository and reused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ZIG_VERSION=0.17.1

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/processkit-consumers
ZIG_PKG=$CACHE/zig-$ZIG_VERSION
new_project

install_zig() {
  [ -x "$ZIG_PKG/ziglang/zig" ] && return 0
  mkdir -p "$CACHE" || return 1
  local staging
  staging=$(mktemp -d "$CACHE/.zig-install.XXXXXX") || return 1
  if ! python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target "$staging" "ziglang==$ZIG_VERSION"; then
    rm -rf "$staging"
    return 1
  fi
  # Another run may have finished first: keep whichever landed.
  mv -T "$staging" "$ZIG_PKG" 2>/dev/null || rm -rf "$staging"
  [ -x "$ZIG_PKG/ziglang/zig" ]
}

if need_tool python3; then
  check "pip installs ziglang==$ZIG_VERSION (cached in $ZIG_PKG)" install_zig
  check "python3 -m ziglang version is $ZIG_VERSION" sh -c "[ \"\$(PYTHONPATH='$ZIG_PKG' python3 -m ziglang version)\" = '$ZIG_VERSION' ]"
fi

cd "$PROJECT" || exit 1
mkdir -p src
# Zig requires a fingerprint whose upper half is the CRC-32 of the name, and
# a `.path` relative to the project.
fingerprint=$(python3 -c 'import zlib; print(hex(zlib.crc32(b"pk_consumer") << 32 | 0x5eed2024))')
dep_path=$(python3 -c 'import os, sys; print(os.path.relpath(*map(os.path.realpath, sys.argv[1:])))' \
  "$REPO/bindings/zig" "$PROJECT")
cat > build.zig.zon <<ZON
.{
    .name = .pk_consumer,
    .version = "0.0.0",
    .fingerprint = $fingerprint,
    .minimum_zig_version = "$ZIG_VERSION",
    .dependencies = .{
        .processkit = .{ .path = "$dep_path" },
    },
    .paths = .{""},
}
ZON

cat > build.zig <<'ZIG'
const std = @import("std");

pub fn build(b: *std.Build) void {
    const target = b.standardTargetOptions(.{});
    const optimize = b.standardOptimizeOption(.{});
    const processkit = b.dependency("processkit", .{ .target = target, .optimize = optimize });
    const exe = b.addExecutable(.{
        .name = "app",
        .root_module = b.createModule(.{
            .root_source_file = b.path("src/main.zig"),
            .target = target,
            .optimize = optimize,
            .imports = &.{.{ .name = "processkit", .module = processkit.module("processkit") }},
        }),
    });
    b.installArtifact(exe);
}
ZIG

# The program every consumer runs (README: "Use it from your language").
cat > src/main.zig <<'ZIG'
const std = @import("std");
const pk = @import("processkit");

pub fn main(init: std.process.Init) !void {
    var cmd = try pk.Command.initArgv(&.{ "sh", "-c", "sleep 300 & echo $!" });
    defer cmd.deinit();
    var res = try cmd.run(init.gpa);
    defer res.deinit();
    try std.Io.File.stdout().writeStreamingAll(init.io, res.stdout); // the grandchild's pid: the run killed it on return
}
ZIG

export ZIG_GLOBAL_CACHE_DIR="$CACHE/zig-$ZIG_VERSION-global-cache" # compiled libc and compiler_rt, reused
export ZIG_LOCAL_CACHE_DIR="$PROJECT/.zig-cache"

check "zig build (a .path dependency on bindings/zig, environment scrubbed)" scrubbed \
  env PYTHONPATH="$ZIG_PKG" python3 -m ziglang build --summary all
if [ -x zig-out/bin/app ]; then
  check "the program links no libprocesskit (the amalgamation is compiled in)" \
    sh -c '! ldd zig-out/bin/app | grep -q processkit'
  run_and_check_grandchild "zig: the program" ./zig-out/bin/app
fi

check "zig build -Doptimize=ReleaseSafe" scrubbed \
  env PYTHONPATH="$ZIG_PKG" python3 -m ziglang build -Doptimize=ReleaseSafe --prefix zig-out-release
[ -x zig-out-release/bin/app ] && run_and_check_grandchild "zig: the ReleaseSafe program" ./zig-out-release/bin/app

# Zig cross-compiles with libc out of the box: the same project for aarch64.
check "zig build -Dtarget=aarch64-linux-gnu cross-compiles it" scrubbed \
  env PYTHONPATH="$ZIG_PKG" python3 -m ziglang build -Dtarget=aarch64-linux-gnu --prefix zig-out-arm64
check "the aarch64 program is an aarch64 ELF" \
  sh -c 'od -An -tx1 -j18 -N2 zig-out-arm64/bin/app | grep -q "b7 00"'

finish
