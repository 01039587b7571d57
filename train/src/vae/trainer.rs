//! Training the VAE: Adam on reconstruction + β · KL over a seeded 90/10 split of the images,
//! evaluation on the held-out faces after every epoch, a checkpoint every epoch in a
//! [`RunDir`], exact resume.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use netlens_fetch::Images;
use netlens_fetch::runs::{HoldoutSplit, VaeConfig, VaeEpochMetrics, VaeHistory, VaeTrainConfig, write_json};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::loss::{loss_terms, standard_normal};
use super::model::{IMAGE_CHANNELS, Vae};
use crate::device::device_by_name;
use crate::error::{Result, TrainError};
use crate::run::RunDir;
use crate::trainer::{Progress, Start, cosine_lr, end_epoch, epoch_order, epoch_seed, init_on_host};

/// Images per batch when evaluating (does not change results, only memory and speed).
const EVAL_BATCH: usize = 100;
/// Mixed into the seed for the held-out split, so it differs from the shuffling stream.
const SPLIT_SALT: u64 = 0x5EED_5A17;
/// Mixed into the seed for the reparameterization noise ε.
const NOISE_SALT: u64 = 0xE951_1011;

/// A seeded split of `n` images: ⌈fraction · n⌉ held out, the rest for training.
///
/// # Errors
/// [`TrainError::DataMismatch`] when either side would be empty.
pub fn holdout_split(n: usize, fraction: f64, seed: u64) -> Result<HoldoutSplit> {
    let k = (fraction * n as f64).ceil() as usize;
    if k == 0 || k >= n {
        return Err(TrainError::DataMismatch {
            what: "images".into(),
            expected: format!("enough to hold out {:.0} % and train on the rest", fraction * 100.0),
            found: format!("{n} images"),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ SPLIT_SALT));
    let (mut heldout, mut train) = (order[..k].to_vec(), order[k..].to_vec());
    heldout.sort_unstable();
    train.sort_unstable();
    Ok(HoldoutSplit { train, heldout })
}

type Optim = burn::optim::ModuleOptimizer;

/// Trains a VAE on `images` (`[N, 3, size, size]`, pixels in `[0, 1]`, size =
/// `config.model.image_size`) into `run`, writing `config.json`, `model_card.json`,
/// `split.json`, `history.json` and a checkpoint after every epoch, and
/// `heldout_reconstructions.npy` at the end.
///
/// With [`Start::Resume`], weights and Adam's moments come from the last complete checkpoint, and
/// shuffling, ε and the learning-rate schedule continue with the same per-epoch seeds and
/// steps, so an interrupted run ends exactly as an uninterrupted one (same seed, same device,
/// same total epochs; a new total changes the schedule's remaining steps).
///
/// # Errors
/// [`TrainError::InvalidParam`] for bad hyper-parameters, [`TrainError::DataMismatch`] when the
/// images are not RGB of the configured size or too few, [`TrainError::RunFolder`] when starting
/// fresh over an existing run or resuming where none is, [`TrainError::Device`], and I/O or
/// checkpoint errors naming the file.
pub fn train_vae(
    run: &RunDir,
    config: &VaeTrainConfig,
    images: &Images,
    start: Start,
    progress: &mut dyn Progress<VaeEpochMetrics>,
) -> Result<VaeHistory> {
    config.check()?;
    check_images(images, config.model.image_size)?;
    let split = holdout_split(images.len(), config.heldout_fraction, config.seed)?;
    let (train, heldout) = (images.select(&split.train), images.select(&split.heldout));
    let device = device_by_name(config.device)?;
    let ad = device.clone().autodiff();
    let (mut model, mut optimizer, mut history) = match start {
        Start::Fresh => fresh(run, config, &split, &ad)?,
        Start::Resume => {
            // The run's held-out split is over the images it started with: resuming on others
            // (another --limit, a changed file) would train on a different split and only fail
            // at the end, after overwriting the checkpoint.
            let recorded = run.holdout_split()?;
            if recorded != split {
                return Err(TrainError::RunFolder {
                    path: run.split(),
                    reason: format!(
                        "the run was started on {} images and is resumed on {}; resume with the same \
                         data and --limit",
                        recorded.train.len() + recorded.heldout.len(),
                        images.len()
                    ),
                });
            }
            resumed(run, config, &ad)?
        }
    };
    for epoch in history.epochs.len() + 1..=config.epochs {
        let started = Instant::now();
        let (m, o, sums) = train_epoch(model, optimizer, config, &train, epoch, &ad, progress);
        (model, optimizer) = (m, o);
        let eval = evaluate_vae(&model.valid(), &heldout, config, &device);
        let metrics = epoch_metrics(epoch, sums, train.len(), &eval, config.beta, started);
        if end_epoch(run, &model, &optimizer, &mut history, metrics, progress)? && epoch < config.epochs {
            return Ok(history);
        }
    }
    let eval = evaluate_vae(&model.valid(), &heldout, config, &device);
    let s = config.model.image_size;
    netlens_fetch::npy::write_f32(
        &run.heldout_reconstructions(),
        &[heldout.len(), IMAGE_CHANNELS, s, s],
        &eval.reconstructions,
    )?;
    Ok(history)
}

/// One pass over the training images; returns the model, the optimizer and the sums of the
/// reconstruction and KL terms over all images.
fn train_epoch(
    mut model: Vae,
    mut optimizer: Optim,
    config: &VaeTrainConfig,
    train: &Images,
    epoch: usize,
    device: &Device,
    progress: &mut dyn Progress<VaeEpochMetrics>,
) -> (Vae, Optim, (f64, f64)) {
    let order = epoch_order(train.len(), config.seed, epoch);
    let mut noise = rand::rngs::StdRng::seed_from_u64(epoch_seed(config.seed, NOISE_SALT, epoch));
    let batches = order.chunks(config.batch_size).count();
    let (mut rec, mut kl) = (0.0, 0.0);
    for (b, idx) in order.chunks(config.batch_size).enumerate() {
        let x = images_tensor(&train.select(idx), device);
        let eps = standard_normal(&mut noise, idx.len(), config.model.latent, device);
        let out = model.forward(x.clone(), eps);
        let terms = loss_terms(config.reconstruction, x, out.logits, out.mu, out.log_var);
        let (r, k) = terms.sums();
        (rec, kl) = (rec + r, kl + k);
        let grads = GradientsParams::from_grads(terms.objective(config.beta).backward(), &model);
        let lr = cosine_lr(config.learning_rate, (epoch - 1) * batches + b, config.epochs * batches);
        model = optimizer.step(lr, model, grads);
        progress.batch(epoch, b + 1, batches);
    }
    (model, optimizer, (rec, kl))
}

fn epoch_metrics(
    epoch: usize,
    (rec, kl): (f64, f64),
    n: usize,
    eval: &VaeEvaluation,
    beta: f64,
    started: Instant,
) -> VaeEpochMetrics {
    let (rec, kl) = (rec / n as f64, kl / n as f64);
    VaeEpochMetrics {
        epoch,
        train_reconstruction: rec,
        train_kl: kl,
        train_loss: rec + beta * kl,
        heldout_reconstruction: eval.reconstruction,
        heldout_kl: eval.kl,
        heldout_loss: eval.reconstruction + beta * eval.kl,
        heldout_mse: eval.mse,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn fresh(
    run: &RunDir,
    config: &VaeTrainConfig,
    split: &HoldoutSplit,
    device: &Device,
) -> Result<(Vae, Optim, VaeHistory)> {
    run.start_fresh(config, &Vae::card(&config.model))?;
    write_json(&run.split(), split)?;
    let model = init_on_host(config.seed, device, |host| Vae::new(&config.model, host))?;
    Ok((model, AdamConfig::new().init(), VaeHistory::new("vae")))
}

fn resumed(run: &RunDir, config: &VaeTrainConfig, device: &Device) -> Result<(Vae, Optim, VaeHistory)> {
    let epoch = run.start_resume(config)?;
    let mut history = run.vae_history()?;
    run.truncate_history(&mut history.epochs, epoch)?;
    let model = load_vae(run, &config.model, epoch, device)?;
    Ok((model, run.load_adam(epoch)?, history))
}

/// Loads the weights of `epoch` from `run` into a fresh VAE of shape `config` on `device`.
///
/// # Errors
/// [`TrainError::Checkpoint`] when the file is missing or does not fit `config`.
pub fn load_vae(run: &RunDir, config: &VaeConfig, epoch: usize, device: &Device) -> Result<Vae> {
    run.load_weights(Vae::new(config, device)?, epoch)
}

fn check_images(images: &Images, size: usize) -> Result<()> {
    let [_, c, h, w] = images.shape;
    if [c, h, w] != [IMAGE_CHANNELS, size, size] {
        return Err(TrainError::DataMismatch {
            what: "images".into(),
            expected: format!("RGB images of {IMAGE_CHANNELS}×{size}×{size}"),
            found: format!("{c}×{h}×{w}"),
        });
    }
    Ok(())
}

/// `[N, C, H, W]` images as a tensor on `device`.
fn images_tensor(images: &Images, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(images.data.clone(), images.shape), device)
}

/// A VAE's scores on a set of images, decoding z = μ (no sampling, so deterministic).
pub struct VaeEvaluation {
    /// Mean reconstruction term per image.
    pub reconstruction: f64,
    /// Mean KL term per image (nats).
    pub kl: f64,
    /// Mean squared error per pixel value, pixels in `[0, 1]`.
    pub mse: f64,
    /// The reconstructions, `[N, 3, size, size]` row-major, pixels in `[0, 1]`.
    pub reconstructions: Vec<f32>,
}

/// Evaluates `model` on `images` (`[N, 3, size, size]` in `[0, 1]`) in batches.
pub fn evaluate_vae(model: &Vae, images: &Images, config: &VaeTrainConfig, device: &Device) -> VaeEvaluation {
    let (mut rec, mut kl, mut sq, mut all) = (0.0, 0.0, 0.0, Vec::with_capacity(images.data.len()));
    let indices: Vec<usize> = (0..images.len()).collect();
    for idx in indices.chunks(EVAL_BATCH) {
        let x = images_tensor(&images.select(idx), device);
        let (mu, log_var) = model.encoder.forward(x.clone());
        let logits = model.decoder.forward_logits(mu.clone());
        let recon = burn::tensor::activation::sigmoid(logits.clone());
        sq += (recon.clone() - x.clone()).powi_scalar(2).sum().into_scalar::<f32>() as f64;
        all.extend(recon.to_data().try_to_vec::<f32>().expect("reconstructions are f32"));
        let (r, k) = loss_terms(config.reconstruction, x, logits, mu, log_var).sums();
        (rec, kl) = (rec + r, kl + k);
    }
    let n = images.len().max(1) as f64;
    VaeEvaluation {
        reconstruction: rec / n,
        kl: kl / n,
        mse: sq / images.data.len().max(1) as f64,
        reconstructions: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holdout_split_is_seeded_disjoint_and_ten_percent() {
        let split = holdout_split(1000, 0.1, 7).unwrap();
        assert_eq!(split, holdout_split(1000, 0.1, 7).unwrap());
        assert_ne!(split.heldout, holdout_split(1000, 0.1, 8).unwrap().heldout);
        assert_eq!((split.heldout.len(), split.train.len()), (100, 900));
        let mut all: Vec<usize> = split.heldout.iter().chain(&split.train).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert!(holdout_split(1, 0.1, 0).is_err());
    }

    #[test]
    fn cosine_schedule_starts_at_the_peak_and_ends_at_zero() {
        const TOL: f64 = 1e-12;
        assert!((cosine_lr(1e-3, 0, 100) - 1e-3).abs() < TOL);
        assert!((cosine_lr(1e-3, 50, 100) - 5e-4).abs() < TOL);
        assert!(cosine_lr(1e-3, 100, 100).abs() < TOL);
    }

    /// Stops after `after` epochs, as an interruption would.
    struct StopAfter(usize, usize);

    impl Progress<VaeEpochMetrics> for StopAfter {
        fn epoch(&mut self, _: &VaeEpochMetrics) {
            self.1 += 1;
        }
        fn stop_requested(&mut self) -> bool {
            self.1 >= self.0
        }
    }

    /// Exactness against an uninterrupted run is checked end to end in `tests/vae.rs` (separate
    /// processes: burn's device RNG is shared by the tests of this binary, which run in parallel).
    #[test]
    fn a_stopped_run_resumes_from_its_checkpoint() {
        let path = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/data/lfw-small/X_train.npy");
        let faces = netlens_fetch::load_npy_images(&path).unwrap();
        let faces = faces.select(&(0..48).collect::<Vec<_>>());
        let mut config = VaeTrainConfig::new("lfw-small");
        (config.epochs, config.batch_size, config.model.latent) = (3, 16, 4);
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path().join("run"));
        let stopped = train_vae(&run, &config, &faces, Start::Fresh, &mut StopAfter(1, 0)).unwrap();
        assert_eq!(stopped.epochs.len(), 1);
        assert_eq!(run.latest_epoch().unwrap(), Some(1));
        let resumed = train_vae(&run, &config, &faces, Start::Resume, &mut ()).unwrap();
        assert_eq!(resumed.epochs.len(), 3);
        // history.json round-trips f64 through decimal text: equal up to the last digit.
        const JSON_ROUND_TRIP: f64 = 1e-12;
        let (r, s) = (&resumed.epochs[0], &stopped.epochs[0]);
        for (x, y) in [(r.train_loss, s.train_loss), (r.train_kl, s.train_kl), (r.heldout_mse, s.heldout_mse)] {
            assert!((x - y).abs() <= JSON_ROUND_TRIP * y.abs(), "{x} vs {y}");
        }
        assert_eq!(run.latest_epoch().unwrap(), Some(3));
        assert!(train_vae(&run, &config, &faces, Start::Fresh, &mut ()).is_err(), "a fresh start over a run");
    }

    #[test]
    fn grayscale_images_are_refused_with_both_shapes() {
        let images = Images { data: vec![0.5; 40 * 32 * 32], shape: [40, 1, 32, 32] };
        let dir = tempfile::tempdir().unwrap();
        let err = train_vae(&RunDir::new(dir.path()), &VaeTrainConfig::new("x"), &images, Start::Fresh, &mut ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("RGB images of 3×32×32") && err.contains("1×32×32"), "{err}");
    }
}
