//! Finds libprocesskit.so. Set PROCESSKIT_LIB_DIR to the directory holding
//! libprocesskit.so (and its SONAME link libprocesskit.so.1): it is added to
//! the linker's search path and, for this crate's own tests, examples and
//! binaries, to the run-time search path (rpath). Without it the library must
//! be where the system linker looks (e.g. an installed /usr/local/lib).
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=PROCESSKIT_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    if let Ok(dir) = env::var("PROCESSKIT_LIB_DIR") {
        if !dir.is_empty() {
            let so = Path::new(&dir).join("libprocesskit.so");
            if !so.exists() {
                println!("cargo:warning=PROCESSKIT_LIB_DIR={} has no libprocesskit.so", dir);
            }
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir);
            // Exposed to dependents' build scripts as DEP_PROCESSKIT_LIB_DIR.
            println!("cargo:lib_dir={}", dir);
        }
    }
}
