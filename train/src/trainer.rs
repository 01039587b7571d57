//! The training loop: mini-batch Adam on cross-entropy, evaluation after every epoch,
//! checkpoints every epoch, exact resume.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use netlens_fetch::Dataset;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::device::device_by_name;
use crate::error::{Result, TrainError};
use crate::models::{self, Architecture, Classifier};
use crate::run::RunDir;
use netlens_fetch::runs::{EpochMetrics, EpochRecord, History, TrainConfig, write_json};

/// Side of the square grayscale images the classifiers take.
pub const INPUT_SIZE: usize = 32;
/// Number of classes of Fashion-MNIST.
pub const NUM_CLASSES: usize = 10;
/// Batch size used for evaluation (does not change results, only memory and speed).
const EVAL_BATCH: usize = 250;

/// Receives a training loop's progress; the library itself never prints. `M` is the loop's
/// per-epoch metrics ([`EpochMetrics`] for the classifiers, [`crate::vae::VaeEpochMetrics`] for
/// the VAE).
pub trait Progress<M> {
    /// Called after each training batch (`batch` of `batches`, 1-based) of `epoch`.
    fn batch(&mut self, _epoch: usize, _batch: usize, _batches: usize) {}
    /// Called after each epoch with its metrics, once its checkpoint is committed.
    fn epoch(&mut self, _metrics: &M) {}
    /// Asked after each epoch: `true` stops training there, as an interruption would (e.g. on a
    /// time budget); the run can be continued with [`Start::Resume`].
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Ignores progress.
impl<M> Progress<M> for () {}

/// The training and test sets.
pub struct TrainData<'a> {
    /// Examples to fit.
    pub train: &'a Dataset,
    /// Examples to evaluate on after each epoch.
    pub test: &'a Dataset,
}

/// Whether to start a new run or continue the one in the folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// A new run; the folder must not hold one.
    Fresh,
    /// Continue from the folder's last complete checkpoint.
    Resume,
}

/// Trains `config.architecture` into `run`, writing `config.json`, `model_card.json`,
/// `history.json` and a checkpoint after every epoch, and `test_logits.npy` at the end.
///
/// With [`Start::Resume`], weights and Adam's moments come from the last complete checkpoint
/// and shuffling continues with the same per-epoch seeds, so an interrupted run ends exactly as
/// an uninterrupted one (same seed, same device).
///
/// # Errors
/// [`TrainError::InvalidParam`] for bad hyper-parameters, [`TrainError::DataMismatch`] when the
/// images are not `[N, 1, 32, 32]` or labels exceed the classes, [`TrainError::RunFolder`] when
/// starting fresh over an existing run or resuming where none is, [`TrainError::Device`] for an
/// unavailable device, and I/O or checkpoint errors naming the file.
pub fn train(
    run: &RunDir,
    config: &TrainConfig,
    data: TrainData<'_>,
    start: Start,
    progress: &mut dyn Progress<EpochMetrics>,
) -> Result<History> {
    config.check()?;
    check_data(data.train, "training set")?;
    check_data(data.test, "test set")?;
    let device = device_by_name(config.device)?;
    let ad_device = device.clone().autodiff();
    let (mut model, mut optimizer, mut history) = match start {
        Start::Fresh => fresh(run, config, &ad_device)?,
        Start::Resume => resumed(run, config, &ad_device)?,
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&ad_device);
    for epoch in history.epochs.len() + 1..=config.epochs {
        let started = Instant::now();
        let order = epoch_order(data.train.len(), config.seed, epoch);
        let batches = order.chunks(config.batch_size).count();
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (b, idx) in order.chunks(config.batch_size).enumerate() {
            let lr = cosine_lr(config.learning_rate, (epoch - 1) * batches + b, config.epochs * batches);
            let (x, y) = batch_tensors(data.train, idx, &ad_device);
            let logits = model.forward(x);
            correct += count_correct(&logits, &y);
            let loss = loss_fn.forward(logits, y);
            loss_sum += loss.clone().into_scalar::<f32>() as f64 * idx.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
            progress.batch(epoch, b + 1, batches);
        }
        let eval = evaluate(&model.valid(), data.test, &device);
        let n = data.train.len() as f64;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / n,
            train_accuracy: correct as f64 / n,
            test_loss: eval.loss,
            test_accuracy: eval.accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        if end_epoch(run, &model, &optimizer, &mut history, metrics, progress)? && epoch < config.epochs {
            return Ok(history);
        }
    }
    let eval = evaluate(&model.valid(), data.test, &device);
    let [n, c] = [data.test.len(), NUM_CLASSES];
    netlens_fetch::npy::write_f32(&run.test_logits(), &[n, c], &eval.logits)?;
    Ok(history)
}

type Optim = burn::optim::ModuleOptimizer;

/// A freshly initialised module on `device` whose weights were drawn on the host: `init` runs on
/// `flex` (with autodiff) seeded with `seed`, and the result is moved to `device` as fresh
/// trainable leaves (`Module::fork`). The backends' random generators differ, so drawing on each
/// device would start the same seed from different weights; this way every device starts from
/// the weights `flex` draws.
///
/// # Errors
/// Whatever `init` returns.
pub(crate) fn init_on_host<M: Module>(
    seed: u64,
    device: &Device,
    init: impl FnOnce(&Device) -> Result<M>,
) -> Result<M> {
    /// burn initialises parameters lazily, on the device they are on when first read; moving
    /// an unread parameter would draw it on the target device. Reading each one draws it here.
    struct Draw;
    impl ModuleVisitor for Draw {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            drop(param.val());
        }
    }
    let host = Device::flex().autodiff();
    host.seed(seed);
    let model = init(&host)?;
    model.visit(&mut Draw);
    Ok(model.fork(device))
}

