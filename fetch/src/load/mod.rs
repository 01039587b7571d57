//! Data sources, chosen by what is on disk, all opened into one [`DataSource`]: labels and
//! class names up front, images decoded and preprocessed only for the indices asked for
//! ([`DataSource::load`]).
//!
//! | format | on disk (`--data` points at) | class names |
//! | --- | --- | --- |
//! | [`DataFormat::CourseNpy`] | a folder with `X_test.npy`/`Y_test.npy` (`X_train`, `Y_train`), or the `X_*.npy` file: uint8 or float, `(N, H, W)` or `(N, C, H, W)`, labels of any integer dtype | Fashion-MNIST's |
//! | [`DataFormat::Idx`] | a folder with `t10k-images-idx3-ubyte[.gz]` and `t10k-labels-idx1-ubyte[.gz]` (`train-*`) | Fashion-MNIST's |
//! | [`DataFormat::ImageFolder`] | `ROOT/CLASS/…/*.{png,jpg,jpeg,bmp,webp}` (torchvision's `ImageFolder`), or `ROOT/test/CLASS/…` (`val/`, `train/`); a folder of images without class folders is unlabelled | the folder names, sorted as torchvision sorts them |
//! | [`DataFormat::Npz`] | a `.npz` file with arrays `x`, `y` (or `x_test`/`y_test`, `x_train`/`y_train`) | `0`, `1`, … |
//! | [`DataFormat::Cifar10`] | a folder with CIFAR-10's binary batches (`test_batch.bin`, `data_batch_1.bin` …, or `cifar-10-batches-bin/`), or one `.bin` batch | `batches.meta.txt`, else CIFAR-10's |
//!
//! In an image folder, files with another extension are skipped with a warning naming them
//! ([`DataSource::warnings`]), as torchvision skips them; an empty class folder, a file that
//! does not decode, and (without resizing) images of another size are errors naming the file.

mod cifar;
mod folder;
mod npz;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::course::{Split, find_plain_or_gz, load_idx_pair, load_npy_pair};
use crate::dataset::{Dataset, Images};
use crate::error::{FetchError, Result};
use crate::preprocess::Preprocess;

pub use cifar::{CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, encode_cifar10_batch};
pub use folder::{IMAGE_EXTENSIONS, read_image_u8};

/// The kind of data source found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// The course's `.npy` layout.
    CourseNpy,
    /// Fashion-MNIST's IDX files.
    Idx,
    /// One folder per class of image files (torchvision's `ImageFolder`).
    ImageFolder,
    /// A NumPy `.npz` archive with `x` and `y`.
    Npz,
    /// CIFAR-10's binary batches.
    Cifar10,
}

impl DataFormat {
    /// Whether this is the course's data (its layouts), to which the course's sampling rule
    /// (≥ 150 samples, ≥ 15 per class, all 10 classes) applies.
    pub fn is_course(self) -> bool {
        matches!(self, DataFormat::CourseNpy | DataFormat::Idx)
    }
}

/// Where the images of a [`DataSource`] are.
#[derive(Clone, Debug)]
enum Items {
    /// Decoded arrays, `[n, channels, height, width]`, `[0, 1]`.
    Arrays(Images),
    /// One image file per example.
    Files(Vec<PathBuf>),
}

/// A data set on disk, opened: labels and class names, images on demand.
#[derive(Clone, Debug)]
pub struct DataSource {
    path: PathBuf,
    format: DataFormat,
    labels: Vec<u32>,
    labelled: bool,
    class_names: Vec<String>,
    items: Items,
    warnings: Vec<String>,
}

impl DataSource {
    /// Opens the `split` of the data at `path` (a folder or a file; see the module docs).
    ///
    /// # Errors
    /// [`FetchError::MissingFiles`] when `path` holds no known layout; the format's own errors
    /// (each naming the file, the expected and the found).
    pub fn open(path: &Path, split: Split) -> Result<DataSource> {
        let meta = std::fs::metadata(path).map_err(|e| FetchError::io(path, e))?;
        if meta.is_file() {
            return open_file(path, split);
        }
        let s = if split == Split::Train { "train" } else { "test" };
        let (x, y) = (path.join(format!("X_{s}.npy")), path.join(format!("Y_{s}.npy")));
        if x.exists() || y.exists() {
            return Ok(DataSource::from_dataset(path, DataFormat::CourseNpy, load_npy_pair(&x, &y)?));
        }
        let p = if split == Split::Train { "train" } else { "t10k" };
        if let (Some(x), Some(y)) = (
            find_plain_or_gz(path, &format!("{p}-images-idx3-ubyte")),
            find_plain_or_gz(path, &format!("{p}-labels-idx1-ubyte")),
        ) {
            return Ok(DataSource::from_dataset(path, DataFormat::Idx, load_idx_pair(&x, &y)?));
        }
        if let Some(source) = cifar::open_dir(path, split)? {
            return Ok(source);
        }
        folder::open(path, split)
    }

    fn from_dataset(path: &Path, format: DataFormat, data: Dataset) -> DataSource {
        DataSource {
            path: path.into(),
            format,
            labels: data.labels,
            labelled: true,
            class_names: data.class_names,
            items: Items::Arrays(data.images),
            warnings: vec![],
        }
    }

