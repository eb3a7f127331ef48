#!/usr/bin/env bash
# Rust, the way a user depends on an unpublished crate: a new cargo project
# with a path dependency on bindings/rust, built with `cargo build` alone.
# The default feature `bundled` compiles the crate's own csrc/processkit.c
# (the amalgamation) with the cc crate: no Bazel, no prebuilt library, no
# environment variable. Also: the packaged crate carries the C source, and
# `default-features = false` links a libprocesskit.so that pkg-config finds.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CRATE=$REPO/bindings/rust
new_project
# rustup's cargo where a login shell would have it on PATH.
[ -d "$HOME/.cargo/bin" ] && PATH="$PATH:$HOME/.cargo/bin"
need_tool cargo || { finish; exit; }
need_tool cc || { finish; exit; }
echo "$(cargo --version), $(rustc --version)"
export CARGO_TERM_COLOR=never

# The program every Rust consumer runs (README: "Use it from your language").
main_rs() {
  cat <<'RS'
use processkit_c::Command;

fn main() -> Result<(), processkit_c::Error> {
    let out = Command::new("sh").args(["-c", "sleep 300 & echo $!"]).output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout)); // the grandchild's pid: the run killed it on return
    Ok(())
}
RS
}

# new_app DIR CARGO-ADD-ARGS...: `cargo new`, then the dependency the way a
# user adds it, and the program.
new_app() {
  local dir=$1
  shift
  scrubbed cargo new --quiet --vcs none --name app "$dir" &&
    (cd "$dir" && scrubbed cargo add --quiet --path "$CRATE" "$@") &&
    main_rs >"$dir/src/main.rs"
}

# ---- bundled (the default) ---------------------------------------------------
app=$PROJECT/app
check "cargo new + cargo add --path bindings/rust" new_app "$app"
check "bundled: cargo build (compiles csrc/processkit.c; scrubbed environment)" \
  scrubbed env -C "$app" CARGO_TARGET_DIR="$app/target" cargo build
bin=$app/target/debug/app
if [ -x "$bin" ]; then
  run_and_check_grandchild "bundled: the program" "$bin"
  check "bundled: the program needs no libprocesskit.so" sh -c "! ldd '$bin' | grep -q libprocesskit"
fi

# ---- the packaged crate carries the C library --------------------------------
pkg_target=$PROJECT/package-target
check "cargo package --list has csrc/processkit.c and csrc/processkit.h" \
  sh -c "cd '$CRATE' && CARGO_TARGET_DIR='$pkg_target' cargo package --list --allow-dirty >'$PROJECT/package.list' &&
    grep -qx csrc/processkit.c '$PROJECT/package.list' && grep -qx csrc/processkit.h '$PROJECT/package.list'"
check "cargo package: the packaged crate builds on its own" \
  scrubbed env -C "$CRATE" CARGO_TARGET_DIR="$pkg_target" cargo package --allow-dirty

# ---- default-features = false: the system library through pkg-config ---------
if need_tool pkg-config; then
  prefix=$PROJECT/prefix
  version=$(sed -n 's/^#define PK_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' "$CRATE/csrc/processkit.h" | paste -sd.)
  install_lib() { # what an installed libprocesskit leaves: lib, header, processkit.pc
    mkdir -p "$prefix/lib/pkgconfig" "$prefix/include" &&
      cc -std=c11 -O2 -shared -fPIC -fvisibility=hidden -o "$prefix/lib/libprocesskit.so.1" \
        -Wl,-soname,libprocesskit.so.1 -Wl,--version-script="$CRATE/csrc/processkit.map" "$CRATE/csrc/processkit.c" -pthread &&
      ln -sf libprocesskit.so.1 "$prefix/lib/libprocesskit.so" &&
      cp "$CRATE/csrc/processkit.h" "$prefix/include/" &&
      sed "s/@VERSION@/$version/" "$REPO/dist/processkit.pc.in" >"$prefix/lib/pkgconfig/processkit.pc"
  }
  check "system: a libprocesskit $version with its processkit.pc in a temp prefix" install_lib
  sys_app=$PROJECT/app-system
  check "system: cargo add --path bindings/rust --no-default-features" new_app "$sys_app" --no-default-features
  check "system: cargo build finds it through pkg-config (PKG_CONFIG_PATH only)" \
    scrubbed env -C "$sys_app" CARGO_TARGET_DIR="$sys_app/target" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cargo build
  sys_bin=$sys_app/target/debug/app
  if [ -x "$sys_bin" ]; then
    check "system: the program links libprocesskit.so.1" sh -c "readelf -d '$sys_bin' | grep -q 'NEEDED.*libprocesskit.so.1'"
    # Found at run time the system's way; here, a prefix off the loader's path.
    run_and_check_grandchild "system: the program" env LD_LIBRARY_PATH="$prefix/lib" "$sys_bin"
  fi
  # The error a user without the library sees (unless one is installed).
  no_lib() {
    ! scrubbed env -C "$sys_app" CARGO_TARGET_DIR="$sys_app/target-none" PKG_CONFIG_PATH="$PROJECT/none" \
      cargo build >"$PROJECT/no-lib.log" 2>&1 && grep -q 'pkg-config did not find it' "$PROJECT/no-lib.log"
  }
  if ! scrubbed pkg-config --exists processkit; then
    check "system: without the library, the build stops and says why" no_lib
  fi
fi

finish
