//! The one error type of `netlens-fetch`.

use std::path::PathBuf;

/// Errors while reading or preparing data sets on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The file could not be opened or read.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not in the expected format (not a `.npy`, a bad IDX magic number, …).
    #[error("{}: expected {expected}, found {found}", path.display())]
    Format { path: PathBuf, expected: String, found: String },
    /// The file ended before its header said it would.
    #[error("{}: truncated: the header promises {expected} bytes of data, found {found}", path.display())]
    Truncated { path: PathBuf, expected: u64, found: u64 },
    /// Images and labels do not pair up.
    #[error("{} has {images} images but {} has {labels} labels", images_path.display(), labels_path.display())]
    LengthMismatch { images_path: PathBuf, images: usize, labels_path: PathBuf, labels: usize },
    /// A label is outside `0..num_classes`.
    #[error("{}: label {label} at index {index} is outside 0–{}", path.display(), num_classes - 1)]
    LabelOutOfRange { path: PathBuf, index: usize, label: i64, num_classes: usize },
    /// A directory does not hold the files a data set needs.
    #[error("{}: expected {expected}", path.display())]
    MissingFiles { path: PathBuf, expected: String },
    /// The server answered with an HTTP error status.
    #[error("{url}: HTTP {status}")]
    HttpStatus { url: String, status: reqwest::StatusCode },
    /// The connection failed, timed out or broke off (after all retries).
    #[error("{url}: download failed")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The body ended before the length the server announced (after all retries).
    #[error("{url}: the download stopped after {found} of {expected} bytes")]
    Incomplete { url: String, expected: u64, found: u64 },
    /// The server answered a resume request with a different byte range (after all retries;
    /// the partial file has been removed, so a new attempt starts over).
    #[error("{url}: asked to resume from byte {asked}, the server sent another range")]
    BadRange { url: String, asked: u64 },
    /// A downloaded file does not have the pinned SHA-256; the file has been removed.
    #[error("checksum mismatch for `{file}`: expected sha256 {expected}, found {found} (the file was removed)")]
    ChecksumMismatch { file: String, expected: String, found: String },
    /// Neither `$NETLENS_CACHE` nor a platform cache directory is available.
    #[error("no cache directory: set NETLENS_CACHE or pass --cache DIR")]
    NoCacheDir,
    /// An archive entry that would be written outside the target directory, or is not a plain
    /// file or directory. Nothing of the archive is kept.
    #[error("{}: unsafe archive entry `{entry}`: {reason}", archive.display())]
    UnsafeArchiveEntry { archive: PathBuf, entry: String, reason: String },
    /// A JSON file is not of the expected form, or a value cannot be written as JSON.
    #[error("{}: not the expected JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A folder given as a run is none of the kinds netlens writes.
    #[error("{}: not a run folder: {reason}", path.display())]
    NotARun { path: PathBuf, reason: String },
    /// A setting outside its valid range.
    #[error(transparent)]
    Setting(#[from] crate::runs::InvalidSetting),
    /// A class asked for (`--classes`) is not in the data set.
    #[error("{}: no class `{class}`; available: {}", path.display(), available.join(", "))]
    UnknownClass { path: PathBuf, class: String, available: Vec<String> },
    /// An image file could not be decoded.
    #[error("{}: cannot decode image", path.display())]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
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
