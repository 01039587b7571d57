//! `netlens vae` (train a VAE on faces, export its encoder and decoder, draw reconstructions,
//! samples and curves) and `netlens interpolate` (latent interpolation strips, attribute edits
//! and face pairs from the ONNX files).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens::pipeline::steps::{load_faces, train_vae};
use netlens_analyze::vae::{
    DEFAULT_ALPHAS, Groups, Interpolation, LatentSpec, VaeModels, write_face_figures, write_single_edit,
};
use netlens_fetch::runs::{DEFAULT_SEED, DeviceName, Reconstruction, RunFolder, Upsample, VaeConfig, VaeTrainConfig};
use netlens_train::{RunDir, Start};

use super::progress::Terminal;

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
    #[arg(long, default_value_t = VaeConfig::default().latent)]
    pub latent: usize,
    /// Weight β of the KL term (1 = the plain VAE). The default 0.1 gives sharper faces: with the
    /// summed squared error as reconstruction term, β = 1 let the KL term win (measured on
    /// lfw-small, 50 epochs: held-out MSE per pixel 0.0246 and KL 20 nats, near-average
    /// reconstructions; β = 0.1: 0.0173 and 92 nats).
    #[arg(long, default_value_t = VaeTrainConfig::DEFAULT_BETA)]
    pub beta: f64,
    /// Epochs. With --resume, the new total.
    #[arg(long, default_value_t = VaeTrainConfig::DEFAULT_EPOCHS)]
    pub epochs: usize,
    /// Images per mini-batch.
    #[arg(long, default_value_t = VaeTrainConfig::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = VaeTrainConfig::DEFAULT_LEARNING_RATE)]
    pub lr: f64,
    /// Seed of initialisation, held-out split, shuffling and ε.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// burn device: flex (pure-Rust CPU, always built); cpu, wgpu and cuda need the cargo
    /// feature of the same name.
    #[arg(long, value_enum, default_value_t = DeviceName::Flex)]
    pub device: DeviceName,
    /// Reconstruction term.
    #[arg(long, value_enum, default_value_t = Reconstruction::Mse)]
    pub reconstruction: Reconstruction,
    /// The decoder's upsampling.
    #[arg(long, value_enum, default_value_t = VaeConfig::default().upsample)]
    pub upsample: Upsample,
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

/// Runs `netlens vae`.
pub fn run(args: VaeArgs) -> anyhow::Result<()> {
    let run = RunDir::new(&args.out);
    let images = load_faces(&args.data, args.limit)?;
    let config = config_for(&args, &run, images.shape[2])?;
    super::announce_device(config.device)?;
    let mut terminal = Terminal::stopping_after(args.stop_after);
    netlens::pipeline::Reporter::training(&mut terminal, config.epochs);
    let start = if args.resume { Start::Resume } else { Start::Fresh };
    let trained = train_vae(&run, &config, &images, start, &mut terminal)
        .with_context(|| format!("training the VAE into {}", run.root().display()))?;
    let last = trained.history.epochs.last().context("training ran no epoch")?;
    let Some(onnx) = trained.onnx else {
        println!("vae: stopped after epoch {} of {}; continue with --resume", last.epoch, config.epochs);
        return Ok(());
    };
    println!(
        "vae: held-out MSE per pixel {:.4} (burn), {:.4} (ONNX; max |ONNX − burn| {:.1e}) after {} epochs, {:.0} s of training; wrote {}",
        last.heldout_mse,
        onnx.heldout_mse,
        onnx.max_abs_diff,
        last.epoch,
        trained.history.seconds(),
        run.root().display()
    );
    Ok(())
}

fn config_for(args: &VaeArgs, run: &RunDir, image_size: usize) -> anyhow::Result<VaeTrainConfig> {
    if args.resume {
        let mut config = run
            .vae_config()
            .with_context(|| format!("--resume: {} holds no VAE run to resume", run.root().display()))?;
        config.epochs = args.epochs;
        return Ok(config);
    }
    let mut config = VaeTrainConfig::new(args.data.display().to_string());
    config.model = VaeConfig { latent: args.latent, image_size, upsample: args.upsample };
    (config.reconstruction, config.beta, config.epochs, config.batch_size) =
        (args.reconstruction, args.beta, args.epochs, args.batch_size);
    (config.learning_rate, config.seed, config.device) = (args.lr, args.seed, args.device);
    Ok(config)
}

