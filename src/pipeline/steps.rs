//! The steps every command shares: train a classifier and finish its run folder, train the VAE
//! and draw its figures, fetch or prepare data, convert ResNet-34. `netlens run` chains them;
//! `netlens train`, `netlens vae` and `netlens fetch` each run one.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use netlens_analyze::explain::pipeline::{ExplainInputs, ExplainOptions, Written, explain};
use netlens_analyze::vae::{OnnxCheck, write_run_figures};
use netlens_fetch::download::{DownloadOptions, DownloadProgress, cache_dir};
use netlens_fetch::imagenet::IMAGENET_CLASSES_TXT;
use netlens_fetch::prepare::{SplitSizes, prepare_fashion_mnist, prepare_lfw_from};
use netlens_fetch::runs::{EpochMetrics, History, TrainConfig, VaeEpochMetrics, VaeHistory, VaeTrainConfig};
use netlens_fetch::sources::{self, FetchSettings, LFW_SIZES};
use netlens_fetch::{COURSE_IMAGE_SIZE, Images, Split, load_split};
use netlens_onnx::naming::{write_named, write_named_with_metadata};
use netlens_onnx::resnet::ResNetCheckpoint;
use netlens_train::vae::{export_vae, load_vae, train_vae as train_vae_model};
use netlens_train::{Module, Progress, RunDir, Start, TrainData};

use super::PipelineError;

/// Trains a classifier into `run` as [`netlens_train::train`] does and, when all epochs are
/// done, finishes the run folder: `model.onnx` (exported from the final checkpoint loaded
/// afresh, names for people, input `image`, output `logits`, written atomically), `loss.svg`
/// and `accuracy.svg`. The data come from `config.data`.
///
/// # Errors
/// Data, training, export and drawing errors, each naming its file.
pub fn train_classifier(
    run: &RunDir,
    config: &TrainConfig,
    start: Start,
    progress: &mut dyn Progress<EpochMetrics>,
) -> Result<History, PipelineError> {
    let data = Path::new(&config.data);
    let (mut train, test) = (load_split(data, Split::Train)?, load_split(data, Split::Test)?);
    if let Some(n) = config.train_limit.filter(|&n| n < train.len()) {
        train = train.select(&(0..n).collect::<Vec<_>>());
    }
    let history = netlens_train::train(run, config, TrainData { train: &train, test: &test }, start, progress)?;
    if history.epochs.len() == config.epochs {
        export_classifier(run, config)?;
        netlens_analyze::curves::write_training_curves(&history, run.root())?;
    }
    Ok(history)
}

/// Exports `model.onnx` from the last checkpoint, loaded afresh on `flex` (an exported module
/// cannot run again: DESIGN.md), with readable names.
fn export_classifier(run: &RunDir, config: &TrainConfig) -> Result<(), PipelineError> {
    let device = netlens_train::device_by_name(netlens_fetch::runs::DeviceName::Flex)?;
    let epoch = run
        .latest_epoch()?
        .ok_or_else(|| PipelineError::Data { path: run.checkpoint_dir(), expected: "a checkpoint to export".into() })?;
    let model = netlens_train::load_model(run, config.architecture, epoch, &device)?.valid();
    let bytes = netlens_train::export_onnx(&model, &device)?;
    // The classifiers take the course's grey 32×32 images in [0, 1]; recorded so `features`
    // and `explain` feed any other data the same way.
    let preprocess = netlens_fetch::Preprocess::unit([1, COURSE_IMAGE_SIZE, COURSE_IMAGE_SIZE]);
    write_named_with_metadata(&bytes, &run.onnx(), &["image"], &["logits"], &[preprocess.to_metadata()])?;
    Ok(())
}

