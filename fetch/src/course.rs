//! The course's data layouts, loaded into [`Dataset`]:
//!
//! - `.npy` (the course's own): `X_train.npy`, `X_test.npy` uint8 `(N, 32, 32)` or
//!   `(N, C, H, W)`; `Y_train.npy`, `Y_test.npy` uint8 `(N,)` with labels 0–9.
//! - IDX (Fashion-MNIST's official files): `train-images-idx3-ubyte[.gz]`,
//!   `train-labels-idx1-ubyte[.gz]`, `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`;
//!   the 28×28 images are resized to 32×32 bilinearly (half-pixel centres) and rounded to uint8,
//!   as the course prepared its files.
//!
//! Pixels become `x / 255` in `[0, 1]`. The course's loader divides by (max − min) of the whole
//! array, which equals `x / 255` whenever both 0 and 255 occur (they do in every split).

use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Images, fashion_mnist_class_names};
use crate::error::{FetchError, Result};
use crate::idx::read_idx_u8;
use crate::npy::read_u8;
use crate::resize::resize_bilinear_u8;

/// Side of the course's square images.
pub const COURSE_IMAGE_SIZE: usize = 32;

/// Which half of a data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training split (`X_train`, `train-*`).
    Train,
    /// The test split (`X_test`, `t10k-*`).
    Test,
}

impl Split {
    fn npy_suffix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn idx_prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Loads one split of a Fashion-MNIST-like classification set from `dir`, in the course `.npy`
/// layout or as IDX files (see the module docs).
///
/// # Errors
/// [`FetchError::MissingFiles`] when `dir` holds neither layout; otherwise the errors of
/// [`load_npy_pair`] and [`load_idx_pair`].
pub fn load_split(dir: &Path, split: Split) -> Result<Dataset> {
    let s = split.npy_suffix();
    let x = dir.join(format!("X_{s}.npy"));
    let y = dir.join(format!("Y_{s}.npy"));
    if x.exists() || y.exists() {
        return load_npy_pair(&x, &y);
    }
    let p = split.idx_prefix();
    if let (Some(x), Some(y)) = (
        find_plain_or_gz(dir, &format!("{p}-images-idx3-ubyte")),
        find_plain_or_gz(dir, &format!("{p}-labels-idx1-ubyte")),
    ) {
        return load_idx_pair(&x, &y);
    }
    Err(FetchError::MissingFiles {
        path: dir.into(),
        expected: format!(
            "X_{s}.npy and Y_{s}.npy (the course layout), or {p}-images-idx3-ubyte[.gz] and {p}-labels-idx1-ubyte[.gz]"
        ),
    })
}

fn find_plain_or_gz(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")].into_iter().map(|n| dir.join(n)).find(|p| p.exists())
}

/// Loads images `(N, H, W)` or `(N, C, H, W)` (C = 1 or 3) as uint8 from a `.npy` file.
///
/// # Errors
/// [`FetchError::Format`] for another dtype or rank, plus the errors of [`read_u8`].
pub fn load_npy_images(path: &Path) -> Result<Images> {
    let want = "(N, H, W) or (N, C, H, W) with C = 1 or 3";
    let arr = read_u8(path, want)?;
    let shape = match arr.shape[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] if c == 1 || c == 3 => [n, c, h, w],
        _ => {
            let dims: Vec<String> = arr.shape.iter().map(|d| d.to_string()).collect();
            return Err(FetchError::format(path, format!("uint8 {want}"), format!("uint8 ({})", dims.join(", "))));
        }
    };
    Ok(Images { data: arr.data.iter().map(|&v| v as f32 / 255.0).collect(), shape })
}

/// Loads labels `(N,)` as uint8 from a `.npy` file.
fn load_npy_labels(path: &Path) -> Result<Vec<u8>> {
    let arr = read_u8(path, "(N,)")?;
    if arr.shape.len() != 1 {
        let dims: Vec<String> = arr.shape.iter().map(|d| d.to_string()).collect();
        return Err(FetchError::format(path, "uint8 (N,)", format!("uint8 ({})", dims.join(", "))));
    }
    Ok(arr.data)
}

/// Loads a course `.npy` pair (images, labels) into a [`Dataset`] with Fashion-MNIST's class names.
///
/// # Errors
/// [`FetchError::LengthMismatch`] when the counts differ, [`FetchError::LabelOutOfRange`] for a
/// label ≥ 10, and the errors of [`load_npy_images`].
pub fn load_npy_pair(images_path: &Path, labels_path: &Path) -> Result<Dataset> {
    let images = load_npy_images(images_path)?;
    let labels = load_npy_labels(labels_path)?;
    assemble(images, labels, images_path, labels_path)
}

/// Loads an IDX pair (28×28 images resized to 32×32, labels) into a [`Dataset`].
///
/// # Errors
/// As [`load_npy_pair`], plus the errors of [`read_idx_u8`].
pub fn load_idx_pair(images_path: &Path, labels_path: &Path) -> Result<Dataset> {
    let x = read_idx_u8(images_path, 3)?;
    let y = read_idx_u8(labels_path, 1)?;
    let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
    let s = COURSE_IMAGE_SIZE;
    let mut data = Vec::with_capacity(n * s * s);
    for plane in x.data.chunks_exact(h * w) {
        data.extend(resize_bilinear_u8(plane, h, w, s, s).into_iter().map(|v| v as f32 / 255.0));
    }
    assemble(Images { data, shape: [n, 1, s, s] }, y.data, images_path, labels_path)
}

