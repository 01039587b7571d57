//! The data sets and weights `netlens fetch` downloads: the one place with their URLs and
//! checksums (the README repeats them), and the steps that turn each into what netlens reads.
//!
//! | source | file | from | SHA-256 |
//! | --- | --- | --- | --- |
//! | Fashion-MNIST | `train-images-idx3-ubyte.gz` | <http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/> | `08dc20ab…` |
//! | | `train-labels-idx1-ubyte.gz` | same | `b0197879…` |
//! | | `t10k-images-idx3-ubyte.gz` | same | `78dcbbfb…` |
//! | | `t10k-labels-idx1-ubyte.gz` | same | `42bd1813…` |
//! | LFW | `lfw.tgz` | <http://vis-www.cs.umass.edu/lfw/lfw.tgz>, mirror <https://ndownloader.figshare.com/files/5976018> | `055f7d9c…` |
//! | ResNet-34 | `resnet34-b627a593.pth` | <https://download.pytorch.org/models/resnet34-b627a593.pth> | prefix `b627a593` |
//!
//! The full digests are in the constants below. Fashion-MNIST's come from the checksum lists of
//! other loaders (the project publishes MD5s); LFW's is scikit-learn's (`fetch_lfw_people`);
//! torchvision pins only the 8-hex prefix in the file name and checks it the same way.

use std::path::{Path, PathBuf};

use crate::archive::extract_tar_gz;
use crate::download::{Checksum, DownloadOptions, DownloadProgress, download};
use crate::error::{FetchError, Result};
use crate::prepare::{LfwImage, SplitSizes, prepare_fashion_mnist, prepare_lfw};

/// A file to download: its name in the cache, where to get it (tried in order), its checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// File name in the cache directory.
    pub file_name: &'static str,
    /// URLs tried in order until one gives a verified file.
    pub urls: &'static [&'static str],
    /// Full lowercase hex SHA-256, or `None` for a torchvision file whose name carries the prefix.
    pub sha256: Option<&'static str>,
}

impl RemoteFile {
    /// The checksum the download must match.
    pub fn checksum(&self) -> Checksum {
        match self.sha256 {
            Some(digest) => Checksum::Sha256(digest.into()),
            None => Checksum::from_torchvision_file_name(self.file_name)
                .expect("a RemoteFile without a full digest has a torchvision-style name"),
        }
    }

    /// The URLs to try: `mirror` alone when given (with the file name appended when it ends
    /// in `/`), else [`RemoteFile::urls`].
    pub fn urls_with_mirror(&self, mirror: Option<&str>) -> Vec<String> {
        match mirror {
            Some(m) if m.ends_with('/') => vec![format!("{m}{}", self.file_name)],
            Some(m) => vec![m.to_string()],
            None => self.urls.iter().map(|u| u.to_string()).collect(),
        }
    }
}

