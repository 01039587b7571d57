//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` beside the repository.
pub fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../shared")
}

/// The course's small Fashion-MNIST set.
pub fn fashion_small() -> PathBuf {
    shared().join("data/fashion-mnist-small")
}

/// Runs the `netlens` binary with `args`.
pub fn netlens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netlens")).args(args).output().expect("the netlens binary runs")
}

/// A `.npy` file (bytes) of uint8 `values` with `shape`, row-major.
pub fn npy_u8(shape: &[u64], values: impl IntoIterator<Item = u8>) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut buf).begin_nd().unwrap();
    w.extend(values).unwrap();
    w.finish().unwrap();
    buf
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

/// Asserts a usage error (exit 2: an argument clap refuses) and returns stderr.
pub fn usage_error(out: Output) -> String {
    assert_eq!(out.status.code(), Some(2), "expected exit 2; stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The Python that has the `onnx` package: `$NETLENS_PYTHON`, else the repository's `.venv`
/// (made by `.ci/run`), else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("NETLENS_PYTHON") {
        return p.into();
    }
    let venv = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join(".venv/bin/python");
    if venv.exists() { venv } else { "python3".into() }
}

/// Runs the official ONNX checker (`onnx.checker.check_model(full_check=True)`) on `path` and
/// panics with its message when the model is invalid or the checker is missing.
pub fn assert_onnx_checker_passes(path: &Path) {
    let script = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)";
    let out = Command::new(python()).args(["-c", script]).arg(path).output().expect("python runs");
    assert!(
        out.status.success(),
        "ONNX checker rejected {} (needs `pip install onnx`, see README):\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads a float32 `.npy` file: (shape, values).
pub fn read_npy_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// Reads a uint8 `.npy` file: (shape, values).
pub fn read_npy_u8(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    (shape, npy.into_vec::<u8>().unwrap())
}
