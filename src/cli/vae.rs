//! `netlens vae` (train a VAE on faces, export its encoder and decoder, draw reconstructions,
//! samples and curves) and `netlens interpolate` (latent interpolation strips from the ONNX
//! files).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use netlens_analyze::vae::{self as figures, Groups, Interpolation, LatentSpec, VaeModels};
use netlens_fetch::Images;
use netlens_train::RunDir;
use netlens_train::vae::{self, Reconstruction, Upsample, VaeProgress, VaeTrainConfig};

use super::progress_bar;
use super::train::write_named_onnx;

/// Reconstruction term of the VAE loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossName {
    /// Squared error summed over the image's pixels.
    Mse,
    /// Binary cross-entropy summed over the image's pixels.
    Bce,
}

/// The decoder's ×2 upsampling before each convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum UpsampleName {
    /// Nearest neighbour.
    Nearest,
    /// Bilinear, half-pixel centres (align_corners = false).
    Bilinear,
}

/// Train a convolutional VAE on RGB faces and export its encoder and decoder to ONNX.
///
/// Reads DATA/X_train.npy (uint8 (N, 3, S, S), S = 32, 64, 128, …), holds out 10 % (seeded) and
/// trains on the rest with Adam on reconstruction + β·KL (Kingma & Welling 2014). Writes to OUT:
/// config.json, model_card.json (layers with output sizes, design rationale), split.json,
/// history.json (both loss terms on train and held-out faces after every epoch), checkpoint/
/// (every epoch), heldout_reconstructions.npy, encoder.onnx (input `image` [batch, 3, S, S] in
/// [0, 1]; outputs `mu`, `log_var` [batch, latent]), decoder.onnx (input `z` [batch, latent];
/// output `image`), reconstructions.png, samples.png, loss.svg and loss_terms.svg.
///
/// Example: `netlens vae --data ../shared/data/lfw-small --out runs/vae`
#[derive(Args, Debug)]
pub struct VaeArgs {
    /// Data folder holding X_train.npy.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Run folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Latent dimension.
    #[arg(long, default_value_t = 64)]
    pub latent: usize,
    /// Weight β of the KL term (1 = the plain VAE). The default 0.1 gives sharper faces: with the
    /// summed squared error as reconstruction term, β = 1 let the KL term win (measured on
    /// lfw-small, 50 epochs: held-out MSE per pixel 0.0246 and KL 20 nats, near-average
    /// reconstructions; β = 0.1: 0.0173 and 92 nats).
    #[arg(long, default_value_t = netlens_train::vae::DEFAULT_BETA)]
    pub beta: f64,
    /// Epochs. With --resume, the new total.
    #[arg(long, default_value_t = vae::DEFAULT_VAE_EPOCHS)]
    pub epochs: usize,
    /// Images per mini-batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed of initialisation, held-out split, shuffling and ε.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// burn device: flex (pure-Rust CPU, always built), cpu, wgpu or cuda (cargo features).
    #[arg(long, default_value = "flex", value_parser = ["flex", "cpu", "wgpu", "cuda"])]
    pub device: String,
    /// Reconstruction term.
    #[arg(long, value_enum, default_value_t = LossName::Mse)]
    pub reconstruction: LossName,
    /// The decoder's upsampling.
    #[arg(long, value_enum, default_value_t = UpsampleName::Nearest)]
    pub upsample: UpsampleName,
    /// Use only the first N images (quick checks).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Continue the interrupted run in --out from its last checkpoint (its config.json is used;
    /// only --epochs may change, which also stretches the learning-rate schedule).
    #[arg(long)]
    pub resume: bool,
    /// Stop after epoch N as an interruption would; the run stays resumable and the
    /// learning-rate schedule still spans --epochs (time-boxed runs, tests of --resume).
    #[arg(long, value_name = "N")]
    pub stop_after: Option<usize>,
}

struct Bars {
    bar: Option<indicatif::ProgressBar>,
    epochs: usize,
    stop_after: Option<usize>,
    last: usize,
}

