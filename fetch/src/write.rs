//! Writing files so that a reader never sees half of one.

use std::io::Write;
use std::path::Path;

use crate::error::{FetchError, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory, renamed over `path`
/// only once everything is written and flushed. Creates the parent directory. The file gets the
/// permissions `File::create` would give (0666 less the umask), not the temporary file's 0600.
///
/// # Errors
/// [`FetchError::Io`] naming `path` on any failure; no partial file is left at `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| FetchError::io(dir, e))?;
    let mut tmp = temp_builder(0o666).tempfile_in(dir).map_err(|e| FetchError::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| FetchError::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| FetchError::io(path, e))?;
    tmp.persist(path).map_err(|e| FetchError::io(path, e.error))?;
    Ok(())
}

/// A temporary-file builder whose file or folder is created with `mode` (unix; narrowed by the
/// umask like any new file), so that what is renamed into place is as readable as a file
/// written directly.
pub(crate) fn temp_builder(mode: u32) -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_written_file_is_as_readable_as_one_created_directly() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let direct = dir.path().join("direct");
        std::fs::File::create(&direct).unwrap();
        let atomic = dir.path().join("out/atomic.json");
        write_atomically(&atomic, b"{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&direct));
        assert_eq!(std::fs::read(&atomic).unwrap(), b"{}");
    }
}
