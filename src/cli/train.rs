//! `netlens train`: train a classifier into a run folder, export ONNX and draw its curves.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens::pipeline::steps::train_classifier;
use netlens_fetch::runs::{Architecture, DEFAULT_SEED, DeviceName, TrainConfig};
use netlens_train::{RunDir, Start};

use super::progress::Terminal;

/// Train a classifier and export it to ONNX.
///
/// Writes `OUT/config.json`, `history.json` (train/test loss and accuracy after every epoch),
/// `model_card.json`, `checkpoint/` (every epoch), `test_logits.npy`, `loss.svg`,
/// `accuracy.svg` and `model.onnx` (input `image` [batch, 1, 32, 32] in [0, 1], output `logits`
/// [batch, 10]). Optimiser: Adam (β₁ 0.9, β₂ 0.999) on cross-entropy.
///
/// Example: `netlens train lenet --data ../shared/data/fashion-mnist-small --out runs/lenet`
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Which network.
    #[arg(value_enum)]
    pub model: Architecture,
    /// Data folder: the course layout (X_train.npy, Y_train.npy, X_test.npy, Y_test.npy) or
    /// Fashion-MNIST's IDX files.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Epochs [default: lenet 30, shallow 15, cnn 15]. With --resume, the new total.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on the first N training images only (every test image is still evaluated).
    /// Recorded in config.json, which --resume reuses.
    #[arg(long, value_name = "N", conflicts_with = "resume")]
    pub limit: Option<usize>,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = TrainConfig::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Adam's peak learning rate (cosine decay to 0 over the run).
    #[arg(long, default_value_t = TrainConfig::DEFAULT_LEARNING_RATE)]
    pub lr: f64,
    /// Seed of weight initialisation and shuffling (same seed + same device ⇒ same history).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// burn device: flex (pure-Rust CPU, always built); cpu, wgpu and cuda need the cargo
    /// feature of the same name.
    #[arg(long, value_enum, default_value_t = DeviceName::Flex)]
    pub device: DeviceName,
    /// Run folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the interrupted run in --out from its last checkpoint (its config.json is used;
    /// only --epochs may change).
    #[arg(long)]
    pub resume: bool,
}

/// Runs `netlens train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    let config = config_for(&args, &run)?;
    let start = if args.resume { Start::Resume } else { Start::Fresh };
    super::announce_device(config.device)?;
    let mut terminal = Terminal::default();
    netlens::pipeline::Reporter::training(&mut terminal, config.epochs);
    let history = train_classifier(&run, &config, start, &mut terminal)
        .with_context(|| format!("training {} into {}", config.architecture, run.root().display()))?;
    let last = history.epochs.last().context("training ran no epoch")?;
    println!(
        "{}: test accuracy {:.4} after {} epochs; wrote {}",
        config.architecture,
        last.test_accuracy,
        last.epoch,
        run.onnx().display()
    );
    Ok(())
}

fn config_for(args: &TrainArgs, run: &RunDir) -> anyhow::Result<TrainConfig> {
    if args.resume {
        let mut config =
            run.train_config().with_context(|| format!("--resume: {} holds no run to resume", run.root().display()))?;
        if let Some(e) = args.epochs {
            config.epochs = e;
        }
        return Ok(config);
    }
    let mut config = TrainConfig::new(args.model, args.data.display().to_string());
    config.epochs = args.epochs.unwrap_or(config.epochs);
    (config.batch_size, config.learning_rate, config.seed, config.device, config.train_limit) =
        (args.batch_size, args.lr, args.seed, args.device, args.limit);
    Ok(config)
}
