//! `netlens fetch`: download and prepare the full data sets and torchvision's ResNet-34.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use netlens::pipeline::Reporter;
use netlens::pipeline::steps::{Download, Source, fetch, prepare_local};
use netlens_fetch::download::{DownloadOptions, DownloadProgress};

use super::progress::Terminal;

/// What to fetch: one source or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Fashion-MNIST: 60,000 + 10,000 images, resized to 32×32 (course .npy layout).
    FashionMnist,
    /// Labeled Faces in the Wild: 13,233 faces as (N, 3, 32, 32) and (N, 3, 64, 64) uint8.
    Lfw,
    /// torchvision's ResNet-34 ImageNet weights, converted to ONNX, with the class names.
    Resnet34,
    /// All three.
    All,
}

impl What {
    fn sources(self) -> Vec<Source> {
        match self {
            What::FashionMnist => vec![Source::FashionMnist],
            What::Lfw => vec![Source::Lfw],
            What::Resnet34 => vec![Source::Resnet34],
            What::All => vec![Source::FashionMnist, Source::Lfw, Source::Resnet34],
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
    pub what: What,
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
    /// folder with the four IDX files (plain or .gz); lfw, an LFW .tgz (lfw, lfw_funneled,
    /// lfw-deepfunneled) or its extracted folder; resnet34, a torchvision BasicBlock ResNet .pth
    /// (ResNet-18/34, any width; a state dict or a training checkpoint holding one, float16 to
    /// float64).
    #[arg(long, value_name = "PATH", conflicts_with = "url")]
    pub from: Option<PathBuf>,
    /// Seconds to wait for a connection and for each read before retrying.
    #[arg(long, default_value_t = DownloadOptions::default().timeout.as_secs())]
    pub timeout_secs: u64,
    /// Further attempts after a failed download attempt; each resumes where the last stopped.
    #[arg(long, default_value_t = DownloadOptions::default().retries)]
    pub retries: u32,
}

/// Runs `netlens fetch`.
pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    if args.from.is_some() && args.what == What::All {
        bail!("--from needs one source (fashion-mnist, lfw or resnet34), not `all`");
    }
    let mut terminal = Terminal::default();
    for source in args.what.sources() {
        let out = args.out.join(source.folder());
        let fetched = match &args.from {
            Some(from) => prepare_local(source, from, &out).with_context(|| format!("preparing {}", from.display()))?,
            None => {
                let mut progress = |file: &str, p: DownloadProgress| terminal.download(file, p);
                let options = DownloadOptions {
                    timeout: Duration::from_secs(args.timeout_secs),
                    retries: args.retries,
                    ..DownloadOptions::default()
                };
                let download =
                    Download { cache: args.cache.clone(), mirror: args.url.clone(), options, progress: &mut progress };
                fetch(source, download, &out).with_context(|| format!("fetching {}", source.folder()))?
            }
        };
        println!("{fetched} in {}", out.display());
    }
    Ok(())
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
        assert_eq!(args.what, What::FashionMnist);
        assert_eq!(args.url.as_deref(), Some("http://m/"));
        assert_eq!(args.out, PathBuf::from("data"));
        assert_eq!(args.timeout_secs, 60);
        assert!(crate::cli::Cli::try_parse_from(["netlens", "fetch", "mnist"]).is_err());
        assert!(crate::cli::Cli::try_parse_from(["netlens", "fetch", "lfw", "--from", "x", "--url", "y"]).is_err());
    }
}
