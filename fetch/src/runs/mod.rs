//! The run folders netlens writes and reads: one typed schema shared by every writer
//! (`netlens-train`, `netlens-analyze`, the `netlens run` pipeline) and every reader (the report,
//! the pipeline's stage cache). No crate reads these files as untyped JSON.
//!
//! A classifier run (`netlens train`, `runs/NAME/`):
//!
//! | file | type |
//! | --- | --- |
//! | `config.json` | [`TrainConfig`]: architecture, hyper-parameters, seed, device, data |
//! | `history.json` | [`History`]: metrics after every epoch |
//! | `model_card.json` | [`ModelCard`]: layers, feature-map sizes, design rationale |
//! | `checkpoint/` | the latest epoch's weights and optimizer state (burn's format) |
//! | `test_logits.npy` | float32 `(N, classes)`: the final model's logits on the test set |
//! | `model.onnx` | the exported model |
//! | `features/summary.json` | [`FeatureSummary`]: the feature study (`netlens features`) |
//! | `explain/explanations.json` | [`Explanations`]: explanations (`netlens explain`) |
//!
//! A VAE run (`netlens vae`) has `config.json` = [`VaeTrainConfig`], `history.json` =
//! [`VaeHistory`], `model_card.json`, `checkpoint/`, `split.json` = [`HoldoutSplit`],
//! `heldout_reconstructions.npy`, `encoder.onnx`, `decoder.onnx`, the figures, and
//! `interp/faces.json` = [`FaceInterpolations`] (attribute edits and face pairs, drawn by
//! `netlens run`); `interp/interpolation.json` = [`Interpolations`] records the strips between
//! two ends that earlier versions of `netlens run` drew, and the report still reads it. The
//! folder of a `netlens run` holds `stages.json` = [`StageRecords`].

mod classifier;
mod explain;
mod features;
mod stages;
mod vae;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{FetchError, Result};

pub use classifier::DEFAULT_SEED;
pub use classifier::{Architecture, DeviceName, EpochMetrics, EpochRecord, History, LayerCard, ModelCard, TrainConfig};
pub use explain::{
    Baseline, BaselineKind, BaselineRecord, Curve, DeletionInsertion, EvidenceLocation, ExplainMethod, ExplainSettings,
    Explanations, FaithfulnessSettings, GradCam, GradCamSettings, ImageExplanation, IntegratedGradients,
    IntegratedGradientsSettings, Map, MethodCurves, ObjectRegion, RandomOrderAuc, Rule, ShapleyEstimator,
    ShapleySettings, ShapleyValues, Target, patch_of_pixel,
};
pub use features::{EmbeddingMethod, EmbeddingRecord, FeatureSummary, LayerRecord, LayerRole};
pub use stages::{InputStamp, StageRecord, StageRecords};
pub use vae::{
    AttributeFigure, AttributeFraction, EditDirection, FaceEdit, FaceInterpolations, FacePair, FaceRef, HoldoutSplit,
    Interpolation, Interpolations, MeanPath, PairFigure, Reconstruction, ReconstructionBaselines, Upsample, VaeConfig,
    VaeEpochMetrics, VaeHistory, VaeTrainConfig,
};

/// `config.json`: [`TrainConfig`] or [`VaeTrainConfig`].
pub const CONFIG: &str = "config.json";
/// `history.json`: [`History`] or [`VaeHistory`].
pub const HISTORY: &str = "history.json";
/// `model_card.json`: [`ModelCard`].
pub const MODEL_CARD: &str = "model_card.json";
/// `test_logits.npy`: float32 `(N, classes)`.
pub const TEST_LOGITS: &str = "test_logits.npy";
/// `model.onnx`: a classifier run's exported model.
pub const MODEL_ONNX: &str = "model.onnx";
/// `checkpoint/`: the latest epoch's weights and optimizer state.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// `split.json`: [`HoldoutSplit`] of a VAE run.
pub const SPLIT: &str = "split.json";
/// `heldout_reconstructions.npy`: float32 `(N_heldout, 3, size, size)`, burn's reconstructions
/// (from μ) of the held-out faces, in split order.
pub const HELDOUT_RECONSTRUCTIONS: &str = "heldout_reconstructions.npy";
/// `baselines.json`: [`ReconstructionBaselines`] of a VAE run's held-out faces.
pub const RECONSTRUCTION_BASELINES: &str = "baselines.json";
/// `encoder.onnx`: image → μ, log σ².
pub const ENCODER_ONNX: &str = "encoder.onnx";
/// `decoder.onnx`: z → image.
pub const DECODER_ONNX: &str = "decoder.onnx";
/// `features/`: the feature study of a classifier run.
pub const FEATURES_DIR: &str = "features";
/// `summary.json` in a features folder: [`FeatureSummary`].
pub const FEATURE_SUMMARY: &str = "summary.json";
/// `explain/`: the explanations of a classifier run.
pub const EXPLAIN_DIR: &str = "explain";
/// `explanations.json` in an explanation folder: [`Explanations`].
pub const EXPLANATIONS: &str = "explanations.json";
/// `interp/`: the interpolation strips of a VAE run.
pub const INTERP_DIR: &str = "interp";
/// `interpolation.json` in `interp/`: [`Interpolations`].
pub const INTERPOLATIONS: &str = "interpolation.json";
/// `faces.json` in `interp/`: [`FaceInterpolations`].
pub const FACE_INTERPOLATIONS: &str = "faces.json";
/// `stages.json` in the folder of a `netlens run`: [`StageRecords`].
pub const STAGES: &str = "stages.json";

