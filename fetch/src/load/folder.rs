//! Image folders: torchvision's `ImageFolder` layout (`ROOT/CLASS/…/*.png`).

use std::path::{Path, PathBuf};

use super::{DataFormat, DataSource, Items};
use crate::course::Split;
use crate::error::{FetchError, Result};

/// File extensions read as images (lower case; matched case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

fn is_image(path: &Path) -> bool {
    path.extension().is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_lowercase().as_str()))
}

/// Decodes an image file into 8-bit planes: 1 channel for grey images (kept grey, so a grey
/// PNG gives its exact values), 3 (RGB) otherwise; alpha is dropped, 16-bit is reduced to 8.
///
/// # Shapes
/// Returns `[channels, height, width]` planes and that shape.
///
/// # Errors
/// [`FetchError::Io`] if unreadable, [`FetchError::Image`] if it does not decode,
/// [`FetchError::Format`] for a JPEG cut off before its end marker.
pub fn read_image_u8(path: &Path) -> Result<(Vec<u8>, [usize; 3])> {
    let reader = image::ImageReader::open(path).map_err(|e| FetchError::io(path, e))?;
    let reader = reader.with_guessed_format().map_err(|e| FetchError::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        crate::imagenet::check_jpeg_complete(path)?;
    }
    let decoded = reader.decode().map_err(|source| FetchError::Image { path: path.into(), source })?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    if decoded.color().has_color() {
        let rgb = decoded.to_rgb8();
        let planes = (0..3).flat_map(|c| rgb.pixels().map(move |p| p.0[c])).collect::<Vec<u8>>();
        Ok((planes, [3, h, w]))
    } else {
        Ok((decoded.to_luma8().into_raw(), [1, h, w]))
    }
}

/// Opens `root` (or `root/test`, `root/val` for the test split, `root/train` for training).
pub(super) fn open(root: &Path, split: Split) -> Result<DataSource> {
    let names: &[&str] = if split == Split::Train { &["train"] } else { &["test", "val"] };
    let root = names.iter().map(|n| root.join(n)).find(|p| p.is_dir()).unwrap_or_else(|| root.to_path_buf());
    let classes = subfolders(&root)?;
    let mut warnings = vec![];
    if classes.is_empty() {
        let files = images_in(&root, &mut warnings, false)?;
        if files.is_empty() {
            return Err(not_a_data_folder(&root));
        }
        let labels = vec![0; files.len()];
        return Ok(source(&root, files, labels, false, vec![], warnings));
    }
    let (mut files, mut labels, mut class_names) = (vec![], vec![], vec![]);
    for (label, class) in classes.iter().enumerate() {
        let found = images_in(class, &mut warnings, true)?;
        if found.is_empty() {
            return Err(FetchError::MissingFiles {
                path: class.clone(),
                expected: format!(
                    "images (.{}) in every class folder; this one has none",
                    IMAGE_EXTENSIONS.join(", .")
                ),
            });
        }
        labels.extend(std::iter::repeat_n(label as u32, found.len()));
        files.extend(found);
        class_names.push(class.file_name().unwrap_or_default().to_string_lossy().into_owned());
    }
    Ok(source(&root, files, labels, true, class_names, warnings))
}

fn source(
    root: &Path,
    files: Vec<PathBuf>,
    labels: Vec<u32>,
    labelled: bool,
    class_names: Vec<String>,
    warnings: Vec<String>,
) -> DataSource {
    DataSource {
        path: root.into(),
        format: DataFormat::ImageFolder,
        labels,
        labelled,
        class_names,
        items: Items::Files(files),
        warnings,
    }
}

fn not_a_data_folder(root: &Path) -> FetchError {
    FetchError::MissingFiles {
        path: root.into(),
        expected: format!(
            "a data set: X_test.npy and Y_test.npy (the course layout), t10k-*-ubyte[.gz] (IDX), CIFAR-10 .bin \
             batches, or image files (.{}) in one folder per class",
            IMAGE_EXTENSIONS.join(", .")
        ),
    }
}

/// Entries of `dir`, sorted by name as Python's `sorted` sorts `str` (by code point).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| FetchError::io(dir, e))?;
    let mut entries =
        read.map(|e| e.map(|e| e.path()).map_err(|err| FetchError::io(dir, err))).collect::<Result<Vec<_>>>()?;
    entries.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(entries)
}

/// Class folders: every subfolder, sorted (torchvision's `find_classes`).
fn subfolders(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect())
}

/// Image files under `dir` (recursively when `recurse`, as torchvision walks a class folder),
/// files of a directory sorted by name and directories in sorted order; other files are
/// skipped with a warning.
fn images_in(dir: &Path, warnings: &mut Vec<String>, recurse: bool) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut subdirs = vec![];
    for entry in sorted_entries(dir)? {
        if entry.is_dir() {
            subdirs.push(entry);
        } else if is_image(&entry) {
            out.push(entry);
        } else {
            warnings.push(format!(
                "{}: skipped, not an image file (expected .{})",
                entry.display(),
                IMAGE_EXTENSIONS.join(", .")
            ));
        }
    }
    if recurse {
        for sub in subdirs {
            out.extend(images_in(&sub, warnings, true)?);
        }
    }
    Ok(out)
}
