//! The one error type of `netlens-analyze`.

use std::path::PathBuf;

/// Errors of the analyses, figures and reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// A parameter outside its valid range.
    #[error(transparent)]
    InvalidParam(#[from] netlens_fetch::runs::InvalidSetting),
    /// A file could not be written or read.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content could not be parsed.
    #[error("{}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    /// plotters failed to draw a figure.
    #[error("drawing a figure failed: {0}")]
    Plot(String),
    /// A linear-algebra routine failed (e.g. an eigendecomposition did not converge).
    #[error("{what} failed: {reason}")]
    Numeric { what: String, reason: String },
    /// A class with too few examples for a class-balanced sample.
    #[error(
        "class {label} (`{class}`) has {found} examples in the data; the sample needs {needed} per class (at least {minimum})"
    )]
    ClassTooSmall { label: usize, class: String, found: usize, needed: usize, minimum: usize },
    /// t-SNE did not finish (bhtsne panicked).
    #[error("t-SNE on {n} samples × {dims} features failed: {reason}")]
    Tsne { n: usize, dims: usize, reason: String },
    /// A figure could not be drawn.
    #[error("{}: cannot draw the figure: {reason}", path.display())]
    Figure { path: PathBuf, reason: String },
    /// tract could not load or run a model.
    #[error("{}: tract: {reason}", path.display())]
    Tract { path: PathBuf, reason: String },
    /// A named group is not in the groups file.
    #[error("{}: no group `{group}`; available: {}", path.display(), available.join(", "))]
    UnknownGroup { group: String, path: PathBuf, available: Vec<String> },
    /// An image index past the end of the data.
    #[error("image index {index} out of range: {what} holds {count} images (0–{})", count.saturating_sub(1))]
    IndexOutOfRange { index: usize, count: usize, what: String },
    /// The decoder does not take the encoder's latent size.
    #[error("latent size mismatch: encoder {} gives {encoder} dimensions, decoder {} takes {decoder}", encoder_path.display(), decoder_path.display())]
    LatentMismatch { encoder_path: PathBuf, encoder: usize, decoder_path: PathBuf, decoder: usize },
    /// Data or a model has another shape than needed.
    #[error("{what}: expected {expected}, found {found}")]
    ShapeMismatch { what: String, expected: String, found: String },
    /// A folder given as a run is none of the kinds the report reads.
    #[error("{}: not a run folder: {reason}", path.display())]
    NotARun { path: PathBuf, reason: String },
    /// NaN or ±∞ where numbers were expected (see `finite`).
    #[error("{what}: {count} of {total} values are not finite, the first ({value}) at {at}")]
    NonFinite { what: String, at: String, value: String, count: usize, total: usize },
    /// An error from the ONNX layer.
    #[error(transparent)]
    Onnx(#[from] netlens_onnx::OnnxError),
    /// An error from the data layer.
    #[error(transparent)]
    Fetch(#[from] netlens_fetch::FetchError),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, AnalyzeError>;
