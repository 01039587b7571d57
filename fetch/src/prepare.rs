//! Turning downloaded files into the course `.npy` layout.
//!
//! - Fashion-MNIST: the four IDX files → `X_train.npy` uint8 `(60000, 32, 32)`,
//!   `Y_train.npy` uint8 `(60000,)`, `X_test.npy` `(10000, 32, 32)`, `Y_test.npy` `(10000,)`;
//!   28×28 → 32×32 by bilinear interpolation with half-pixel centres, rounded to uint8, as the
//!   course made its small set.
//! - LFW: the JPEGs of an extracted `lfw.tgz` (one folder per person) →
//!   `X_train.npy` uint8 `(N, 3, 32, 32)` (channels first, like the course's small set), the same
//!   images at further sizes (`X_train_64.npy` `(N, 3, 64, 64)`), and `images.json` with the
//!   person and file of each image. 250×250 → 32×32 uses Pillow-style antialiased bilinear
//!   resizing ([`crate::resample`]); plain bilinear sampling would alias at a factor of 7.8.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::course::{COURSE_IMAGE_SIZE, Split};
use crate::error::{FetchError, Result};
use crate::idx::read_idx_u8;
use crate::imagenet::read_rgb;
use crate::npy::write_u8;
use crate::resample::resize_bilinear_antialias_u8;
use crate::resize::resize_bilinear_u8;

/// Number of Fashion-MNIST classes; labels are `0..10`.
const FASHION_MNIST_NUM_CLASSES: usize = 10;

/// The IDX file names of a Fashion-MNIST split (images, labels), gzip-compressed as published.
pub fn fashion_mnist_idx_names(split: Split) -> [&'static str; 2] {
    match split {
        Split::Train => ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"],
        Split::Test => ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    }
}

/// Image count of each split after [`prepare_fashion_mnist`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitSizes {
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
}

/// Converts the four IDX files in `idx_dir` (names from [`fashion_mnist_idx_names`], plain or
/// gzip) into the course `.npy` layout in `out_dir`; see the module docs. Each file is written
/// atomically.
///
/// # Errors
/// The errors of [`read_idx_u8`], [`FetchError::LengthMismatch`] when image and label counts
/// differ, [`FetchError::LabelOutOfRange`] for a label ≥ 10, [`FetchError::Io`] when writing.
pub fn prepare_fashion_mnist(idx_dir: &Path, out_dir: &Path) -> Result<SplitSizes> {
    let train = prepare_fashion_split(idx_dir, out_dir, Split::Train, "train")?;
    let test = prepare_fashion_split(idx_dir, out_dir, Split::Test, "test")?;
    Ok(SplitSizes { train, test })
}

fn prepare_fashion_split(idx_dir: &Path, out_dir: &Path, split: Split, suffix: &str) -> Result<usize> {
    let [images_name, labels_name] = fashion_mnist_idx_names(split);
    // Some mirrors (and Kaggle) ship the files uncompressed: either name is taken, and the
    // reader tells gzip from plain by content.
    let find = |name: &str| {
        let stem = name.trim_end_matches(".gz");
        crate::course::find_plain_or_gz(idx_dir, stem).unwrap_or_else(|| idx_dir.join(name))
    };
    let (images_path, labels_path) = (find(images_name), find(labels_name));
    let images = read_idx_u8(&images_path, 3)?;
    let labels = read_idx_u8(&labels_path, 1)?;
    let (n, h, w) = (images.shape[0], images.shape[1], images.shape[2]);
    check_labels(&images_path, n, &labels_path, &labels.data)?;
    let s = COURSE_IMAGE_SIZE;
    let mut resized = Vec::with_capacity(n * s * s);
    for plane in images.data.chunks_exact(h * w) {
        resized.extend(resize_bilinear_u8(plane, h, w, s, s));
    }
    write_u8(&out_dir.join(format!("X_{suffix}.npy")), &[n, s, s], &resized)?;
    write_u8(&out_dir.join(format!("Y_{suffix}.npy")), &[n], &labels.data)?;
    Ok(n)
}

fn check_labels(images_path: &Path, images: usize, labels_path: &Path, labels: &[u8]) -> Result<()> {
    if images != labels.len() {
        return Err(FetchError::LengthMismatch {
            images_path: images_path.into(),
            images,
            labels_path: labels_path.into(),
            labels: labels.len(),
        });
    }
    match labels.iter().position(|&l| l as usize >= FASHION_MNIST_NUM_CLASSES) {
        Some(index) => Err(FetchError::LabelOutOfRange {
            path: labels_path.into(),
            index,
            label: labels[index] as i64,
            num_classes: FASHION_MNIST_NUM_CLASSES,
        }),
        None => Ok(()),
    }
}