/// Decode faces between two images or groups: z = α z₁ + (1 − α) z₂; or move one face along an
/// attribute vector.
///
/// With --a and --b: z₁ is the mean μ of the images of --a, z₂ that of --b (encoded with
/// ENCODER). Writes OUT/interpolation_<a>_<b>.png (input faces of B, decoded z₂, one face per α
/// ascending, decoded z₁, input faces of A) and a .npy of the decoded faces (float32
/// (2 + alphas, 3, H, W)).
///
/// With --edit FACE --toward A --away B: decodes z = μ(x) + α d with d = μ̄_A − μ̄_B, the face
/// left out of both means (White 2016, arXiv:1609.04468), at α = 0, each α and 1. Writes
/// OUT/edit_<face>_<b>-to-<a>.png and .npy and prints where the encoder puts each decoded face
/// along d (0 = B's mean latent, 1 = A's).
///
/// With --run-figures: draws what `netlens run` draws from the groups file — one attribute-edit
/// figure per pair of groups (female/male, older/younger: the group means, then three faces of
/// each group moved toward the other) and pairs.png (pairs of real faces), no face twice — and
/// records them in OUT/faces.json.
///
/// A SPEC is an image index (`12`), a comma-separated list of indices (`3,8,21`: their mean
/// latent), a group name from --groups (`female`: its mean latent), or a group's medoid
/// (`female:medoid`: the member whose latent is nearest the group's mean — a real face; not for
/// --toward/--away).
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
    #[arg(long, value_name = "SPEC", requires = "b", required_unless_present_any = ["edit", "run_figures"])]
    pub a: Option<LatentSpec>,
    /// End B (α = 0): index, indices, group or GROUP:medoid.
    #[arg(long, value_name = "SPEC", requires = "a")]
    pub b: Option<LatentSpec>,
    /// Move this image (index) along the attribute vector from --away to --toward.
    #[arg(long, value_name = "FACE", requires_all = ["toward", "away"], conflicts_with_all = ["a", "b", "run_figures"])]
    pub edit: Option<usize>,
    /// The group (or indices) the edited face moves toward.
    #[arg(long, value_name = "SPEC", requires = "edit")]
    pub toward: Option<LatentSpec>,
    /// The group (or indices) the edited face moves away from.
    #[arg(long, value_name = "SPEC", requires = "edit")]
    pub away: Option<LatentSpec>,
    /// Draw the attribute-edit and face-pairs figures `netlens run` draws.
    #[arg(long, conflicts_with_all = ["a", "b"])]
    pub run_figures: bool,
    /// Groups file (JSON: name → list of indices) [default: DATA/groups.json when present].
    #[arg(long, value_name = "FILE")]
    pub groups: Option<PathBuf>,
    /// Weights α of z₁, each in (0, 1).
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_ALPHAS)]
    pub alphas: Vec<f64>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `netlens interpolate`.
pub fn run_interpolate(args: InterpolateArgs) -> anyhow::Result<()> {
    let models = VaeModels::load(&args.encoder, &args.decoder)?;
    let path = args.data.join("X_train.npy");
    let what = path.display().to_string();
    let images = load_faces(&args.data, None)?;
    let groups_path = args.groups.clone().or_else(|| Some(args.data.join("groups.json")).filter(|p| p.exists()));
    let groups = groups_path.as_deref().map(Groups::load).transpose()?;
    if args.run_figures {
        // Faces the VAE held out, from the run folder of the encoder when it has a split.json.
        let run = RunFolder::new(args.encoder.parent().unwrap_or(std::path::Path::new(".")));
        let heldout = run.holdout_split().ok().map(|s| s.heldout);
        let record =
            write_face_figures(&models, &images, &what, groups.as_ref(), heldout.as_deref(), &args.alphas, &args.out)?;
        let mut files: Vec<String> = record.attributes.iter().map(|a| a.figure.clone()).collect();
        files.extend(record.pairs.iter().map(|p| p.figure.clone()));
        files.push(netlens_fetch::runs::FACE_INTERPOLATIONS.into());
        println!("wrote {} into {}", files.join(", "), args.out.display());
        return Ok(());
    }
    if let (Some(face), Some(toward), Some(away)) = (args.edit, &args.toward, &args.away) {
        let out =
            write_single_edit(&models, &images, &what, groups.as_ref(), face, toward, away, &args.alphas, &args.out)?;
        println!("wrote {} and {}", out.png.display(), out.npy.display());
        println!(
            "face {face}: |d| = {:.3}; along d (0 = mean of {away}, 1 = mean of {toward}) its μ lies at {:.3}",
            out.edit.distance, out.edit.input_fraction
        );
        for (w, f) in out.weights.iter().zip(&out.edit.fractions) {
            println!("  α = {w}: the decoded edit re-encodes at {f:.3}");
        }
        println!("RMS change per pixel value from α = 0 to α = 1: {:.3}", out.edit.rms_change);
        return Ok(());
    }
    let (Some(a), Some(b)) = (args.a, args.b) else {
        anyhow::bail!("give --a and --b, --edit with --toward and --away, or --run-figures");
    };
    let spec = Interpolation { a, b, alphas: args.alphas };
    let out = spec.run(&models, &images, &what, groups.as_ref(), &args.out)?;
    println!("wrote {} and {}", out.png.display(), out.npy.display());
    Ok(())
}
