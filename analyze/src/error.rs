//! The one error type of `netlens-analyze`.

use std::path::PathBuf;

/// Errors of the analyses, figures and reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// A parameter outside its valid range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParam { name: String, value: String, reason: String },
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error from the ONNX layer.
    #[error(transparent)]
    Onnx(#[from] netlens_onnx::OnnxError),
    /// An error from the data layer.
    #[error(transparent)]
    Fetch(#[from] netlens_fetch::FetchError),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, AnalyzeError>;