/// One LFW image in the prepared arrays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LfwImage {
    /// The person's name as LFW spells it (`Aaron_Eckhart`), the folder name.
    pub person: String,
    /// The image's path relative to the LFW folder (`Aaron_Eckhart/Aaron_Eckhart_0001.jpg`).
    pub file: String,
}

/// The JPEG files under `lfw_dir` (one folder per person), sorted by person, then file name.
///
/// # Errors
/// [`FetchError::Io`] if a folder cannot be listed, [`FetchError::MissingFiles`] if there are
/// no JPEGs.
pub fn list_lfw_images(lfw_dir: &Path) -> Result<Vec<LfwImage>> {
    let mut images = Vec::new();
    for person_dir in sorted_entries(lfw_dir)?.into_iter().filter(|p| p.is_dir()) {
        let person = person_dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for file in sorted_entries(&person_dir)? {
            let is_jpeg =
                file.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"));
            if is_jpeg && file.is_file() {
                let name = file.file_name().unwrap_or_default().to_string_lossy();
                images.push(LfwImage { person: person.clone(), file: format!("{person}/{name}") });
            }
        }
    }
    if images.is_empty() {
        return Err(FetchError::MissingFiles {
            path: lfw_dir.into(),
            expected: "one folder of .jpg files per person".into(),
        });
    }
    Ok(images)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| FetchError::io(dir, e))?;
    let mut paths =
        read.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>().map_err(|e| FetchError::io(dir, e))?;
    paths.sort();
    Ok(paths)
}

/// Converts the LFW images under `lfw_dir` into `out_dir`: for each side `s` in `sizes`, a
/// uint8 `(N, 3, s, s)` array named `X_train.npy` for [`COURSE_IMAGE_SIZE`] and
/// `X_train_<s>.npy` otherwise, and `images.json` (`[{"person", "file"}, …]`, index `i` =
/// image `i`). Images are decoded in parallel on all cores. Returns the images in order.
///
/// # Errors
/// The errors of [`list_lfw_images`]; [`FetchError::Image`] naming an undecodable JPEG;
/// [`FetchError::Io`] when writing.
pub fn prepare_lfw(lfw_dir: &Path, out_dir: &Path, sizes: &[usize]) -> Result<Vec<LfwImage>> {
    let images = list_lfw_images(lfw_dir)?;
    let arrays = resize_all(lfw_dir, &images, sizes)?;
    for (&s, data) in sizes.iter().zip(&arrays) {
        let name = if s == COURSE_IMAGE_SIZE { "X_train.npy".to_string() } else { format!("X_train_{s}.npy") };
        write_u8(&out_dir.join(name), &[images.len(), 3, s, s], data)?;
    }
    let json = serde_json::to_vec_pretty(&images).expect("serialising strings cannot fail");
    crate::write::write_atomically(&out_dir.join("images.json"), &json)?;
    Ok(images)
}

/// [`prepare_lfw`] from what a user has: an LFW folder, or a `.tgz` archive, which is extracted
/// safely ([`crate::extract_tar_gz`]) into `out_dir/extracted` first. The archives' top folder
/// differs (`lfw/`, `lfw_funneled/`, `lfw-deepfunneled/`): the folder of person folders is
/// found by structure ([`lfw_root`]).
///
/// # Errors
/// Those of [`crate::extract_tar_gz`] and [`prepare_lfw`].
pub fn prepare_lfw_from(from: &Path, out_dir: &Path, sizes: &[usize]) -> Result<Vec<LfwImage>> {
    let folder = if from.is_dir() {
        from.to_path_buf()
    } else {
        let extracted = out_dir.join("extracted");
        if !extracted.exists() {
            crate::extract_tar_gz(from, &extracted)?;
        }
        extracted
    };
    prepare_lfw(&lfw_root(&folder)?, out_dir, sizes)
}