/// What a run folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// `netlens train`: `config.json` (with an architecture), `history.json`, `model.onnx`.
    Classifier,
    /// `netlens vae`: `encoder.onnx` and `decoder.onnx`.
    Vae,
    /// `netlens explain`: `explanations.json`.
    Explanations,
}

/// One run folder and the paths of its files (nothing is created or read by constructing it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFolder {
    root: PathBuf,
}

impl RunFolder {
    /// The run folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunFolder { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// [`CONFIG`].
    pub fn config(&self) -> PathBuf {
        self.file(CONFIG)
    }

    /// [`HISTORY`].
    pub fn history(&self) -> PathBuf {
        self.file(HISTORY)
    }

    /// [`MODEL_CARD`].
    pub fn model_card(&self) -> PathBuf {
        self.file(MODEL_CARD)
    }

    /// [`TEST_LOGITS`].
    pub fn test_logits(&self) -> PathBuf {
        self.file(TEST_LOGITS)
    }

    /// [`MODEL_ONNX`].
    pub fn onnx(&self) -> PathBuf {
        self.file(MODEL_ONNX)
    }

    /// [`CHECKPOINT_DIR`].
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.file(CHECKPOINT_DIR)
    }

    /// [`SPLIT`].
    pub fn split(&self) -> PathBuf {
        self.file(SPLIT)
    }

    /// [`RECONSTRUCTION_BASELINES`].
    pub fn reconstruction_baselines(&self) -> PathBuf {
        self.file(RECONSTRUCTION_BASELINES)
    }

    /// [`HELDOUT_RECONSTRUCTIONS`].
    pub fn heldout_reconstructions(&self) -> PathBuf {
        self.file(HELDOUT_RECONSTRUCTIONS)
    }

    /// [`ENCODER_ONNX`].
    pub fn encoder(&self) -> PathBuf {
        self.file(ENCODER_ONNX)
    }

    /// [`DECODER_ONNX`].
    pub fn decoder(&self) -> PathBuf {
        self.file(DECODER_ONNX)
    }

    /// [`FEATURES_DIR`].
    pub fn features_dir(&self) -> PathBuf {
        self.file(FEATURES_DIR)
    }

    /// [`EXPLAIN_DIR`].
    pub fn explain_dir(&self) -> PathBuf {
        self.file(EXPLAIN_DIR)
    }

    /// [`INTERP_DIR`].
    pub fn interp_dir(&self) -> PathBuf {
        self.file(INTERP_DIR)
    }

    /// Reads `config.json` as a classifier's [`TrainConfig`].
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn train_config(&self) -> Result<TrainConfig> {
        read_json(&self.config())
    }

    /// Reads `config.json` as a [`VaeTrainConfig`].
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn vae_config(&self) -> Result<VaeTrainConfig> {
        read_json(&self.config())
    }

    /// Reads `history.json` as a classifier's [`History`].
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn classifier_history(&self) -> Result<History> {
        read_json(&self.history())
    }

    /// Reads `history.json` as a [`VaeHistory`].
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn vae_history(&self) -> Result<VaeHistory> {
        read_json(&self.history())
    }

    /// Reads `model_card.json`.
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn card(&self) -> Result<ModelCard> {
        read_json(&self.model_card())
    }

    /// Reads `split.json`.
    ///
    /// # Errors
    /// As [`read_json`].
    pub fn holdout_split(&self) -> Result<HoldoutSplit> {
        read_json(&self.split())
    }

    /// The epochs recorded in `history.json` (of either kind of run); `None` when the file is
    /// absent or not a history.
    pub fn finished_epochs(&self) -> Option<usize> {
        #[derive(serde::Deserialize)]
        struct Epochs {
            epochs: Vec<serde::de::IgnoredAny>,
        }
        read_json::<Epochs>(&self.history()).ok().map(|h| h.epochs.len())
    }

    /// What the folder holds.
    ///
    /// # Errors
    /// [`FetchError::NotARun`] naming the folder and what it lacks.
    pub fn kind(&self) -> Result<RunKind> {
        let dir = &self.root;
        let not_a_run = |reason: &str| FetchError::NotARun { path: dir.clone(), reason: reason.into() };
        if !dir.is_dir() {
            return Err(not_a_run("no such folder"));
        }
        if self.encoder().exists() && self.decoder().exists() {
            return Ok(RunKind::Vae);
        }
        if self.onnx().exists() && self.history().exists() && self.config().exists() {
            return Ok(RunKind::Classifier);
        }
        if self.file(EXPLANATIONS).exists() {
            return Ok(RunKind::Explanations);
        }
        Err(not_a_run(
            "expected a `netlens train` run (config.json, history.json, model.onnx), a `netlens vae` run \
             (encoder.onnx, decoder.onnx) or a `netlens explain` folder (explanations.json)",
        ))
    }
}