/// Explains as [`netlens_analyze::explain::pipeline::explain`] does, with the gradient methods on
/// the burn device `options.device` names (the one place a command turns it into a device).
///
/// # Errors
/// [`PipelineError::Train`] for a device this binary cannot open; the explain errors, each
/// naming its file.
pub fn explain_on_device(
    model: &Path,
    inputs: &ExplainInputs,
    options: &ExplainOptions,
    class_names: Option<&Path>,
    out: &Path,
    progress: impl FnMut(&str),
) -> Result<Written, PipelineError> {
    let device = netlens_train::device_by_name(options.device)?;
    Ok(explain(model, inputs, options, &device, class_names, out, progress)?)
}

/// The faces of a VAE run: `data/X_train.npy`, the first `limit` when given.
///
/// # Errors
/// [`netlens_fetch::FetchError`] naming the file.
pub fn load_faces(data: &Path, limit: Option<usize>) -> Result<Images, PipelineError> {
    let images = netlens_fetch::load_npy_images(&data.join("X_train.npy"))?;
    Ok(match limit {
        Some(n) if n < images.len() => images.select(&(0..n).collect::<Vec<_>>()),
        _ => images,
    })
}

/// A trained VAE run: its history and, when every epoch is done, the check of its exported
/// ONNX graphs.
#[derive(Clone, Debug)]
pub struct VaeRun {
    /// All epochs so far.
    pub history: VaeHistory,
    /// `None` when training stopped early (the run is resumable).
    pub onnx: Option<OnnxCheck>,
}

/// Trains the VAE into `run` on `images` and, when all epochs are done, exports
/// `encoder.onnx` and `decoder.onnx` (from the final checkpoint loaded afresh, readable names)
/// and draws reconstructions, samples and curves from them.
///
/// # Errors
/// Training, export and drawing errors, each naming its file.
pub fn train_vae(
    run: &RunDir,
    config: &VaeTrainConfig,
    images: &Images,
    start: Start,
    progress: &mut dyn Progress<VaeEpochMetrics>,
) -> Result<VaeRun, PipelineError> {
    let history = train_vae_model(run, config, images, start, progress)?;
    if history.epochs.len() < config.epochs {
        return Ok(VaeRun { history, onnx: None });
    }
    let device = netlens_train::device_by_name(netlens_fetch::runs::DeviceName::Flex)?;
    let epoch = run
        .latest_epoch()?
        .ok_or_else(|| PipelineError::Data { path: run.checkpoint_dir(), expected: "a checkpoint to export".into() })?;
    let model = load_vae(run, &config.model, epoch, &device)?;
    let (encoder, decoder) = export_vae(&model, &config.model, &device)?;
    write_named(&encoder, &run.encoder(), &["image"], &["mu", "log_var"])?;
    write_named(&decoder, &run.decoder(), &["z"], &["image"])?;
    let onnx = write_run_figures(run, images)?;
    Ok(VaeRun { history, onnx: Some(onnx) })
}

/// What `netlens fetch` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// Fashion-MNIST: 60,000 + 10,000 images, resized to 32×32 (course .npy layout).
    FashionMnist,
    /// Labeled Faces in the Wild: 13,233 faces as (N, 3, 32, 32) and (N, 3, 64, 64) uint8.
    Lfw,
    /// torchvision's ResNet-34 ImageNet weights, converted to ONNX, with the class names.
    Resnet34,
}

impl Source {
    /// The folder under the data root it is prepared in (`fashion-mnist`).
    pub fn folder(self) -> &'static str {
        match self {
            Source::FashionMnist => "fashion-mnist",
            Source::Lfw => "lfw",
            Source::Resnet34 => "resnet34",
        }
    }
}

/// How downloads are made.
pub struct Download<'a> {
    /// The download cache; `None`: `$NETLENS_CACHE`, else the platform cache folder.
    pub cache: Option<PathBuf>,
    /// A mirror replacing the built-in URLs (checksums stay pinned).
    pub mirror: Option<String>,
    /// Timeouts and retries.
    pub options: DownloadOptions,
    /// Bytes so far, per file.
    pub progress: &'a mut dyn FnMut(&str, DownloadProgress),
}

