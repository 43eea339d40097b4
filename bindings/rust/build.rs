//! Links libnn.
//!
//! - `NN_LIB_DIR` set (the CMake build folder holding `libnn.so`): link from
//!   there and add it to the rpath of test binaries and executables, so they
//!   run without `LD_LIBRARY_PATH`.
//! - otherwise: `-lnn` from the system's library path (e.g. `/usr/local/lib`).
use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=NN_LIB_DIR");
    if let Ok(dir) = env::var("NN_LIB_DIR") {
        if !dir.is_empty() {
            let dir = Path::new(&dir);
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            println!("cargo:rerun-if-changed={}", dir.join("libnn.so").display());
        }
    }
    println!("cargo:rustc-link-lib=dylib=nn");
}