impl VaeProgress for Bars {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize) {
        let bar =
            self.bar.get_or_insert_with(|| progress_bar(batches as u64, &format!("epoch {epoch}/{}", self.epochs)));
        bar.set_position(batch as u64);
    }

    fn epoch(&mut self, m: &vae::VaeEpochMetrics) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "epoch {:>3}/{}: train rec {:.2} KL {:.2} | held-out rec {:.2} KL {:.2} MSE/pixel {:.4} | {:.1} s",
            m.epoch,
            self.epochs,
            m.train_reconstruction,
            m.train_kl,
            m.heldout_reconstruction,
            m.heldout_kl,
            m.heldout_mse,
            m.seconds
        );
        self.last = m.epoch;
    }

    fn stop_requested(&mut self) -> bool {
        self.stop_after.is_some_and(|n| self.last >= n)
    }
}

/// Runs `netlens vae`.
pub fn run(args: VaeArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    let images = load_faces(&args.data, args.limit)?;
    let config = config_for(&args, &run, &images)?;
    let mut bars = Bars { bar: None, epochs: config.epochs, stop_after: args.stop_after, last: 0 };
    let history = vae::train_vae(&run, &config, &images, args.resume, &mut bars)
        .with_context(|| format!("training the VAE into {}", run.root().display()))?;
    if history.epochs.len() < config.epochs {
        println!("vae: stopped after epoch {} of {}; continue with --resume", history.epochs.len(), config.epochs);
        return Ok(());
    }
    export(&run, &config)?;
    let (onnx_mse, max_diff) = draw(&run, &config, &images)?;
    let last = history.epochs.last().context("training ran no epoch")?;
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    println!(
        "vae: held-out MSE per pixel {:.4} (burn), {onnx_mse:.4} (ONNX; max |ONNX − burn| {max_diff:.1e}) after {} epochs, {seconds:.0} s of training; wrote {}",
        last.heldout_mse,
        last.epoch,
        run.root().display()
    );
    Ok(())
}

/// `DIR/X_train.npy` as images, optionally only the first `limit`.
fn load_faces(data: &Path, limit: Option<usize>) -> anyhow::Result<Images> {
    let path = data.join("X_train.npy");
    let images = netlens_fetch::load_npy_images(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match limit {
        Some(n) if n < images.len() => images.select(&(0..n).collect::<Vec<_>>()),
        _ => images,
    })
}

fn config_for(args: &VaeArgs, run: &RunDir, images: &Images) -> anyhow::Result<VaeTrainConfig> {
    if args.resume {
        let mut config = VaeTrainConfig::load(&run.config())
            .with_context(|| format!("--resume: {} holds no VAE run to resume", run.root().display()))?;
        config.epochs = args.epochs;
        return Ok(config);
    }
    let mut config = VaeTrainConfig::new(args.data.display().to_string());
    config.model.latent = args.latent;
    config.model.image_size = images.shape[2];
    config.model.upsample = match args.upsample {
        UpsampleName::Nearest => Upsample::Nearest,
        UpsampleName::Bilinear => Upsample::Bilinear,
    };
    config.reconstruction = match args.reconstruction {
        LossName::Mse => Reconstruction::Mse,
        LossName::Bce => Reconstruction::Bce,
    };
    (config.beta, config.epochs, config.batch_size) = (args.beta, args.epochs, args.batch_size);
    (config.learning_rate, config.seed, config.device) = (args.lr, args.seed, args.device.clone());
    Ok(config)
}

/// Exports `encoder.onnx` and `decoder.onnx` from the final checkpoint, loaded afresh, with
/// readable names.
fn export(run: &RunDir, config: &VaeTrainConfig) -> anyhow::Result<()> {
    let device = netlens_train::device_by_name("flex")?;
    let epoch = run.latest_epoch()?.context("no checkpoint to export")?;
    let model = vae::load_vae(run, &config.model, epoch, &device)?;
    let (encoder, decoder) = vae::export_vae(&model, &config.model, &device)?;
    write_named_onnx(&encoder, &run.root().join(vae::ENCODER_ONNX), &["image"], &["mu", "log_var"])?;
    write_named_onnx(&decoder, &run.root().join(vae::DECODER_ONNX), &["z"], &["image"])
}

