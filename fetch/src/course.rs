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
use crate::npy::{read_integers, read_pixels};
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

/// `dir/stem` or `dir/stem.gz`, whichever exists (the plain name first).
pub(crate) fn find_plain_or_gz(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")].into_iter().map(|n| dir.join(n)).find(|p| p.exists())
}

/// Loads images `(N, H, W)` or `(N, C, H, W)` (C = 1 or 3) from a `.npy` file: `uint8`
/// (scaled by 1/255) or `float32`/`float64` (taken as they are: already in the model's scale,
/// usually `[0, 1]`).
///
/// # Errors
/// [`FetchError::Format`] for another dtype or rank, or non-finite float pixels (naming the
/// first), plus the errors of [`read_pixels`].
pub fn load_npy_images(path: &Path) -> Result<Images> {
    let want = "(N, H, W) or (N, C, H, W) with C = 1 or 3";
    let (arr, dtype) = read_pixels(path, want)?;
    let shape = match arr.shape[..] {
        [n, h, w] => [n, 1, h, w],
        [n, c, h, w] if c == 1 || c == 3 => [n, c, h, w],
        _ => {
            let dims: Vec<String> = arr.shape.iter().map(|d| d.to_string()).collect();
            return Err(FetchError::format(path, format!("{dtype} {want}"), format!("{dtype} ({})", dims.join(", "))));
        }
    };
    if dtype == "uint8" {
        return Ok(Images { data: arr.data.iter().map(|&v| v / 255.0).collect(), shape });
    }
    if let Some(i) = arr.data.iter().position(|v| !v.is_finite()) {
        let per = shape[1] * shape[2] * shape[3];
        return Err(FetchError::format(
            path,
            "finite pixel values",
            format!("{} at image {}, value {}", arr.data[i], i / per, i % per),
        ));
    }
    Ok(Images { data: arr.data, shape })
}

/// Loads labels `(N,)` of any integer dtype (numpy's default int64 included) from a `.npy` file.
fn load_npy_labels(path: &Path) -> Result<Vec<i64>> {
    let arr = read_integers(path, "(N,)")?;
    if arr.shape.len() != 1 {
        let dims: Vec<String> = arr.shape.iter().map(|d| d.to_string()).collect();
        return Err(FetchError::format(path, "labels (N,)", format!("an array of shape ({})", dims.join(", "))));
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
    let y: Vec<i64> = y.data.iter().map(|&v| v as i64).collect();
    let (n, h, w) = (x.shape[0], x.shape[1], x.shape[2]);
    if h == 0 || w == 0 {
        return Err(FetchError::format(
            images_path,
            "IDX images of at least 1×1 pixels",
            format!("{n} images of {h}×{w}"),
        ));
    }
    let s = COURSE_IMAGE_SIZE;
    let mut data = Vec::with_capacity(n * s * s);
    for plane in x.data.chunks_exact(h * w) {
        data.extend(resize_bilinear_u8(plane, h, w, s, s).into_iter().map(|v| v as f32 / 255.0));
    }
    assemble(Images { data, shape: [n, 1, s, s] }, y, images_path, labels_path)
}

fn assemble(images: Images, labels: Vec<i64>, images_path: &Path, labels_path: &Path) -> Result<Dataset> {
    if images.len() != labels.len() {
        return Err(FetchError::LengthMismatch {
            images_path: images_path.into(),
            images: images.len(),
            labels_path: labels_path.into(),
            labels: labels.len(),
        });
    }
    let class_names = fashion_mnist_class_names();
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| !(0..class_names.len() as i64).contains(l)) {
        return Err(FetchError::LabelOutOfRange {
            path: labels_path.into(),
            index,
            label,
            num_classes: class_names.len(),
        });
    }
    Ok(Dataset { images, labels: labels.into_iter().map(|l| l as u32).collect(), class_names })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx_u8;
    use crate::npy::{write_f32, write_u8};

    fn shared_small() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/data/fashion-mnist-small")
    }

    #[test]
    fn loads_the_course_small_set() {
        let dir = shared_small();
        let train = load_split(&dir, Split::Train).expect("the small set is in ../shared/data");
        let test = load_split(&dir, Split::Test).unwrap();
        assert_eq!(train.images.shape, [1000, 1, 32, 32]);
        assert_eq!(test.len(), 1000);
        for c in 0..10u32 {
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
        // wrong dtype (integers other than uint8 are not pixels)
        let f = dir.join("F.npy");
        crate::npy::write_array(&f, &[3, 28, 28], &vec![0i64; 3 * 28 * 28]).unwrap();
        let e = load_npy_pair(&f, &imgs).unwrap_err().to_string();
        assert!(
            e.contains("F.npy") && e.contains("expected uint8 or float") && e.contains("found int64 (3, 28, 28)"),
            "{e}"
        );
        // float pixels are taken as they are; a NaN is named
        let fl = dir.join("FL.npy");
        let mut pixels = vec![0.5f32; 3 * 32 * 32];
        pixels[2 * 1024 + 7] = f32::NAN;
        write_f32(&fl, &[3, 32, 32], &pixels).unwrap();
        let e = load_npy_pair(&fl, &dir.join("Y3.npy")).unwrap_err().to_string();
        assert!(e.contains("FL.npy") && e.contains("NaN at image 2"), "{e}");
        pixels[2 * 1024 + 7] = 0.25;
        write_f32(&fl, &[3, 32, 32], &pixels).unwrap();
        assert_eq!(load_npy_images(&fl).unwrap().data[2 * 1024 + 7], 0.25);
        // labels of numpy's default int64, and a negative one named
        let y64 = dir.join("Y64.npy");
        crate::npy::write_array(&y64, &[3], &[0i64, 9, 3]).unwrap();
        assert_eq!(load_npy_pair(&imgs, &y64).unwrap().labels, vec![0, 9, 3]);
        crate::npy::write_array(&y64, &[3], &[0i8, -1, 3]).unwrap();
        let e = load_npy_pair(&imgs, &y64).unwrap_err().to_string();
        assert!(e.contains("Y64.npy") && e.contains("label -1 at index 1"), "{e}");
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
        // Found by the `idx` fuzz target: images of zero width panicked in the resize loop.
        let flat = write(d.path(), "flat-idx3", &encode_idx_u8(&[2, 28, 0], &[]));
        let labels = write(d.path(), "labels-idx1", &encode_idx_u8(&[2], &[1, 2]));
        let e = load_idx_pair(&flat, &labels).unwrap_err().to_string();
        assert!(e.contains("flat-idx3") && e.contains("2 images of 28×0"), "{e}");
    }
}
