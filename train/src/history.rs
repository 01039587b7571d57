//! The per-epoch metrics of a run, saved as `history.json`.
//!
//! Layout (read by `netlens-analyze` for curves and the report, which does not link this crate):
//! `{"architecture": "lenet", "epochs": [{"epoch": 1, "train_loss": …, "train_accuracy": …,
//! "test_loss": …, "test_accuracy": …, "seconds": …}, …]}`. Losses are mean cross-entropy per
//! example (nats); accuracies are fractions in `[0, 1]`; `seconds` is the epoch's wall time
//! (training and evaluation).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Metrics after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (training-mode BatchNorm).
    pub train_loss: f64,
    /// Fraction of training examples classified correctly during the epoch.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the test set after the epoch (evaluation mode).
    pub test_loss: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

/// All epochs of a run so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The architecture's name (`lenet`, `shallow`, `cnn`, `vae`).
    pub architecture: String,
    /// One entry per finished epoch, in order.
    pub epochs: Vec<EpochMetrics>,
}

impl History {
    /// Reads `history.json`.
    ///
    /// # Errors
    /// [`TrainError::Io`] or [`TrainError::Json`] naming the file.
    pub fn load(path: &Path) -> Result<History> {
        read_json(path)
    }

    /// Writes `history.json` atomically.
    ///
    /// # Errors
    /// [`TrainError::Io`] naming the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// Reads a JSON file into `T`, naming the file in errors.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| TrainError::Json { path: path.into(), source })
}

/// Writes `value` as pretty JSON atomically.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).expect("run metadata serialises to JSON");
    netlens_fetch::write_atomically(path, text.as_bytes())?;
    Ok(())
}
