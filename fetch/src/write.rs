//! Writing files so that a reader never sees half of one.

use std::io::Write;
use std::path::Path;

use crate::error::{FetchError, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed over `path`
/// only once everything is written and flushed. Creates the parent directory.
///
/// # Errors
/// [`FetchError::Io`] naming `path` on any failure; no partial file is left at `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| FetchError::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| FetchError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| FetchError::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| FetchError::io(path, e))?;
    tmp.persist(path).map_err(|e| FetchError::io(path, e.error))?;
    Ok(())
}