/// The folder whose subfolders hold the JPEGs (one per person), descending through single
/// wrapping folders (`extracted/lfw_funneled/`); `dir` itself when none is found (then
/// [`list_lfw_images`] says what is missing).
///
/// # Errors
/// [`FetchError::Io`] if a folder cannot be listed.
pub fn lfw_root(dir: &Path) -> Result<PathBuf> {
    let has_jpegs = |d: &Path| -> Result<bool> {
        Ok(sorted_entries(d)?.iter().any(|f| {
            f.is_file()
                && f.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"))
        }))
    };
    let mut current = dir.to_path_buf();
    loop {
        let subdirs: Vec<PathBuf> = sorted_entries(&current)?.into_iter().filter(|p| p.is_dir()).collect();
        for s in &subdirs {
            if has_jpegs(s)? {
                return Ok(current);
            }
        }
        match subdirs.as_slice() {
            [only] => current = only.clone(),
            _ => return Ok(current),
        }
    }
}

/// Decodes and resizes every image; one output array per size, images in order.
fn resize_all(lfw_dir: &Path, images: &[LfwImage], sizes: &[usize]) -> Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = images.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            images.chunks(chunk).map(|part| scope.spawn(move || resize_chunk(lfw_dir, part, sizes))).collect();
        handles.into_iter().map(|h| h.join().expect("an image worker panicked")).collect()
    });
    let mut arrays = vec![Vec::new(); sizes.len()];
    for part in parts {
        for (array, data) in arrays.iter_mut().zip(part?) {
            array.extend(data);
        }
    }
    Ok(arrays)
}