/// Draws reconstructions of the first 16 held-out faces, 32 samples and the curves from the
/// ONNX files; returns the ONNX reconstructions' MSE per pixel on all held-out faces and their
/// largest difference from burn's (`heldout_reconstructions.npy`).
fn draw(run: &RunDir, config: &VaeTrainConfig, images: &Images) -> anyhow::Result<(f64, f32)> {
    let root = run.root();
    let models = VaeModels::load(&root.join(vae::ENCODER_ONNX), &root.join(vae::DECODER_ONNX))?;
    let split = vae::holdout_split(images.len(), config.heldout_fraction, config.seed)?;
    let heldout = images.select(&split.heldout);
    let shown = heldout.select(&(0..heldout.len().min(16)).collect::<Vec<_>>());
    figures::write_reconstructions(&models, &shown, 8, &root.join("reconstructions.png"))?;
    let (mse, max_diff) = onnx_check(&models, &heldout, &root.join(vae::HELDOUT_RECONSTRUCTIONS))?;
    figures::write_samples(&models, 32, config.seed, &root.join("samples.png"))?;
    let history = figures::VaeRunHistory::load(&run.history())?;
    figures::write_vae_curves(&history, root)?;
    Ok((mse, max_diff))
}

/// MSE per pixel of the ONNX reconstructions of `images`, and max |ONNX − burn| against the
/// float32 array at `burn`.
fn onnx_check(models: &VaeModels, images: &Images, burn: &Path) -> anyhow::Result<(f64, f32)> {
    let recon = models.decode(&models.encode(images)?.mu)?;
    let sq: f64 = images.data.iter().zip(&recon.data).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
    let burn = netlens_fetch::npy::read_f32(burn, "(N, 3, H, W)")?;
    let max_diff = recon.data.iter().zip(&burn.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    Ok((sq / images.data.len().max(1) as f64, max_diff))
}

/// Decode faces between two images or groups: z = α z₁ + (1 − α) z₂.
///
/// z₁ is the mean μ of the images of --a, z₂ that of --b (encoded with ENCODER). Writes
/// OUT/interpolation_<a>_<b>.png (input faces of B, decoded z₂, one face per α ascending,
/// decoded z₁, input faces of A) and a .npy of the decoded faces (float32 (2 + alphas, 3, H, W)).
///
/// A SPEC is an image index (`12`), a comma-separated list of indices (`3,8,21`: their mean
/// latent), a group name from --groups (`female`: its mean latent), or a group's medoid
/// (`female:medoid`: the member whose latent is nearest the group's mean — a real face).
///
/// Example: `netlens interpolate --encoder runs/vae/encoder.onnx --decoder runs/vae/decoder.onnx
/// --data ../shared/data/lfw-small --a female --b male --out runs/vae`
#[derive(Args, Debug)]
pub struct InterpolateArgs {
    /// The VAE encoder (image → mu, log_var).
    #[arg(long, value_name = "FILE")]
    pub encoder: PathBuf,
    /// The VAE decoder (z → image).
    #[arg(long, value_name = "FILE")]
    pub decoder: PathBuf,
    /// Data folder holding X_train.npy.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// End A (α = 1): index, indices, group or GROUP:medoid.
    #[arg(long, value_name = "SPEC")]
    pub a: LatentSpec,
    /// End B (α = 0): index, indices, group or GROUP:medoid.
    #[arg(long, value_name = "SPEC")]
    pub b: LatentSpec,
    /// Groups file (JSON: name → list of indices) [default: DATA/groups.json when present].
    #[arg(long, value_name = "FILE")]
    pub groups: Option<PathBuf>,
    /// Weights α of z₁, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.6,0.8")]
    pub alphas: Vec<f64>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `netlens interpolate`.
pub fn run_interpolate(args: InterpolateArgs) -> anyhow::Result<()> {
    let models = VaeModels::load(&args.encoder, &args.decoder)?;
    let path = args.data.join("X_train.npy");
    let images = netlens_fetch::load_npy_images(&path).with_context(|| format!("reading {}", path.display()))?;
    let groups_path = args.groups.clone().or_else(|| Some(args.data.join("groups.json")).filter(|p| p.exists()));
    let groups = groups_path.as_deref().map(Groups::load).transpose()?;
    let spec = Interpolation { a: args.a, b: args.b, alphas: args.alphas };
    let out = spec.run(&models, &images, &path.display().to_string(), groups.as_ref(), &args.out)?;
    println!("wrote {} and {}", out.png.display(), out.npy.display());
    Ok(())
}
