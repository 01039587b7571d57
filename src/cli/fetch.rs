//! `netlens fetch`: download and prepare the full data sets and torchvision's ResNet-34.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use netlens_fetch::download::{DownloadOptions, DownloadProgress, cache_dir};
use netlens_fetch::imagenet::IMAGENET_CLASSES_TXT;
use netlens_fetch::prepare::{prepare_fashion_mnist, prepare_lfw};
use netlens_fetch::sources::{self, FetchSettings, LFW_SIZES};

/// What `netlens fetch` gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// Fashion-MNIST: 60,000 + 10,000 images, resized to 32×32 (course .npy layout).
    FashionMnist,
    /// Labeled Faces in the Wild: 13,233 faces as (N, 3, 32, 32) and (N, 3, 64, 64) uint8.
    Lfw,
    /// torchvision's ResNet-34 ImageNet weights, converted to ONNX, with the class names.
    Resnet34,
    /// All three.
    All,
}

impl Source {
    fn folder(self) -> &'static str {
        match self {
            Source::FashionMnist => "fashion-mnist",
            Source::Lfw => "lfw",
            Source::Resnet34 => "resnet34",
            Source::All => "",
        }
    }
}

/// Download and prepare the full data sets and the pretrained ResNet-34.
///
/// Writes into OUT/<source>/:
/// fashion-mnist/ X_train.npy uint8 (60000, 32, 32), Y_train.npy (60000,), X_test.npy
/// (10000, 32, 32), Y_test.npy (10000,) — the course layout, 28→32 px bilinear;
/// lfw/ X_train.npy uint8 (13233, 3, 32, 32), X_train_64.npy (13233, 3, 64, 64),
/// images.json (person and file of each image);
/// resnet34/ resnet34.onnx (input `image` [batch, 3, 224, 224] ImageNet-normalised, output
/// `logits` [batch, 1000]) and imagenet-classes.txt.
///
/// Downloads are kept in the cache, resumed when interrupted, and checked against pinned
/// SHA-256 digests (a mismatching file is deleted). Running the command again reuses them.
///
/// Examples: `netlens fetch all`; `netlens fetch resnet34 --from resnet34-b627a593.pth`
/// (offline conversion of a checkpoint you already have).
#[derive(Args, Debug)]
pub struct FetchArgs {
    /// What to fetch.
    #[arg(value_enum)]
    pub what: Source,
    /// Folder the prepared files go into, one subfolder per source.
    #[arg(long, value_name = "DIR", default_value = "data")]
    pub out: PathBuf,
    /// Download cache [default: $NETLENS_CACHE, else the platform cache dir + netlens,
    /// e.g. ~/.cache/netlens].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Mirror replacing the built-in URLs. A URL ending in `/` gets each file name appended
    /// (`--url https://mirror.example/fashion/`); otherwise it is used as is (single-file
    /// sources). Checksums stay pinned.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Use files you already have instead of downloading (not checksummed): fashion-mnist, a
    /// folder with the four IDX .gz files; lfw, lfw.tgz or its extracted lfw/ folder;
    /// resnet34, a torchvision BasicBlock ResNet .pth (ResNet-18/34, any width).
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    pub from: Option<PathBuf>,
    /// Seconds to wait for a connection and for each read before retrying.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Further attempts after a failed download attempt; each resumes where the last stopped.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

/// Runs `netlens fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    if args.from.is_some() && args.what == Source::All {
        bail!("--from needs one source (fashion-mnist, lfw or resnet34), not `all`");
    }
    let sources = match args.what {
        Source::All => vec![Source::FashionMnist, Source::Lfw, Source::Resnet34],
        one => vec![one],
    };
    for source in sources {
        let out = args.out.join(source.folder());
        match &args.from {
            Some(from) => prepare_local(source, from, &out)?,
            None => fetch_remote(source, &args, &out)?,
        }
    }
    Ok(())
}

fn settings<'a>(
    args: &FetchArgs,
    progress: &'a mut dyn FnMut(&str, DownloadProgress),
) -> anyhow::Result<FetchSettings<'a>> {
    let cache = match &args.cache {
        Some(dir) => dir.clone(),
        None => cache_dir()?,
    };
    let options = DownloadOptions {
        timeout: Duration::from_secs(args.timeout_secs),
        retries: args.retries,
        ..DownloadOptions::default()
    };
    Ok(FetchSettings { cache, mirror: args.url.clone(), options, progress })
}