/// Reads the JSON file at `path` into `T`.
///
/// # Errors
/// [`FetchError::Io`] when unreadable, [`FetchError::Json`] naming the file when it is not
/// valid JSON of the expected form.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| FetchError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| FetchError::Json { path: path.into(), source })
}

/// Writes `value` as pretty-printed JSON to `path`, atomically ([`crate::write_atomically`]).
///
/// # Errors
/// [`FetchError::Json`] when `value` cannot be serialised (e.g. a map with non-string keys),
/// [`FetchError::Io`] when the file cannot be written; nothing is left at `path` then.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|source| FetchError::Json { path: path.into(), source })?;
    crate::write_atomically(path, text.as_bytes())
}

/// A setting outside its valid range (checked before any work starts).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {name} = {value}: {reason}")]
pub struct InvalidSetting {
    /// The setting, as the command line names it (`batch-size`).
    pub name: String,
    /// The value given.
    pub value: String,
    /// What a valid value is.
    pub reason: String,
}

impl InvalidSetting {
    /// A new error for setting `name` with `value`.
    pub fn new(name: &str, value: impl ToString, reason: &str) -> Self {
        InvalidSetting { name: name.into(), value: value.to_string(), reason: reason.into() }
    }
}

/// Checks the training schedule every netlens training loop shares.
///
/// # Errors
/// [`InvalidSetting`] for zero epochs or batch size, or a learning rate that is not a positive
/// number.
pub fn check_schedule(epochs: usize, batch_size: usize, learning_rate: f64) -> std::result::Result<(), InvalidSetting> {
    if epochs == 0 {
        return Err(InvalidSetting::new("epochs", epochs, "must be at least 1"));
    }
    if batch_size == 0 {
        return Err(InvalidSetting::new("batch-size", batch_size, "must be at least 1"));
    }
    if !(learning_rate.is_finite() && learning_rate > 0.0) {
        return Err(InvalidSetting::new("lr", learning_rate, "must be a positive number"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A float written by [`write_json`] reads back to the same bits, so a resumed run's history
    /// equals an uninterrupted run's. 229.55706658257378 (a VAE's training reconstruction loss) read
    /// back as …375 with serde_json's default parser, which may miss by one unit in the last place;
    /// the workspace enables its `float_roundtrip` feature.
    #[test]
    fn floats_read_back_to_the_bits_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.json");
        let values = vec![229.55706658257378_f64, 0.1 + 0.2, 1e-310, f64::MAX, 5e-324, 96.64473683834076];
        write_json(&path, &values).unwrap();
        let back: Vec<f64> = read_json(&path).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&values), "{back:?}");
    }

    #[test]
    fn a_folder_is_classified_by_its_files_or_refused_with_what_it_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        let err = run.kind().unwrap_err().to_string();
        assert!(err.contains("config.json, history.json, model.onnx") && err.contains("not a run folder"), "{err}");
        std::fs::write(run.file(EXPLANATIONS), "{}").unwrap();
        assert_eq!(run.kind().unwrap(), RunKind::Explanations);
        for f in [CONFIG, HISTORY, MODEL_ONNX] {
            std::fs::write(run.file(f), "{}").unwrap();
        }
        assert_eq!(run.kind().unwrap(), RunKind::Classifier);
        assert!(RunFolder::new(dir.path().join("missing")).kind().unwrap_err().to_string().contains("no such folder"));
    }

    #[test]
    fn a_file_of_another_form_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunFolder::new(dir.path());
        std::fs::write(run.history(), r#"{"architecture": "lenet", "epochs": [{"epoch": 1}]}"#).unwrap();
        let err = run.classifier_history().unwrap_err();
        assert!(err.to_string().contains("history.json"), "{err}");
        assert_eq!(run.finished_epochs(), Some(1), "any history counts its epochs");
    }

    #[test]
    fn schedules_outside_their_range_are_named() {
        assert!(check_schedule(1, 1, 1e-3).is_ok());
        assert_eq!(check_schedule(0, 1, 1e-3).unwrap_err().name, "epochs");
        assert_eq!(check_schedule(1, 0, 1e-3).unwrap_err().name, "batch-size");
        assert!(check_schedule(1, 1, f64::NAN).unwrap_err().to_string().contains("positive"));
    }
}
