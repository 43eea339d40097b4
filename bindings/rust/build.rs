//! Links libnn.
//!
//! - `NN_LIB_DIR` set (a folder holding `libnn.so`, e.g. the CMake build
//!   folder): link from there and add it to the rpath of test binaries and
//!   executables, so they run without `LD_LIBRARY_PATH`.
//! - otherwise, when the `pkg-config` program knows `nn` (an installed libnn;
//!   `PKG_CONFIG_PATH` for a non-system prefix): its `-L` folders are searched
//!   and put in the rpath, its `-l` libraries linked (a static libnn.a's
//!   private dependencies included: oneDNN, OpenMP, libstdc++, ...).
//! - otherwise: `-lnn` from the system's library path (e.g. `/usr/local/lib`).
//!
//! No crates: the `pkg-config` program is run directly.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn link_dir(dir: &Path) {
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

/// `pkg-config --libs nn` split into (-L folders, -l names), or None.
fn pkg_config() -> Option<(Vec<PathBuf>, Vec<String>)> {
    let pc = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(pc).args(["--libs", "nn"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let (mut dirs, mut libs) = (Vec::new(), Vec::new());
    for flag in text.split_whitespace() {
        if let Some(d) = flag.strip_prefix("-L") {
            dirs.push(PathBuf::from(d));
        } else if let Some(l) = flag.strip_prefix("-l") {
            libs.push(l.to_string());
        }
    }
    Some((dirs, libs))
}

fn main() {
    println!("cargo:rerun-if-env-changed=NN_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    if let Ok(dir) = env::var("NN_LIB_DIR") {
        if !dir.is_empty() {
            let dir = Path::new(&dir);
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
            link_dir(&dir);
            println!("cargo:rerun-if-changed={}", dir.join("libnn.so").display());
            println!("cargo:rustc-link-lib=dylib=nn");
            return;
        }
    }
    if let Some((dirs, libs)) = pkg_config() {
        // A folder with libnn.a but no libnn.so holds a static build.
        let is_static = dirs.iter().any(|d| d.join("libnn.a").exists() && !d.join("libnn.so").exists());
        for d in &dirs {
            link_dir(d);
        }
        for l in &libs {
            if l == "nn" {
                println!("cargo:rustc-link-lib={}=nn", if is_static { "static" } else { "dylib" });
            } else {
                println!("cargo:rustc-link-lib=dylib={l}");
            }
        }
        if !libs.iter().any(|l| l == "nn") {
            println!("cargo:rustc-link-lib=dylib=nn");
        }
        return;
    }
    println!("cargo:rustc-link-lib=dylib=nn");
}
