//! `netlens train`: train a classifier on a data folder, write its run folder, export ONNX and
//! draw its curves.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use netlens_fetch::{Split, load_split};
use netlens_train::{Architecture, RunDir, Start, TrainConfig, TrainData, TrainProgress};

use super::progress_bar;

/// The networks `netlens train` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// LeNet-5 (LeCun et al. 1998), ReLU + max-pool.
    Lenet,
    /// Our 5-layer net derived from LeNet-5.
    Shallow,
    /// Our 27-layer CNN (conv, BatchNorm, ReLU, max-pool, FC).
    Cnn,
}

impl From<ModelName> for Architecture {
    fn from(m: ModelName) -> Self {
        match m {
            ModelName::Lenet => Architecture::Lenet,
            ModelName::Shallow => Architecture::Shallow,
            ModelName::Cnn => Architecture::Cnn,
        }
    }
}

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
    pub model: ModelName,
    /// Data folder: the course layout (X_train.npy, Y_train.npy, X_test.npy, Y_test.npy) or
    /// Fashion-MNIST's IDX files.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Epochs [default: lenet 30, shallow 15, cnn 15]. With --resume, the new total.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per mini-batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam's peak learning rate (cosine decay to 0 over the run).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Seed of weight initialisation and shuffling (same seed + same device ⇒ same history).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// burn device: flex (pure-Rust CPU, always built), cpu, wgpu or cuda (cargo features).
    #[arg(long, default_value = "flex", value_parser = ["flex", "cpu", "wgpu", "cuda"])]
    pub device: String,
    /// Run folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the interrupted run in --out from its last checkpoint (its config.json is used;
    /// only --epochs may change).
    #[arg(long)]
    pub resume: bool,
}

struct Bars {
    bar: Option<indicatif::ProgressBar>,
    epochs: usize,
}

impl TrainProgress for Bars {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize) {
        let bar =
            self.bar.get_or_insert_with(|| progress_bar(batches as u64, &format!("epoch {epoch}/{}", self.epochs)));
        bar.set_position(batch as u64);
    }

    fn epoch(&mut self, m: &netlens_train::EpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {:>3}/{}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1} s",
            m.epoch, self.epochs, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy, m.seconds
        );
    }
}

/// Runs `netlens train`.
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    let config = config_for(&args, &run)?;
    let train = load_split(&args.data, Split::Train)?;
    let test = load_split(&args.data, Split::Test)?;
    let start = if args.resume { Start::Resume } else { Start::Fresh };
    let mut bars = Bars { bar: None, epochs: config.epochs };
    let history = netlens_train::train(&run, &config, TrainData { train: &train, test: &test }, start, &mut bars)
        .with_context(|| format!("training {} into {}", config.architecture.name(), run.root().display()))?;
    finish_run(&run, config.architecture)?;
    let last = history.epochs.last().expect("training ran at least one epoch");
    println!(
        "{}: test accuracy {:.4} after {} epochs; wrote {}",
        config.architecture.name(),
        last.test_accuracy,
        last.epoch,
        run.onnx().display()
    );
    Ok(())
}

fn config_for(args: &TrainArgs, run: &RunDir) -> anyhow::Result<TrainConfig> {
    if args.resume {
        let mut config = TrainConfig::load(&run.config())
            .with_context(|| format!("--resume: {} holds no run to resume", run.root().display()))?;
        if let Some(e) = args.epochs {
            config.epochs = e;
        }
        return Ok(config);
    }
    let architecture = Architecture::from(args.model);
    let mut config = TrainConfig::new(architecture, args.data.display().to_string());
    config.epochs = args.epochs.unwrap_or(config.epochs);
    config.batch_size = args.batch_size;
    config.learning_rate = args.lr;
    config.seed = args.seed;
    config.device = args.device.clone();
    Ok(config)
}

/// Exports `model.onnx` (from the final checkpoint, loaded afresh) with readable names and
/// draws the training curves.
pub fn finish_run(run: &RunDir, architecture: Architecture) -> anyhow::Result<()> {
    export_classifier(run, architecture)?;
    let history = netlens_analyze::curves::RunHistory::load(&run.history())?;
    netlens_analyze::curves::write_training_curves(&history, run.root())?;
    Ok(())
}

fn export_classifier(run: &RunDir, architecture: Architecture) -> anyhow::Result<()> {
    let device = netlens_train::device_by_name("flex")?;
    let epoch = run.latest_epoch()?.context("no checkpoint to export")?;
    let model = netlens_train::load_model(run, architecture, epoch, &device)?;
    let bytes = netlens_train::export_onnx(&burn_valid(model), &device)?;
    write_named_onnx(&bytes, &run.onnx(), &["image"], &["logits"])
}

fn burn_valid(model: netlens_train::Classifier) -> netlens_train::Classifier {
    use netlens_train::Module;
    model.valid()
}

/// Renames an exported graph for people and writes it atomically.
pub fn write_named_onnx(bytes: &[u8], path: &Path, inputs: &[&str], outputs: &[&str]) -> anyhow::Result<()> {
    let named = netlens_onnx::naming::name_for_people(bytes, &path.display().to_string(), inputs, outputs)?;
    netlens_fetch::write_atomically(path, &named)?;
    Ok(())
}
