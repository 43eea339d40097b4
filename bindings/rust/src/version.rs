//! The load-time version check: the crate refuses a libnn of another major
//! version than the one it was written for (`sys::NN_VERSION_MAJOR`).
//!
//! A Rust program links libnn when it starts, so "at load" means before the
//! first handle: every call that creates a tensor, layer, model or optimizer
//! runs [`check_version`] once (the answer is cached) and fails with
//! [`Status::Unsupported`] and a message naming both versions.
//!
//! For tests only, the environment variable `NN_BINDING_TEST_VERSION`
//! (an integer as `nn_version()` returns it) stands in for the library's answer.

use std::sync::OnceLock;

use crate::{sys, Error, Result, Status};

static VERDICT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

fn text(v: i32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

fn verdict() -> std::result::Result<(), String> {
    let lib = match std::env::var("NN_BINDING_TEST_VERSION").ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(v) => v,
        // SAFETY: no arguments.
        None => unsafe { sys::nn_version() },
    };
    if lib / 10000 == sys::NN_VERSION_MAJOR {
        Ok(())
    } else {
        Err(format!(
            "the loaded libnn is version {} but this crate (nn {}) needs libnn {}.x; \
             link a matching libnn (NN_LIB_DIR or pkg-config) or use a matching crate",
            text(lib),
            env!("CARGO_PKG_VERSION"),
            sys::NN_VERSION_MAJOR
        ))
    }
}

/// Checks once that the loaded libnn has this crate's major version; the
/// crate calls it before creating any handle. Errors with
/// [`Status::Unsupported`] and a message naming both versions.
pub fn check_version() -> Result<()> {
    VERDICT.get_or_init(verdict).clone().map_err(|m| Error::new(Status::Unsupported, m))
}

pub(crate) fn ensure_compatible() -> Result<()> {
    check_version()
}
