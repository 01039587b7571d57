//! NumPy `.npz` archives (a ZIP of `.npy` files, `numpy.savez`): images `x` and labels `y`, or
//! `x_test`/`y_test` and `x_train`/`y_train` per split.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataFormat, DataSource};
use crate::course::{Split, load_npy_images};
use crate::dataset::Dataset;
use crate::error::{FetchError, Result};

/// Largest member read (guards against a ZIP bomb): 8 GiB.
const MAX_MEMBER_BYTES: u64 = 8 << 30;

pub(super) fn open(path: &Path, split: Split) -> Result<DataSource> {
    let file = std::fs::File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        FetchError::format(path, "a .npz file (a ZIP of .npy arrays)", format!("not a ZIP archive ({e})"))
    })?;
    let members: Vec<String> = zip.file_names().filter_map(|n| n.ok().map(|n| n.into_owned())).collect();
    let s = if split == Split::Train { "train" } else { "test" };
    let pick = |names: [&str; 2]| names.into_iter().map(|n| format!("{n}.npy")).find(|n| members.contains(n));
    let (Some(x), Some(y)) = (pick([&format!("x_{s}"), "x"]), pick([&format!("y_{s}"), "y"])) else {
        return Err(FetchError::format(
            path,
            format!("arrays `x` and `y` (or `x_{s}` and `y_{s}`)"),
            format!("arrays {}", members.iter().map(|m| m.trim_end_matches(".npy")).collect::<Vec<_>>().join(", ")),
        ));
    };
    // The .npy readers work on files: the two members go into a temporary folder named after
    // the archive, and [`beside_archive`] makes their errors read `dir/data.npz/x.npy`.
    let tmp = tempfile::tempdir().map_err(|e| FetchError::io(std::env::temp_dir(), e))?;
    let dir = tmp.path().join(path.file_name().unwrap_or_default());
    std::fs::create_dir_all(&dir).map_err(|e| FetchError::io(&dir, e))?;
    for member in [&x, &y] {
        let mut entry = zip
            .by_name(member)
            .map_err(|e| FetchError::format(path, format!("a readable `{member}`"), e.to_string()))?;
        let mut bytes = vec![];
        (&mut entry).take(MAX_MEMBER_BYTES).read_to_end(&mut bytes).map_err(|e| FetchError::io(path, e))?;
        std::fs::write(dir.join(member), bytes).map_err(|e| FetchError::io(&dir, e))?;
    }
    let in_archive = |e| beside_archive(e, tmp.path(), path);
    let images = load_npy_images(&dir.join(&x)).map_err(in_archive)?;
    let labels = crate::npy::read_integers(&dir.join(&y), "(N,)").map_err(in_archive)?;
    if labels.shape.len() != 1 || labels.data.len() != images.len() {
        return Err(FetchError::format(
            path,
            format!("`{y}` of shape ({},) (one label per image of `{x}`)", images.len()),
            format!("shape {:?}", labels.shape),
        ));
    }
    if let Some((index, &label)) = labels.data.iter().enumerate().find(|(_, l)| **l < 0 || **l > u32::MAX as i64) {
        return Err(FetchError::LabelOutOfRange { path: path.into(), index, label, num_classes: u32::MAX as usize });
    }
    let classes = labels.data.iter().copied().max().map_or(0, |m| m as usize + 1);
    let data = Dataset {
        images,
        labels: labels.data.iter().map(|&l| l as u32).collect(),
        class_names: (0..classes).map(|c| c.to_string()).collect(),
    };
    Ok(DataSource::from_dataset(path, DataFormat::Npz, data))
}

/// `e` with the paths inside the temporary folder `tmp` written as inside the archive `archive`
/// (`/tmp/.tmpX/data.npz/x.npy` → `dir/data.npz/x.npy`), so no error names a file the user never
/// saw.
fn beside_archive(e: FetchError, tmp: &Path, archive: &Path) -> FetchError {
    let rebase = |p: PathBuf| match p.strip_prefix(tmp) {
        Ok(inside) => archive.parent().unwrap_or(Path::new("")).join(inside),
        Err(_) => p,
    };
    match e {
        FetchError::Io { path, source } => FetchError::Io { path: rebase(path), source },
        FetchError::Format { path, expected, found } => FetchError::Format { path: rebase(path), expected, found },
        FetchError::Truncated { path, expected, found } => {
            FetchError::Truncated { path: rebase(path), expected, found }
        }
        FetchError::LabelOutOfRange { path, index, label, num_classes } => {
            FetchError::LabelOutOfRange { path: rebase(path), index, label, num_classes }
        }
        FetchError::MissingFiles { path, expected } => FetchError::MissingFiles { path: rebase(path), expected },
        other => other,
    }
}
