//! The per-epoch metrics of a VAE run, saved as `history.json`.
//!
//! Layout (read by `netlens-analyze`, which does not link this crate):
//! `{"architecture": "vae", "epochs": [{"epoch": 1, "train_reconstruction": …, "train_kl": …,
//! "train_loss": …, "heldout_reconstruction": …, "heldout_kl": …, "heldout_loss": …,
//! "heldout_mse": …, "seconds": …}, …]}`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::history::{read_json, write_json};

/// Metrics after one epoch. Loss terms are per image (reconstruction summed over its pixels, KL
/// in nats), averaged over images; `*_loss` = reconstruction + β · KL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeEpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean reconstruction term over the epoch's training batches (z sampled).
    pub train_reconstruction: f64,
    /// Mean KL term over the epoch's training batches.
    pub train_kl: f64,
    /// Mean training objective (reconstruction + β · KL).
    pub train_loss: f64,
    /// Mean reconstruction term on the held-out faces after the epoch, decoded from z = μ.
    pub heldout_reconstruction: f64,
    /// Mean KL term on the held-out faces.
    pub heldout_kl: f64,
    /// Held-out objective (reconstruction + β · KL).
    pub heldout_loss: f64,
    /// Held-out mean squared error per pixel value (pixels in `[0, 1]`), decoded from μ.
    pub heldout_mse: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

/// All epochs of a VAE run so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VaeHistory {
    /// Always `vae`.
    pub architecture: String,
    /// One entry per finished epoch, in order.
    pub epochs: Vec<VaeEpochMetrics>,
}

impl VaeHistory {
    /// Reads `history.json`.
    ///
    /// # Errors
    /// [`crate::TrainError::Io`] or [`crate::TrainError::Json`] naming the file.
    pub fn load(path: &Path) -> Result<VaeHistory> {
        read_json(path)
    }

    /// Writes `history.json` atomically.
    ///
    /// # Errors
    /// [`crate::TrainError::Io`] naming the file.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}
