//! Provides the C library the bindings call.
//!
//! - Feature `bundled` (the default): compiles `csrc/processkit.c`, the whole
//!   library as one C11 file (tools/amalgamate writes it), with the cc crate
//!   and links it statically. Needs a C compiler, nothing else.
//! - Without it (`default-features = false`): links the system's
//!   libprocesskit, found through pkg-config (`processkit.pc`, installed with
//!   the library; `PKG_CONFIG_PATH` for a non-standard prefix). Setting
//!   `PROCESSKIT_LIB_DIR` to a directory holding `libprocesskit.so` skips
//!   pkg-config and links that one instead.
//!
//! Either way the library's include directory is passed on to dependents'
//! build scripts as `DEP_PROCESSKIT_INCLUDE` (where known).
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "bundled")]
    bundled();
    #[cfg(not(feature = "bundled"))]
    system();
}

#[cfg(feature = "bundled")]
fn bundled() {
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let csrc = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("csrc");
    for file in ["processkit.c", "processkit.h"] {
        println!("cargo:rerun-if-changed={}", csrc.join(file).display());
    }
    // processkit.c defines _GNU_SOURCE (Linux) itself and needs nothing but
    // C11 and threads. No -fvisibility=hidden: the pk_ functions carry
    // default visibility in processkit.h anyway, and a static archive needs
    // none of the shared library's export control.
    let mut build = cc::Build::new();
    build.file(csrc.join("processkit.c")).include(&csrc).std("c11");
    let compiler = build.get_compiler();
    if target_os != "windows" && (compiler.is_like_gnu() || compiler.is_like_clang()) {
        build.flag("-pthread");
    }
    build.compile("processkit"); // libprocesskit.a in OUT_DIR, linked static=processkit
    match target_os.as_str() {
        "windows" => println!("cargo:rustc-link-lib=ws2_32"),
        "linux" | "android" => println!("cargo:rustc-link-lib=pthread"),
        _ => {}
    }
    println!("cargo:include={}", csrc.display());
}

#[cfg(not(feature = "bundled"))]
fn system() {
    println!("cargo:rerun-if-env-changed=PROCESSKIT_LIB_DIR");
    if let Some(dir) = env::var_os("PROCESSKIT_LIB_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.join("libprocesskit.so").exists() {
            println!("cargo:warning=PROCESSKIT_LIB_DIR={} has no libprocesskit.so", dir.display());
        }
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=processkit");
        // For this crate's own tests, examples and binaries; dependents find
        // the library at run time the system's way (ldconfig, LD_LIBRARY_PATH).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        println!("cargo:lib_dir={}", dir.display()); // DEP_PROCESSKIT_LIB_DIR
        return;
    }
    // The pkg-config crate prints the -L/-l lines, and passes the .pc's
    // -Wl,-rpath on to this crate's own tests and examples (it also watches
    // PKG_CONFIG_PATH for reruns).
    match pkg_config::Config::new().atleast_version("1.0").probe("processkit") {
        Ok(lib) => {
            if let Some(dir) = lib.link_paths.first() {
                println!("cargo:lib_dir={}", dir.display());
            }
            if let Some(inc) = lib.include_paths.first() {
                println!("cargo:include={}", inc.display());
            }
        }
        Err(e) => {
            eprintln!(
                "processkit-c: the system libprocesskit was asked for (default-features = false) \
                 but pkg-config did not find it:\n{e}\n\nInstall libprocesskit (with its \
                 processkit.pc), point PKG_CONFIG_PATH at the directory holding processkit.pc, \
                 or use the default `bundled` feature, which compiles the library from the \
                 crate's own C source."
            );
            std::process::exit(1);
        }
    }
}