fn fetch_remote(source: Source, args: &FetchArgs, out: &Path) -> anyhow::Result<()> {
    let mut bars = ByteBars::default();
    let mut progress = |file: &str, p: DownloadProgress| bars.update(file, p);
    let mut settings = settings(args, &mut progress)?;
    match source {
        Source::FashionMnist => {
            let sizes = sources::fetch_fashion_mnist(&mut settings, out).context("fetching Fashion-MNIST")?;
            println!("fashion-mnist: {} train + {} test images (32×32) in {}", sizes.train, sizes.test, out.display());
        }
        Source::Lfw => {
            let images = sources::fetch_lfw(&mut settings, out).context("fetching LFW")?;
            println!("lfw: {} faces at {LFW_SIZES:?} px in {}", images.len(), out.display());
        }
        Source::Resnet34 => {
            let checkpoint = sources::fetch_resnet34(&mut settings).context("fetching ResNet-34")?;
            convert_resnet(&checkpoint, out)?;
        }
        Source::All => unreachable!("`all` is expanded in run"),
    }
    Ok(())
}

fn prepare_local(source: Source, from: &Path, out: &Path) -> anyhow::Result<()> {
    match source {
        Source::FashionMnist => {
            let sizes = prepare_fashion_mnist(from, out).with_context(|| format!("preparing {}", from.display()))?;
            println!("fashion-mnist: {} train + {} test images (32×32) in {}", sizes.train, sizes.test, out.display());
        }
        Source::Lfw => {
            let images = prepare_local_lfw(from, out)?;
            println!("lfw: {images} faces at {LFW_SIZES:?} px in {}", out.display());
        }
        Source::Resnet34 => convert_resnet(from, out)?,
        Source::All => unreachable!("--from with `all` is refused in run"),
    }
    Ok(())
}

/// `--from` for LFW: an extracted folder, or a `.tgz` extracted (safely) into `out/extracted`.
fn prepare_local_lfw(from: &Path, out: &Path) -> anyhow::Result<usize> {
    let folder = if from.is_dir() {
        from.to_path_buf()
    } else {
        let extracted = out.join("extracted");
        if !extracted.exists() {
            netlens_fetch::extract_tar_gz(from, &extracted)
                .with_context(|| format!("extracting {}", from.display()))?;
        }
        let inner = extracted.join("lfw");
        if inner.is_dir() { inner } else { extracted }
    };
    let images = prepare_lfw(&folder, out, &LFW_SIZES).with_context(|| format!("preparing {}", folder.display()))?;
    Ok(images.len())
}

fn convert_resnet(checkpoint: &Path, out: &Path) -> anyhow::Result<()> {
    let onnx = out.join("resnet34.onnx");
    let arch = netlens_onnx::resnet::convert_resnet_checkpoint(checkpoint, &onnx)
        .with_context(|| format!("converting {}", checkpoint.display()))?;
    let classes = out.join("imagenet-classes.txt");
    netlens_fetch::write_atomically(&classes, IMAGENET_CLASSES_TXT.as_bytes())?;
    let blocks: Vec<usize> = arch.stages.iter().map(|s| s.blocks).collect();
    let widths: Vec<usize> = arch.stages.iter().map(|s| s.width).collect();
    println!(
        "resnet34: ResNet with blocks {blocks:?}, widths {widths:?}, {} classes → {} (+ {})",
        arch.num_classes,
        onnx.display(),
        classes.display()
    );
    Ok(())
}

/// One byte-counting progress bar per file, on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
struct ByteBars {
    bars: HashMap<String, ProgressBar>,
}

impl ByteBars {
    fn update(&mut self, file: &str, progress: DownloadProgress) {
        let bar = self.bars.entry(file.to_string()).or_insert_with(|| {
            let bar = ProgressBar::new(progress.total.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{msg:>28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("static progress template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(file.to_string());
            bar
        });
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
        bar.set_position(progress.downloaded);
        if progress.total == Some(progress.downloaded) {
            bar.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parses_sources_and_options() {
        let cli = crate::cli::Cli::try_parse_from([
            "netlens",
            "fetch",
            "fashion-mnist",
            "--cache",
            "c",
            "--url",
            "http://m/",
        ])
        .unwrap();
        let crate::cli::Command::Fetch(args) = cli.command else { panic!("fetch expected") };
        assert_eq!(args.what, Source::FashionMnist);
        assert_eq!(args.url.as_deref(), Some("http://m/"));
        assert_eq!(args.out, PathBuf::from("data"));
        assert!(crate::cli::Cli::try_parse_from(["netlens", "fetch", "mnist"]).is_err());
        assert!(crate::cli::Cli::try_parse_from(["netlens", "fetch", "lfw", "--from", "x", "--url", "y"]).is_err());
    }
}
