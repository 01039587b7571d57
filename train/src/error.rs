//! The one error type of `netlens-train`.

use std::path::PathBuf;

/// Errors of training, checkpoints and export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A file in the run folder could not be read or written.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// burn could not save or load a checkpoint.
    #[error("{}: checkpoint: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    /// The data do not fit the model.
    #[error("{what}: expected {expected}, found {found}")]
    DataMismatch { what: String, expected: String, found: String },
    /// A hyper-parameter outside its valid range.
    #[error(transparent)]
    InvalidParam(#[from] netlens_fetch::runs::InvalidSetting),
    /// The run folder already holds a run, or holds none to resume.
    #[error("{}: {reason}", path.display())]
    RunFolder { path: PathBuf, reason: String },
    /// The requested device is not compiled in or not available.
    #[error("device `{name}`: {reason}")]
    Device { name: String, reason: String },
    /// burn-onnx refused to export the model.
    #[error("ONNX export failed")]
    Export(#[from] burn_onnx::export::ExportError),
    /// Loading data failed.
    #[error(transparent)]
    Data(#[from] netlens_fetch::FetchError),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