    /// The path opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which layout was found.
    pub fn format(&self) -> DataFormat {
        self.format
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// One label per example, in `0..class_names().len()` (all 0 when unlabelled).
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Whether the labels are real (an image folder without class folders has none).
    pub fn labelled(&self) -> bool {
        self.labelled
    }

    /// Class names in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// What was skipped while opening (files that are not images), one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The image file of example `i`, for sources of files.
    pub fn file(&self, i: usize) -> Option<&Path> {
        match &self.items {
            Items::Files(files) => files.get(i).map(PathBuf::as_path),
            Items::Arrays(_) => None,
        }
    }

    /// A short name of example `i` for file names and titles: the file's stem, else `test-<i>`.
    pub fn name(&self, i: usize) -> String {
        match self.file(i).and_then(Path::file_stem) {
            Some(stem) => stem.to_string_lossy().into_owned(),
            None => format!("test-{i}"),
        }
    }

    /// Keeps only the classes in `selection` (class names, or indices into the class names),
    /// in the order given; labels become positions in `selection`.
    ///
    /// # Errors
    /// [`FetchError::UnknownClass`] naming the class and the ones that exist.
    pub fn keep_classes(mut self, selection: &[String]) -> Result<DataSource> {
        let mut chosen = Vec::with_capacity(selection.len());
        for s in selection {
            let found = self
                .class_names
                .iter()
                .position(|n| n == s)
                .or_else(|| s.parse::<usize>().ok().filter(|&i| i < self.class_names.len()));
            match found {
                Some(i) if !chosen.contains(&i) => chosen.push(i),
                Some(_) => {}
                None => {
                    return Err(FetchError::UnknownClass {
                        path: self.path.clone(),
                        class: s.clone(),
                        available: self.class_names.clone(),
                    });
                }
            }
        }
        let keep: Vec<usize> = (0..self.len()).filter(|&i| chosen.contains(&(self.labels[i] as usize))).collect();
        let relabel = |l: u32| chosen.iter().position(|&c| c == l as usize).expect("kept labels are chosen") as u32;
        self.labels = keep.iter().map(|&i| relabel(self.labels[i])).collect();
        self.class_names = chosen.iter().map(|&c| self.class_names[c].clone()).collect();
        self.items = match self.items {
            Items::Arrays(images) => Items::Arrays(images.select(&keep)),
            Items::Files(files) => Items::Files(keep.iter().map(|&i| files[i].clone()).collect()),
        };
        Ok(self)
    }

    /// The examples at `indices`, decoded and brought to one size by the geometric part of
    /// `preprocess` (channels, resize, crop; see [`Preprocess::geometry_u8`]); pixels in
    /// `[0, 1]`, not yet normalised ([`Preprocess::normalize`]).
    ///
    /// # Shapes
    /// Returns images `[indices.len(), channels, height, width]`.
    ///
    /// # Errors
    /// [`FetchError::Image`] / [`FetchError::Format`] naming a file that does not decode;
    /// [`FetchError::Format`] naming the first image whose size differs from the first one's
    /// after preprocessing (only possible without a resize).
    ///
    /// # Panics
    /// If an index is out of range (check against [`DataSource::len`]).
    pub fn load(&self, indices: &[usize], preprocess: &Preprocess) -> Result<Dataset> {
        let mut data = Vec::new();
        let mut shape: Option<[usize; 3]> = None;
        for &i in indices {
            let (pixels, chw) = match &self.items {
                Items::Arrays(images) => {
                    let [_, c, h, w] = images.shape;
                    preprocess.geometry_f32(images.image(i), [c, h, w])
                }
                Items::Files(files) => {
                    let (planes, chw) = read_image_u8(&files[i])?;
                    preprocess.geometry_u8(&planes, chw)
                }
            };
            match shape {
                None => shape = Some(chw),
                Some(first) if first != chw => return Err(self.size_mismatch(indices[0], first, i, chw)),
                Some(_) => {}
            }
            data.extend(pixels);
        }
        let [c, h, w] = shape.unwrap_or([0, 0, 0]);
        Ok(Dataset {
            images: Images { data, shape: [indices.len(), c, h, w] },
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
        })
    }

    fn size_mismatch(&self, first: usize, a: [usize; 3], i: usize, b: [usize; 3]) -> FetchError {
        let what = |k: usize| self.file(k).map_or_else(|| format!("image {k}"), |p| p.display().to_string());
        let path = self.file(i).map_or_else(|| self.path.clone(), Path::to_path_buf);
        FetchError::format(
            path,
            format!("{}×{}×{} like {} (give --preprocess with a resize to mix sizes)", a[0], a[1], a[2], what(first)),
            format!("{}×{}×{}", b[0], b[1], b[2]),
        )
    }
}

fn open_file(path: &Path, split: Split) -> Result<DataSource> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if name.ends_with(".npz") {
        return npz::open(path, split);
    }
    if name.ends_with(".bin") {
        return cifar::open_files(path, &[path.to_path_buf()]);
    }
    if name.ends_with(".npy") && name.starts_with('x') {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let labels = path.with_file_name(format!("Y{}", &file[1..]));
        return Ok(DataSource::from_dataset(path, DataFormat::CourseNpy, load_npy_pair(path, &labels)?));
    }
    Err(FetchError::MissingFiles {
        path: path.into(),
        expected:
            "a data folder, a .npz file with x and y, a CIFAR-10 .bin batch, or an X_*.npy file beside its Y_*.npy"
                .into(),
    })
}

#[cfg(test)]
mod tests;
