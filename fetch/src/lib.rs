//! netlens-fetch: data sets on disk, loaded into plain arrays.
//!
//! - [`Dataset`] / [`Images`]: labelled images in memory, NCHW `f32` in `[0, 1]`.
//! - [`load_split`]: the course `.npy` layout or Fashion-MNIST IDX files (plain or `.gz`).
//! - [`npy`], [`idx`], [`resize`]: the formats and the bilinear 28→32 resize underneath.
//! - [`write_atomically`]: every file netlens writes goes through a temporary file and a rename.
//! - [`download`]: cached, resumable, checksummed downloads; [`sources`]: the URLs and
//!   checksums of Fashion-MNIST, LFW and torchvision's ResNet-34, and the fetch steps;
//!   [`prepare`]: IDX files and LFW folders → the course `.npy` layout; [`extract_tar_gz`]: safe
//!   archive extraction.
//! - [`imagenet`]: torchvision's ImageNet preprocessing and the 1,000 class names.
//!
//! It does not know about models; `netlens-train` and `netlens-analyze` build on it.

mod archive;
mod course;
mod dataset;
pub mod download;
mod error;
pub mod idx;
pub mod imagenet;
pub mod npy;
pub mod prepare;
pub mod resample;
pub mod resize;
pub mod sources;
mod write;

pub use archive::extract_tar_gz;
pub use course::{COURSE_IMAGE_SIZE, Split, load_idx_pair, load_npy_images, load_npy_pair, load_split};
pub use dataset::{Dataset, FASHION_MNIST_CLASSES, Images, fashion_mnist_class_names};
pub use error::{FetchError, Result};
pub use write::write_atomically;