/// The end of every epoch of every netlens training loop: saves the checkpoint, appends
/// `metrics` to `history.json`, marks the checkpoint complete (in that order, so a resumed run
/// never finds a history ahead of its weights), tells `progress`; returns whether `progress`
/// asks to stop.
///
/// # Errors
/// Checkpoint and I/O errors naming the file.
pub(crate) fn end_epoch<M: Module, E: EpochRecord + Clone + serde::Serialize>(
    run: &RunDir,
    model: &M,
    optimizer: &Optim,
    history: &mut History<E>,
    metrics: E,
    progress: &mut dyn Progress<E>,
) -> Result<bool> {
    let epoch = metrics.epoch();
    run.save_checkpoint(epoch, model, optimizer)?;
    history.epochs.push(metrics.clone());
    write_json(&run.history(), history)?;
    run.commit_checkpoint(epoch)?;
    progress.epoch(&metrics);
    Ok(progress.stop_requested())
}

fn fresh(run: &RunDir, config: &TrainConfig, device: &Device) -> Result<(Classifier, Optim, History)> {
    run.start_fresh(config, &models::card(config.architecture))?;
    let model = init_on_host(config.seed, device, |host| Ok(models::init(config.architecture, NUM_CLASSES, host)))?;
    let history = History::new(config.architecture.name());
    Ok((model, AdamConfig::new().init(), history))
}

fn resumed(run: &RunDir, config: &TrainConfig, device: &Device) -> Result<(Classifier, Optim, History)> {
    let epoch = run.start_resume(config)?;
    let mut history = run.classifier_history()?;
    run.truncate_history(&mut history.epochs, epoch)?;
    let model = load_model(run, config.architecture, epoch, device)?;
    Ok((model, run.load_adam(epoch)?, history))
}

/// Loads the weights of `epoch` (the latest complete one when `None`) into a fresh model on
/// `device`.
///
/// # Errors
/// [`TrainError::RunFolder`] when there is no checkpoint, [`TrainError::Checkpoint`] when it
/// cannot be read.
pub fn load_model(run: &RunDir, architecture: Architecture, epoch: usize, device: &Device) -> Result<Classifier> {
    run.load_weights(models::init(architecture, NUM_CLASSES, device), epoch)
}

fn check_data(data: &Dataset, what: &str) -> Result<()> {
    let [_, c, h, w] = data.images.shape;
    if [c, h, w] != [1, INPUT_SIZE, INPUT_SIZE] {
        return Err(TrainError::DataMismatch {
            what: what.into(),
            expected: format!("grayscale images of 1×{INPUT_SIZE}×{INPUT_SIZE}"),
            found: format!("{c}×{h}×{w}"),
        });
    }
    if data.is_empty() {
        return Err(TrainError::DataMismatch {
            what: what.into(),
            expected: "at least one image".into(),
            found: "none".into(),
        });
    }
    Ok(())
}

/// Cosine learning-rate decay (Loshchilov & Hutter, SGDR, arXiv:1608.03983, without restarts):
/// `lr(t) = peak · ½ (1 + cos(π t / T))` at step `t` of `T`, from `peak` down to 0.
pub(crate) fn cosine_lr(peak: f64, step: usize, total: usize) -> f64 {
    peak * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
}

/// The seed of the random stream `salt` in `epoch`: the run's seed mixed with the epoch by the
/// 64-bit golden-ratio constant (Knuth's multiplicative hashing), so every epoch has its own
/// stream and a resumed run draws exactly what an uninterrupted one would.
pub(crate) fn epoch_seed(seed: u64, salt: u64, epoch: usize) -> u64 {
    seed ^ salt ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The order of training examples in `epoch`: a permutation seeded by `(seed, epoch)`, so a
/// resumed run shuffles exactly as an uninterrupted one.
pub(crate) fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(epoch_seed(seed, 0, epoch));
    order.shuffle(&mut rng);
    order
}

/// Images `[batch, 1, 32, 32]` and labels `[batch]` of the examples at `idx`.
fn batch_tensors(data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let images = data.images.select(idx);
    let x = Tensor::<4>::from_data(TensorData::new(images.data, images.shape), device);
    let labels: Vec<i64> = idx.iter().map(|&i| data.labels[i] as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), device);
    (x, y)
}

fn count_correct(logits: &Tensor<2>, labels: &Tensor<1, Int>) -> usize {
    let predicted = logits.clone().argmax(1).flatten::<1>(0, 1);
    predicted.equal(labels.clone()).int().sum().into_scalar::<i64>() as usize
}

/// Mean loss, accuracy and logits of a model on a data set.
pub struct Evaluation {
    /// Mean cross-entropy (nats per example).
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// `[N, classes]` row-major logits.
    pub logits: Vec<f32>,
}

/// Evaluates `model` (in evaluation mode, see [`Module::valid`]) on `data`, in batches.
pub fn evaluate(model: &Classifier, data: &Dataset, device: &Device) -> Evaluation {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut loss_sum, mut correct, mut logits_all) = (0.0f64, 0usize, Vec::new());
    let all: Vec<usize> = (0..data.len()).collect();
    for idx in all.chunks(EVAL_BATCH) {
        let (x, y) = batch_tensors(data, idx, device);
        let logits = model.forward(x);
        correct += count_correct(&logits, &y);
        logits_all.extend(logits.to_data().try_to_vec::<f32>().expect("logits are f32"));
        loss_sum += loss_fn.forward(logits, y).into_scalar::<f32>() as f64 * idx.len() as f64;
    }
    let n = data.len() as f64;
    Evaluation { loss: loss_sum / n, accuracy: correct as f64 / n, logits: logits_all }
}
