//! Safe extraction of `.tar.gz` archives (LFW's `lfw.tgz`).
//!
//! Archive paths are never trusted: an entry with an absolute path, a `..` component, a Windows
//! drive prefix, or of any type other than a plain file or directory (symbolic and hard links,
//! devices, FIFOs) rejects the whole archive. Links are not extracted at all, so none can point
//! outside the target. Entries are written into a temporary directory beside the target, which
//! is renamed to the target only when every entry was extracted; on any error it is removed, so
//! either the whole archive is there or nothing is.

use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::error::{FetchError, Result};

/// Extracts the gzip-compressed tar `archive` into the new directory `target` (which must not
/// exist yet) and returns the relative paths of the files written, in archive order.
///
/// # Errors
/// [`FetchError::UnsafeArchiveEntry`] naming the first unsafe entry (nothing is kept),
/// [`FetchError::Format`] for a broken archive, [`FetchError::Io`] naming the file involved.
pub fn extract_tar_gz(archive: &Path, target: &Path) -> Result<Vec<PathBuf>> {
    if target.exists() {
        let err = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "extraction target already exists");
        return Err(FetchError::io(target, err));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| FetchError::io(parent, e))?;
    let staging = crate::write::temp_builder(0o777)
        .prefix(".extract-")
        .tempdir_in(parent)
        .map_err(|e| FetchError::io(parent, e))?;
    let files = extract_into(archive, staging.path())?;
    let staged = staging.keep();
    std::fs::rename(&staged, target).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        FetchError::io(target, e)
    })?;
    Ok(files)
}

fn extract_into(archive: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let file = File::open(archive).map_err(|e| FetchError::io(archive, e))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let broken =
        |e: std::io::Error| FetchError::format(archive, "a gzip-compressed tar archive", format!("a broken one ({e})"));
    let mut files = Vec::new();
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let relative = safe_relative_path(archive, &raw)?;
        let out = dir.join(&relative);
        match entry.header().entry_type() {
            EntryType::Directory => std::fs::create_dir_all(&out).map_err(|e| FetchError::io(&out, e))?,
            EntryType::Regular | EntryType::Continuous => {
                write_entry(&mut entry, &out)?;
                files.push(relative);
            }
            other => return Err(unsafe_entry(archive, &raw, &format!("{other:?} entries are not extracted"))),
        }
    }
    Ok(files)
}

fn write_entry(entry: &mut impl std::io::Read, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FetchError::io(dir, e))?;
    }
    let mut file = File::create_new(out).map_err(|e| FetchError::io(out, e))?;
    std::io::copy(entry, &mut file).map_err(|e| FetchError::io(out, e))?;
    Ok(())
}

/// The entry's path as a relative path of normal components only (`./` removed).
fn safe_relative_path(archive: &Path, raw: &str) -> Result<PathBuf> {
    let mut relative = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry(archive, raw, "`..` would leave the target directory")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(archive, raw, "absolute paths are not extracted"));
            }
        }
    }
    if relative.as_os_str().is_empty() && !raw.trim_matches(['.', '/']).is_empty() {
        return Err(unsafe_entry(archive, raw, "no usable path"));
    }
    Ok(relative)
}

fn unsafe_entry(archive: &Path, entry: &str, reason: &str) -> FetchError {
    FetchError::UnsafeArchiveEntry { archive: archive.into(), entry: entry.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    /// One entry of a test archive: raw path bytes (written without tar's own path checks),
    /// type, contents, link target.
    struct TestEntry<'a> {
        path: &'a str,
        kind: EntryType,
        data: &'a [u8],
        link: Option<&'a str>,
    }

    fn file<'a>(path: &'a str, data: &'a [u8]) -> TestEntry<'a> {
        TestEntry { path, kind: EntryType::Regular, data, link: None }
    }

    /// Writes a `.tgz` with the entries exactly as given (a hostile archive can contain
    /// anything, so the test bypasses `tar::Header::set_path`'s validation).
    fn make_tgz(path: &Path, entries: &[TestEntry]) {
        let gz = GzEncoder::new(File::create(path).unwrap(), Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for e in entries {
            let mut header = tar::Header::new_gnu();
            let name = &mut header.as_old_mut().name;
            name.fill(0);
            name[..e.path.len()].copy_from_slice(e.path.as_bytes());
            header.set_entry_type(e.kind);
            header.set_size(e.data.len() as u64);
            header.set_mode(0o644);
            if let Some(link) = e.link {
                header.set_link_name_literal(link).unwrap();
            }
            header.set_cksum();
            builder.append(&header, e.data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        n.sort();
        n
    }

    #[test]
    fn extracts_files_in_person_folders() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("lfw.tgz");
        make_tgz(&archive, &[file("lfw/Ann_Lee/Ann_Lee_0001.jpg", b"one"), file("./lfw/Bo_Wu/Bo_Wu_0001.jpg", b"two")]);
        let target = dir.path().join("out");
        let files = extract_tar_gz(&archive, &target).unwrap();
        assert_eq!(
            files,
            vec![PathBuf::from("lfw/Ann_Lee/Ann_Lee_0001.jpg"), PathBuf::from("lfw/Bo_Wu/Bo_Wu_0001.jpg")]
        );
        assert_eq!(std::fs::read(target.join("lfw/Bo_Wu/Bo_Wu_0001.jpg")).unwrap(), b"two");
        assert_eq!(names(dir.path()), vec!["lfw.tgz", "out"]);
    }

    fn assert_rejected(entries: &[TestEntry], bad: &str, reason: &str) {
        let root = tempfile::tempdir().unwrap();
        let work = root.path().join("cache");
        std::fs::create_dir(&work).unwrap();
        let archive = work.join("evil.tgz");
        make_tgz(&archive, entries);
        let target = work.join("out");
        let err = extract_tar_gz(&archive, &target).unwrap_err().to_string();
        assert!(err.contains(&format!("unsafe archive entry `{bad}`")) && err.contains(reason), "{err}");
        assert_eq!(names(&work), vec!["evil.tgz"], "nothing extracted, no staging directory left");
        assert_eq!(names(root.path()), vec!["cache"], "nothing written outside the target");
    }

    #[test]
    fn parent_dir_entry_is_rejected_and_nothing_is_written() {
        let entries = [file("lfw/ok.jpg", b"fine"), file("lfw/../../escaped.txt", b"evil")];
        assert_rejected(&entries, "lfw/../../escaped.txt", "`..`");
    }

    #[test]
    fn absolute_path_entry_is_rejected_and_nothing_is_written() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("absolute.txt");
        let path = outside.to_str().unwrap().to_owned();
        let entries = [file("lfw/ok.jpg", b"fine"), file(&path, b"evil")];
        assert_rejected(&entries, &path, "absolute paths");
        assert!(!outside.exists());
    }

    #[test]
    fn links_are_rejected() {
        let link = TestEntry { path: "lfw/link", kind: EntryType::Symlink, data: b"", link: Some("/etc") };
        assert_rejected(&[link, file("lfw/link/passwd", b"evil")], "lfw/link", "Symlink entries are not extracted");
        let hard = TestEntry { path: "lfw/hard", kind: EntryType::Link, data: b"", link: Some("../../x") };
        assert_rejected(&[hard], "lfw/hard", "Link entries are not extracted");
    }

    #[test]
    fn existing_target_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tgz");
        make_tgz(&archive, &[file("x", b"1")]);
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let err = extract_tar_gz(&archive, &dir.path().join("out")).unwrap_err();
        let err = format!("{:#}", anyhow::Error::new(err));
        assert!(err.contains("already exists"), "{err}");
    }
}
