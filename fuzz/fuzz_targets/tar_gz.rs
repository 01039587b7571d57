//! The `.tar.gz` extractor, in a fresh directory per input, with its promises checked:
//! nothing is written outside the target, no links are extracted, on `Err` nothing is left
//! (no target, no staging directory), on `Ok` every file it names is a regular file in the
//! target.
//!
//! Layout per input: `<scratch>/run/` is the jail; it holds `in.tgz` and `work/`, and the
//! extraction target is `work/out`. The jail is emptied before and after each input, and the
//! whole scratch directory must hold only the jail. A write to an absolute path elsewhere, or
//! relative to the working directory, would not be seen here (the working directory is not
//! moved into the jail, since libFuzzer writes new corpus entries relative to it); the
//! extractor refuses absolute and `..` entry paths, and the `tar` crate is never asked to unpack
//! (only to list entries), so every write goes through `target.join(relative)`.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use netlens_fetch::extract_tar_gz;
use netlens_fuzz::Run;

/// Every path under `dir` (not following links), relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let entry = entry.expect("read a directory entry");
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("stat an extracted entry");
        assert!(!meta.file_type().is_symlink(), "a symbolic link was extracted: {}", path.display());
        out.push(path.strip_prefix(root).expect("under the root").to_path_buf());
        if meta.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Removes everything in `dir` but not `dir` itself.
fn empty(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list the jail").flatten() {
        let path = entry.path();
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        let _ = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
    }
}

fuzz_target!(init: netlens_fuzz::init("tar_gz"), |data: &[u8]| {
    let run = Run::new("tar_gz", data);
    let scratch = netlens_fuzz::scratch_dir("tar_gz");
    let jail = scratch.join("run");
    std::fs::create_dir_all(&jail).expect("create the jail");
    empty(&jail);
    let work = jail.join("work");
    std::fs::create_dir(&work).expect("create the work directory");
    let archive = jail.join("in.tgz");
    std::fs::write(&archive, data).expect("write the archive");
    let target = work.join("out");

    let result = run.call("extract_tar_gz", || extract_tar_gz(&archive, &target));

    let mut found = Vec::new();
    walk(&jail, &jail, &mut found);
    found.sort();
    let outside: Vec<&PathBuf> = found
        .iter()
        .filter(|p| !(*p == Path::new("in.tgz") || *p == Path::new("work") || p.starts_with("work/out")))
        .collect();
    assert!(outside.is_empty(), "written outside the target: {outside:?} (result {result:?})");
    assert!(
        std::fs::read_dir(scratch).expect("list the scratch directory").count() == 1,
        "written beside the jail (result {result:?})"
    );
    match result {
        Ok(files) => {
            for file in &files {
                let meta = std::fs::symlink_metadata(target.join(file)).expect("a named file exists");
                assert!(meta.is_file(), "{} is not a regular file", file.display());
            }
        }
        Err(err) => {
            assert!(!target.exists(), "target left behind after {err}");
            assert!(found.len() == 2, "left behind after {err}: {found:?}");
        }
    }
    empty(&jail);
});
