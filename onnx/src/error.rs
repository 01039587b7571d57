//! The one error type of `netlens-onnx`. Each variant names the file, layer or node involved,
//! what was expected and what was found.

use std::path::PathBuf;

/// Errors while reading, converting or running an ONNX model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX model.
    #[error("{}: not a valid ONNX model: {reason}", path.display())]
    NotOnnx { path: PathBuf, reason: String },
    /// A layer or tensor name that the graph does not have.
    #[error("layer `{name}` not in {}; available: {}", path.display(), available.join(", "))]
    UnknownLayer { path: PathBuf, name: String, available: Vec<String> },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, OnnxError>;
