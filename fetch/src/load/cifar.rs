//! CIFAR-10's binary batches (<https://www.cs.toronto.edu/~kriz/cifar.html>, "binary version"):
//! records of 1 label byte and 3,072 pixel bytes (the 1,024 red, then green, then blue values
//! of a 32×32 image, row-major); `data_batch_1.bin` … `data_batch_5.bin` (training),
//! `test_batch.bin`, and `batches.meta.txt` (the class names, one per line).

use std::path::{Path, PathBuf};

use super::{DataFormat, DataSource};
use crate::course::Split;
use crate::dataset::{Dataset, Images};
use crate::error::{FetchError, Result};

/// Side of a CIFAR-10 image in pixels.
const SIDE: usize = 32;

/// Bytes per record: 1 label + 3 × 32 × 32 pixels.
pub const CIFAR10_RECORD_BYTES: usize = 1 + 3 * SIDE * SIDE;

/// CIFAR-10's class names in label order (`batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Encodes images and labels as a CIFAR-10 binary batch (for tests and conversions).
///
/// # Shapes
/// `pixels`: `[n, 3, 32, 32]` uint8 (R, G, B planes); `labels`: `[n]`.
///
/// # Panics
/// If `pixels.len() != labels.len() * 3072`.
pub fn encode_cifar10_batch(pixels: &[u8], labels: &[u8]) -> Vec<u8> {
    assert_eq!(pixels.len(), labels.len() * (CIFAR10_RECORD_BYTES - 1), "3,072 pixels per label");
    let mut out = Vec::with_capacity(labels.len() * CIFAR10_RECORD_BYTES);
    for (image, &label) in pixels.chunks_exact(CIFAR10_RECORD_BYTES - 1).zip(labels) {
        out.push(label);
        out.extend_from_slice(image);
    }
    out
}

/// A CIFAR-10 source in `dir` (or `dir/cifar-10-batches-bin`), if its batch files are there.
pub(super) fn open_dir(dir: &Path, split: Split) -> Result<Option<DataSource>> {
    let dir = [dir.join("cifar-10-batches-bin"), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join("test_batch.bin").exists() || d.join("data_batch_1.bin").exists());
    let Some(dir) = dir else { return Ok(None) };
    let files: Vec<PathBuf> = match split {
        Split::Test => vec![dir.join("test_batch.bin")],
        Split::Train => (1..=5).map(|i| dir.join(format!("data_batch_{i}.bin"))).filter(|p| p.exists()).collect(),
    };
    open_files(&dir, &files).map(Some)
}

/// Reads the batches `files` (class names from `batches.meta.txt` beside the first).
pub(super) fn open_files(path: &Path, files: &[PathBuf]) -> Result<DataSource> {
    let (mut pixels, mut labels) = (vec![], vec![]);
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| FetchError::io(file, e))?;
        if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR10_RECORD_BYTES) {
            return Err(FetchError::format(
                file,
                format!("CIFAR-10 records of {CIFAR10_RECORD_BYTES} bytes (1 label + 3×32×32 pixels)"),
                format!("{} bytes, not a multiple of {CIFAR10_RECORD_BYTES}", bytes.len()),
            ));
        }
        for record in bytes.chunks_exact(CIFAR10_RECORD_BYTES) {
            labels.push(record[0] as u32);
            pixels.extend(record[1..].iter().map(|&v| v as f32 / 255.0));
        }
    }
    let class_names = class_names(files.first().map_or(path, |f| f.as_path()))?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= class_names.len()) {
        return Err(FetchError::LabelOutOfRange {
            path: path.into(),
            index,
            label: label.into(),
            num_classes: class_names.len(),
        });
    }
    let n = labels.len();
    let data = Dataset { images: Images { data: pixels, shape: [n, 3, SIDE, SIDE] }, labels, class_names };
    Ok(DataSource::from_dataset(path, DataFormat::Cifar10, data))
}

fn class_names(batch: &Path) -> Result<Vec<String>> {
    let meta = batch.with_file_name("batches.meta.txt");
    if !meta.exists() {
        return Ok(CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect());
    }
    let text = std::fs::read_to_string(&meta).map_err(|e| FetchError::io(&meta, e))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
}
