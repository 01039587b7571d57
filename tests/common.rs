//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` beside the repository.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// The course's small Fashion-MNIST set.
pub fn fashion_small() -> PathBuf {
    shared().join("data/fashion-mnist-small")
}

/// Runs the `netlens` binary with `args`.
pub fn netlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netlens"))
        .args(args)
        .output()
        .expect("the netlens binary runs")
}

/// Asserts success and returns stdout; prints stderr on failure.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "netlens failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with exit code 1 and returns stderr.
pub fn fails(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected exit 1; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}