/// Fashion-MNIST's four IDX files (Xiao et al. 2017, <https://github.com/zalandoresearch/fashion-mnist>):
/// 60,000 training and 10,000 test images of 28×28 pixels.
pub const FASHION_MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        file_name: "train-images-idx3-ubyte.gz",
        urls: &[concat!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "train-images-idx3-ubyte.gz")],
        sha256: Some("08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
    },
    RemoteFile {
        file_name: "train-labels-idx1-ubyte.gz",
        urls: &[concat!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "train-labels-idx1-ubyte.gz")],
        sha256: Some("b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
    },
    RemoteFile {
        file_name: "t10k-images-idx3-ubyte.gz",
        urls: &[concat!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "t10k-images-idx3-ubyte.gz")],
        sha256: Some("78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
    },
    RemoteFile {
        file_name: "t10k-labels-idx1-ubyte.gz",
        urls: &[concat!("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "t10k-labels-idx1-ubyte.gz")],
        sha256: Some("42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
    },
];

/// Labeled Faces in the Wild (Huang et al. 2007, <http://vis-www.cs.umass.edu/lfw/>): 13,233
/// JPEGs of 250×250 pixels in one folder per person (5,749 people), 180,566,744 bytes.
pub const LFW_ARCHIVE: RemoteFile = RemoteFile {
    file_name: "lfw.tgz",
    urls: &["http://vis-www.cs.umass.edu/lfw/lfw.tgz", "https://ndownloader.figshare.com/files/5976018"],
    sha256: Some("055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0"),
};

/// torchvision's ResNet-34 ImageNet-1k weights (`ResNet34_Weights.IMAGENET1K_V1`, top-1
/// 73.314 %), a `state_dict` of 83.3 MB.
pub const RESNET34_WEIGHTS: RemoteFile = RemoteFile {
    file_name: "resnet34-b627a593.pth",
    urls: &["https://download.pytorch.org/models/resnet34-b627a593.pth"],
    sha256: None,
};

/// The side lengths `netlens fetch lfw` prepares: the course's 32 and a larger 64.
pub const LFW_SIZES: [usize; 2] = [32, 64];

/// Where and how [`fetch_fashion_mnist`], [`fetch_lfw`] and [`fetch_resnet34`] download.
pub struct FetchSettings<'a> {
    /// Directory the raw downloads are kept in (see [`crate::download::cache_dir`]).
    pub cache: PathBuf,
    /// A mirror replacing the built-in URLs (see [`RemoteFile::urls_with_mirror`]).
    pub mirror: Option<String>,
    /// Timeouts and retries.
    pub options: DownloadOptions,
    /// Called with the file name and progress after every chunk.
    pub progress: &'a mut dyn FnMut(&str, DownloadProgress),
}

/// Downloads one file into the cache (trying its URLs in order) and returns its path.
///
/// # Errors
/// The error of the last URL tried (see [`download`]).
pub fn fetch_file(file: &RemoteFile, settings: &mut FetchSettings) -> Result<PathBuf> {
    let dest = settings.cache.join(file.file_name);
    let checksum = file.checksum();
    let mut last_error = None;
    for url in file.urls_with_mirror(settings.mirror.as_deref()) {
        let progress = &mut *settings.progress;
        match download(&url, &dest, &checksum, &settings.options, &mut |p| progress(file.file_name, p)) {
            Ok(_) => return Ok(dest),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.expect("every RemoteFile has at least one URL"))
}

/// Downloads Fashion-MNIST and writes the course `.npy` layout (32×32) into `out_dir`. A
/// mirror URL is taken as the folder holding the four files.
///
/// # Errors
/// Those of [`fetch_file`] and [`prepare_fashion_mnist`].
pub fn fetch_fashion_mnist(settings: &mut FetchSettings, out_dir: &Path) -> Result<SplitSizes> {
    // Four files: a mirror is a folder holding them, whether or not it ends in `/`.
    if let Some(mirror) = settings.mirror.as_mut().filter(|m| !m.ends_with('/')) {
        mirror.push('/');
    }
    for file in &FASHION_MNIST_FILES {
        fetch_file(file, settings)?;
    }
    prepare_fashion_mnist(&settings.cache, out_dir)
}

/// Downloads `lfw.tgz`, extracts it safely into the cache (`<cache>/lfw-extracted/`, once) and
/// writes the arrays of [`prepare_lfw`] at [`LFW_SIZES`] into `out_dir`.
///
/// # Errors
/// Those of [`fetch_file`], [`extract_tar_gz`] and [`prepare_lfw`].
pub fn fetch_lfw(settings: &mut FetchSettings, out_dir: &Path) -> Result<Vec<LfwImage>> {
    let archive = fetch_file(&LFW_ARCHIVE, settings)?;
    let extracted = settings.cache.join("lfw-extracted");
    if !extracted.exists() {
        extract_tar_gz(&archive, &extracted)?;
    }
    prepare_lfw(&lfw_image_root(&extracted)?, out_dir, &LFW_SIZES)
}

/// The folder holding the person folders: `lfw/` inside the archive, or the root itself.
fn lfw_image_root(extracted: &Path) -> Result<PathBuf> {
    let inner = extracted.join("lfw");
    if inner.is_dir() {
        return Ok(inner);
    }
    if extracted.is_dir() {
        return Ok(extracted.to_path_buf());
    }
    Err(FetchError::MissingFiles { path: extracted.into(), expected: "the extracted lfw/ folder".into() })
}

/// Downloads torchvision's ResNet-34 checkpoint into the cache and returns its path; the
/// conversion to ONNX is `netlens_onnx::resnet::convert_resnet_checkpoint`.
///
/// # Errors
/// Those of [`fetch_file`].
pub fn fetch_resnet34(settings: &mut FetchSettings) -> Result<PathBuf> {
    fetch_file(&RESNET34_WEIGHTS, settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::test_server::TestServer;
    use std::time::Duration;

    const FASHION_MNIST_BASE: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

    #[test]
    fn every_source_has_a_well_formed_checksum_and_urls() {
        let all: Vec<&RemoteFile> = FASHION_MNIST_FILES.iter().chain([&LFW_ARCHIVE, &RESNET34_WEIGHTS]).collect();
        for file in all {
            match file.checksum() {
                Checksum::Sha256(d) => assert!(d.len() == 64 && d.chars().all(|c| c.is_ascii_hexdigit()), "{d}"),
                Checksum::Sha256Prefix(p) => assert_eq!(p, "b627a593"),
            }
            assert!(!file.urls.is_empty() && file.urls.iter().all(|u| u.starts_with("http")), "{file:?}");
        }
        let fashion = crate::course::Split::Train;
        assert!(FASHION_MNIST_FILES.iter().all(|f| f.urls[0] == format!("{FASHION_MNIST_BASE}{}", f.file_name)));
        let names: Vec<&str> = FASHION_MNIST_FILES.iter().map(|f| f.file_name).collect();
        assert!(crate::prepare::fashion_mnist_idx_names(fashion).iter().all(|n| names.contains(n)));
    }

    #[test]
    fn mirror_replaces_the_urls() {
        let base = LFW_ARCHIVE.urls_with_mirror(Some("http://mirror.example/data/"));
        assert_eq!(base, vec!["http://mirror.example/data/lfw.tgz"]);
        let exact = LFW_ARCHIVE.urls_with_mirror(Some("http://mirror.example/x"));
        assert_eq!(exact, vec!["http://mirror.example/x"]);
        assert_eq!(LFW_ARCHIVE.urls_with_mirror(None).len(), 2);
    }

    #[test]
    fn mirror_serving_other_bytes_fails_the_pinned_checksum() {
        let server = TestServer::start();
        server.add("/train-images-idx3-ubyte.gz", b"not the real file".to_vec());
        let cache = tempfile::tempdir().unwrap();
        let mut settings = FetchSettings {
            cache: cache.path().into(),
            mirror: Some(server.base().to_string()), // no trailing `/`: still a folder
            options: DownloadOptions { timeout: Duration::from_secs(10), retries: 0, retry_delay: Duration::ZERO },
            progress: &mut |_, _| {},
        };
        let err = fetch_fashion_mnist(&mut settings, &cache.path().join("out")).unwrap_err().to_string();
        assert!(
            err.contains("checksum mismatch for `train-images-idx3-ubyte.gz`") && err.contains("08dc20ab"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0, "nothing left in the cache");
    }
}
