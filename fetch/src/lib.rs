#![doc = include_str!("../README.md")]

mod archive;
mod course;
mod dataset;
pub mod download;
mod error;
pub mod idx;
pub mod imagenet;
mod load;
pub mod npy;
pub mod panic;
pub mod prepare;
pub mod preprocess;
pub mod resample;
pub mod resize;
pub mod runs;
pub mod sources;
mod write;

pub use archive::extract_tar_gz;
pub use course::{COURSE_IMAGE_SIZE, Split, load_idx_pair, load_npy_images, load_npy_pair, load_split};
pub use dataset::{Dataset, FASHION_MNIST_CLASSES, Images, fashion_mnist_class_names};
pub use error::{FetchError, Result};
pub use load::{
    CIFAR10_CLASSES, CIFAR10_RECORD_BYTES, DataFormat, DataSource, IMAGE_EXTENSIONS, encode_cifar10_batch,
    read_image_u8,
};
pub use preprocess::Preprocess;
pub use write::write_atomically;
