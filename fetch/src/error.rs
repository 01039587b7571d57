//! The one error type of `netlens-fetch`.

use std::path::PathBuf;

/// Errors while reading or preparing data sets on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the expected format (not a `.npy`, a bad IDX magic number, …).
    #[error("{}: expected {expected}, found {found}", path.display())]
    Format {
        path: PathBuf,
        expected: String,
        found: String,
    },
    /// The file ended before its header said it would.
    #[error("{}: truncated: the header promises {expected} bytes of data, found {found}", path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    /// Images and labels do not pair up.
    #[error("{} has {images} images but {} has {labels} labels", images_path.display(), labels_path.display())]
    LengthMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },
    /// A label is outside `0..num_classes`.
    #[error("{}: label {label} at index {index} is outside 0–{}", path.display(), num_classes - 1)]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        num_classes: usize,
    },
    /// A directory does not hold the files a data set needs.
    #[error("{}: expected {expected}", path.display())]
    MissingFiles { path: PathBuf, expected: String },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, FetchError>;

impl FetchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Self::Format { path: path.into(), expected: expected.into(), found: found.into() }
    }
}