fn assemble(images: Images, labels: Vec<u8>, images_path: &Path, labels_path: &Path) -> Result<Dataset> {
    if images.len() != labels.len() {
        return Err(FetchError::LengthMismatch {
            images_path: images_path.into(),
            images: images.len(),
            labels_path: labels_path.into(),
            labels: labels.len(),
        });
    }
    let class_names = fashion_mnist_class_names();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l as usize >= class_names.len()) {
        return Err(FetchError::LabelOutOfRange {
            path: labels_path.into(),
            index,
            label,
            num_classes: class_names.len(),
        });
    }
    Ok(Dataset { images, labels, class_names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx_u8;
    use crate::npy::{write_f32, write_u8};

    fn shared_small() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fashion-mnist-small")
    }

    #[test]
    fn loads_the_course_small_set() {
        let dir = shared_small();
        let train = load_split(&dir, Split::Train).expect("the small set is in ../shared/data");
        let test = load_split(&dir, Split::Test).unwrap();
        assert_eq!(train.images.shape, [1000, 1, 32, 32]);
        assert_eq!(test.len(), 1000);
        for c in 0..10u8 {
            assert_eq!(test.labels.iter().filter(|&&l| l == c).count(), 100, "class {c}");
        }
        let (lo, hi) = train.images.data.iter().fold((1.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn rejects_bad_files_with_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let imgs = dir.join("X.npy");
        write_u8(&imgs, &[3, 32, 32], &vec![0; 3 * 32 * 32]).unwrap();
        // wrong dtype
        let f = dir.join("F.npy");
        write_f32(&f, &[3, 28, 28], &vec![0.0; 3 * 28 * 28]).unwrap();
        let e = load_npy_pair(&f, &imgs).unwrap_err().to_string();
        assert!(e.contains("F.npy") && e.contains("expected uint8") && e.contains("found float32 (3, 28, 28)"), "{e}");
        // wrong rank
        let r = dir.join("R.npy");
        write_u8(&r, &[3, 2, 32, 32, 1], &vec![0; 3 * 2 * 32 * 32]).unwrap();
        let e = load_npy_pair(&r, &imgs).unwrap_err().to_string();
        assert!(e.contains("R.npy") && e.contains("found uint8 (3, 2, 32, 32, 1)"), "{e}");
        // length mismatch
        let y2 = dir.join("Y2.npy");
        write_u8(&y2, &[2], &[0, 1]).unwrap();
        let e = load_npy_pair(&imgs, &y2).unwrap_err().to_string();
        assert!(e.contains("3 images") && e.contains("2 labels"), "{e}");
        // label out of range
        let y3 = dir.join("Y3.npy");
        write_u8(&y3, &[3], &[0, 12, 1]).unwrap();
        let e = load_npy_pair(&imgs, &y3).unwrap_err().to_string();
        assert!(e.contains("Y3.npy") && e.contains("label 12 at index 1"), "{e}");
        // truncated
        let full = std::fs::read(&imgs).unwrap();
        let t = write(dir, "T.npy", &full[..full.len() - 100]);
        let e = load_npy_pair(&t, &y3).unwrap_err().to_string();
        assert!(e.contains("T.npy") && e.contains("truncated"), "{e}");
        // not a .npy
        let n = write(dir, "N.npy", b"hello, this is text");
        let e = load_npy_pair(&n, &y3).unwrap_err().to_string();
        assert!(e.contains("N.npy") && e.contains("no valid .npy header"), "{e}");
        // missing
        let e = load_npy_pair(&dir.join("missing.npy"), &y3).unwrap_err().to_string();
        assert!(e.contains("missing.npy"), "{e}");
        let e = load_split(dir, Split::Test).unwrap_err().to_string();
        assert!(e.contains("X_test.npy and Y_test.npy"), "{e}");
    }

    #[test]
    fn loads_gzipped_idx_and_resizes_to_32() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let d = tempfile::tempdir().unwrap();
        let pixels: Vec<u8> = (0..2 * 28 * 28).map(|i| (i % 251) as u8).collect();
        let gz = |bytes: Vec<u8>| {
            let mut e = GzEncoder::new(Vec::new(), Compression::default());
            e.write_all(&bytes).unwrap();
            e.finish().unwrap()
        };
        write(d.path(), "t10k-images-idx3-ubyte.gz", &gz(encode_idx_u8(&[2, 28, 28], &pixels)));
        write(d.path(), "t10k-labels-idx1-ubyte", &encode_idx_u8(&[2], &[9, 3]));
        let ds = load_split(d.path(), Split::Test).unwrap();
        assert_eq!(ds.images.shape, [2, 1, 32, 32]);
        assert_eq!(ds.labels, vec![9, 3]);
        // corners of a bilinear upscale equal the source corners
        assert_eq!(ds.images.image(0)[0], pixels[0] as f32 / 255.0);
        let bad = write(d.path(), "bad-idx", &encode_idx_u8(&[2], &[1, 2])[..6]);
        let e = read_idx_u8(&bad, 1).unwrap_err().to_string();
        assert!(e.contains("bad-idx"), "{e}");
    }
}