fn resize_chunk(lfw_dir: &Path, images: &[LfwImage], sizes: &[usize]) -> Result<Vec<Vec<u8>>> {
    let mut arrays: Vec<Vec<u8>> = sizes.iter().map(|s| Vec::with_capacity(images.len() * 3 * s * s)).collect();
    for image in images {
        let rgb = read_rgb(&lfw_dir.join(&image.file))?;
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        for c in 0..3 {
            let plane: Vec<u8> = rgb.pixels().map(|p| p.0[c]).collect();
            for (array, &s) in arrays.iter_mut().zip(sizes) {
                array.extend(resize_bilinear_antialias_u8(&plane, h, w, s, s));
            }
        }
    }
    Ok(arrays) // planes were appended in image, channel order: NCHW per size
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx_u8;
    use crate::npy::read_u8;
    use std::io::Write;

    fn write_gz(path: &Path, bytes: &[u8]) {
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    /// Writes a split of `n` constant 28×28 images (image `i` has value `20 * i`) with labels
    /// `(i * 3) % 10`.
    fn write_split(dir: &Path, split: Split, n: usize) {
        let images: Vec<u8> = (0..n).flat_map(|i| vec![(20 * i) as u8; 28 * 28]).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i * 3) % 10) as u8).collect();
        let [x, y] = fashion_mnist_idx_names(split);
        write_gz(&dir.join(x), &encode_idx_u8(&[n, 28, 28], &images));
        write_gz(&dir.join(y), &encode_idx_u8(&[n], &labels));
    }

    #[test]
    fn gzipped_idx_files_become_the_course_npy_layout() {
        let raw = tempfile::tempdir().unwrap();
        write_split(raw.path(), Split::Train, 5);
        write_split(raw.path(), Split::Test, 3);
        let out = tempfile::tempdir().unwrap();
        let sizes = prepare_fashion_mnist(raw.path(), out.path()).unwrap();
        assert_eq!(sizes, SplitSizes { train: 5, test: 3 });
        let x = read_u8(&out.path().join("X_train.npy"), "(5, 32, 32)").unwrap();
        assert_eq!(x.shape, vec![5, 32, 32]);
        for i in 0..5 {
            let image = &x.data[i * 1024..(i + 1) * 1024];
            assert!(image.iter().all(|&v| v as usize == 20 * i), "image {i} keeps its constant value");
        }
        let y = read_u8(&out.path().join("Y_test.npy"), "(3,)").unwrap();
        assert_eq!((y.shape, y.data), (vec![3], vec![0, 3, 6]));
        // The prepared folder loads like the course's small set.
        let loaded = crate::load_split(out.path(), Split::Train).unwrap();
        assert_eq!(loaded.images.shape, [5, 1, 32, 32]);
        assert_eq!(loaded.labels, vec![0, 3, 6, 9, 2]);
    }

    #[test]
    fn uncompressed_idx_files_are_read_as_mirrors_ship_them() {
        let raw = tempfile::tempdir().unwrap();
        for (split, n) in [(Split::Train, 4), (Split::Test, 2)] {
            let [x, y] = fashion_mnist_idx_names(split);
            let images: Vec<u8> = (0..n).flat_map(|i| vec![(30 * i) as u8; 28 * 28]).collect();
            let labels: Vec<u8> = (0..n).map(|i| i as u8).collect();
            std::fs::write(raw.path().join(x.trim_end_matches(".gz")), encode_idx_u8(&[n, 28, 28], &images)).unwrap();
            std::fs::write(raw.path().join(y.trim_end_matches(".gz")), encode_idx_u8(&[n], &labels)).unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        assert_eq!(prepare_fashion_mnist(raw.path(), out.path()).unwrap(), SplitSizes { train: 4, test: 2 });
        let y = read_u8(&out.path().join("Y_train.npy"), "(4,)").unwrap();
        assert_eq!(y.data, vec![0, 1, 2, 3]);
    }

    #[test]
    fn any_single_top_folder_of_person_folders_is_lfw() {
        for top in ["lfw", "lfw_funneled", "lfw-deepfunneled"] {
            let dir = tempfile::tempdir().unwrap();
            let person = dir.path().join(top).join("Ann_Lee");
            std::fs::create_dir_all(&person).unwrap();
            image::RgbImage::from_pixel(40, 40, image::Rgb([9, 9, 9])).save(person.join("Ann_Lee_0001.jpg")).unwrap();
            assert_eq!(lfw_root(dir.path()).unwrap(), dir.path().join(top), "{top}");
            let out = tempfile::tempdir().unwrap();
            assert_eq!(prepare_lfw_from(dir.path(), out.path(), &[32]).unwrap().len(), 1, "{top}");
        }
    }

    #[test]
    fn label_count_mismatch_names_both_files() {
        let raw = tempfile::tempdir().unwrap();
        write_split(raw.path(), Split::Test, 3);
        write_gz(&raw.path().join("train-images-idx3-ubyte.gz"), &encode_idx_u8(&[2, 28, 28], &[0; 2 * 784]));
        write_gz(&raw.path().join("train-labels-idx1-ubyte.gz"), &encode_idx_u8(&[3], &[0, 1, 2]));
        let out = tempfile::tempdir().unwrap();
        let err = prepare_fashion_mnist(raw.path(), out.path()).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte.gz has 2 images but") && err.contains("has 3 labels"), "{err}");
        assert!(!out.path().join("X_train.npy").exists());
    }

    #[test]
    fn lfw_folders_become_channels_first_arrays_with_names() {
        let lfw = tempfile::tempdir().unwrap();
        let people = [("Ann_Lee", [200u8, 10, 10]), ("Bo_Wu", [10, 200, 10])];
        for (person, colour) in people {
            std::fs::create_dir(lfw.path().join(person)).unwrap();
            for k in 1..=2 {
                let img = image::RgbImage::from_pixel(250, 250, image::Rgb(colour));
                img.save(lfw.path().join(format!("{person}/{person}_000{k}.jpg"))).unwrap();
            }
        }
        let out = tempfile::tempdir().unwrap();
        let images = prepare_lfw(lfw.path(), out.path(), &[32, 64]).unwrap();
        assert_eq!(images.len(), 4);
        assert_eq!(images[2], LfwImage { person: "Bo_Wu".into(), file: "Bo_Wu/Bo_Wu_0001.jpg".into() });
        let x = read_u8(&out.path().join("X_train.npy"), "(4, 3, 32, 32)").unwrap();
        assert_eq!(x.shape, vec![4, 3, 32, 32]);
        let x64 = read_u8(&out.path().join("X_train_64.npy"), "(4, 3, 64, 64)").unwrap();
        assert_eq!(x64.shape, vec![4, 3, 64, 64]);
        // Image 2 is Bo_Wu's green: channel 1 bright, channel 0 dark (JPEG: approximately).
        let plane = 32 * 32;
        let mean = |c: usize| {
            x.data[(2 * 3 + c) * plane..(2 * 3 + c + 1) * plane].iter().map(|&v| v as f32).sum::<f32>() / plane as f32
        };
        assert!(mean(1) > 180.0 && mean(0) < 40.0, "green {} red {}", mean(1), mean(0));
        let listed: Vec<LfwImage> = serde_json::from_slice(&std::fs::read(out.path().join("images.json")).unwrap())
            .map(|v: Vec<serde_json::Value>| {
                v.iter()
                    .map(|e| LfwImage {
                        person: e["person"].as_str().unwrap().into(),
                        file: e["file"].as_str().unwrap().into(),
                    })
                    .collect()
            })
            .unwrap();
        assert_eq!(listed, images);
    }
}