/// What one fetched source holds.
#[derive(Clone, Debug)]
pub enum Fetched {
    /// Fashion-MNIST's train and test sizes.
    FashionMnist(SplitSizes),
    /// LFW's number of faces.
    Lfw(usize),
    /// The checkpoint as read and where its ONNX file is.
    Resnet(ResNetCheckpoint, PathBuf),
}

impl std::fmt::Display for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fetched::FashionMnist(s) => write!(f, "fashion-mnist: {} train + {} test images (32×32)", s.train, s.test),
            Fetched::Lfw(n) => write!(f, "lfw: {n} faces at {LFW_SIZES:?} px"),
            Fetched::Resnet(read, onnx) => {
                let arch = &read.architecture;
                let blocks: Vec<usize> = arch.stages.iter().map(|s| s.blocks).collect();
                let widths: Vec<usize> = arch.stages.iter().map(|s| s.width).collect();
                write!(f, "resnet34: ResNet with blocks {blocks:?}, widths {widths:?}, {} classes", arch.num_classes)?;
                if !read.prefix.is_empty() {
                    write!(f, " (state dict under `{}`)", read.prefix)?;
                }
                if !read.cast_from.is_empty() {
                    write!(f, " ({} weights cast to float32)", read.cast_from.join(", "))?;
                }
                write!(f, " → {}", onnx.display())
            }
        }
    }
}

/// Downloads `source` (cached, resumed, checksummed) and prepares it in `out` (its folder
/// under the data root).
///
/// # Errors
/// Download, checksum, preparation and conversion errors naming the file or URL.
pub fn fetch(source: Source, download: Download<'_>, out: &Path) -> Result<Fetched, PipelineError> {
    let cache = match download.cache {
        Some(dir) => dir,
        None => cache_dir()?,
    };
    let mut settings =
        FetchSettings { cache, mirror: download.mirror, options: download.options, progress: download.progress };
    Ok(match source {
        Source::FashionMnist => Fetched::FashionMnist(sources::fetch_fashion_mnist(&mut settings, out)?),
        Source::Lfw => Fetched::Lfw(sources::fetch_lfw(&mut settings, out)?.len()),
        Source::Resnet34 => convert_resnet(&sources::fetch_resnet34(&mut settings)?, out)?,
    })
}

/// Prepares `source` from files a user has (`from`, not checksummed) in `out`: a folder of
/// the four Fashion-MNIST IDX files; `lfw.tgz` or its extracted folder; a torchvision
/// BasicBlock ResNet `.pth`.
///
/// # Errors
/// Preparation and conversion errors naming the file.
pub fn prepare_local(source: Source, from: &Path, out: &Path) -> Result<Fetched, PipelineError> {
    Ok(match source {
        Source::FashionMnist => Fetched::FashionMnist(prepare_fashion_mnist(from, out)?),
        Source::Lfw => Fetched::Lfw(prepare_lfw_from(from, out, &LFW_SIZES)?.len()),
        Source::Resnet34 => convert_resnet(from, out)?,
    })
}

/// Converts a torchvision BasicBlock ResNet checkpoint into `out/resnet34.onnx` and writes
/// the ImageNet class names beside it (`imagenet-classes.txt`).
///
/// # Errors
/// Conversion errors naming the checkpoint and the keys involved; I/O errors naming the file.
pub fn convert_resnet(checkpoint: &Path, out: &Path) -> Result<Fetched, PipelineError> {
    let onnx = out.join("resnet34.onnx");
    let read = netlens_onnx::resnet::convert_resnet_checkpoint(checkpoint, &onnx)?;
    netlens_fetch::write_atomically(&out.join("imagenet-classes.txt"), IMAGENET_CLASSES_TXT.as_bytes())?;
    Ok(Fetched::Resnet(read, onnx))
}
