//! Loss curves of a VAE run from its `history.json` (written by `netlens vae`; this crate reads
//! the file, not the training crate): the objective (train and held-out) and its two terms,
//! reconstruction and KL, as SVG line charts.

use std::path::{Path, PathBuf};

use plotters::style::{BLUE, GREEN, MAGENTA, RED};
use serde::Deserialize;

use crate::curves::{Series, line_chart, write_svg};
use crate::error::{AnalyzeError, Result};

/// One epoch of a VAE run as `history.json` stores it. Terms are per image, averaged over
/// images: reconstruction summed over the image's pixels, KL in nats.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct VaeEpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training reconstruction term.
    pub train_reconstruction: f64,
    /// Training KL term.
    pub train_kl: f64,
    /// Training objective, reconstruction + β · KL.
    pub train_loss: f64,
    /// Held-out reconstruction term (decoded from μ).
    pub heldout_reconstruction: f64,
    /// Held-out KL term.
    pub heldout_kl: f64,
    /// Held-out objective.
    pub heldout_loss: f64,
    /// Held-out mean squared error per pixel value (pixels in `[0, 1]`).
    pub heldout_mse: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// A VAE run's history.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct VaeRunHistory {
    /// `vae`.
    pub architecture: String,
    /// Epochs in order.
    pub epochs: Vec<VaeEpochRecord>,
}

impl VaeRunHistory {
    /// Reads `history.json`.
    ///
    /// # Errors
    /// [`AnalyzeError::Io`] when unreadable, [`AnalyzeError::Parse`] when not a VAE history.
    pub fn load(path: &Path) -> Result<VaeRunHistory> {
        let text = std::fs::read_to_string(path).map_err(|source| AnalyzeError::Io { path: path.into(), source })?;
        serde_json::from_str(&text).map_err(|e| AnalyzeError::Parse { path: path.into(), reason: e.to_string() })
    }
}

/// Writes `loss.svg` (train and held-out objective) and `loss_terms.svg` (train and held-out
/// reconstruction and KL) into `dir`; returns the two paths.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for a history without epochs, I/O errors naming the file.
pub fn write_vae_curves(history: &VaeRunHistory, dir: &Path) -> Result<[PathBuf; 2]> {
    if history.epochs.is_empty() {
        return Err(AnalyzeError::InvalidParam {
            name: "history".into(),
            value: history.architecture.clone(),
            reason: "has no epochs to plot".into(),
        });
    }
    let pick =
        |f: fn(&VaeEpochRecord) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let loss = [
        Series { label: "train loss", points: pick(|e| e.train_loss), color: BLUE },
        Series { label: "held-out loss", points: pick(|e| e.heldout_loss), color: RED },
    ];
    let terms = [
        Series { label: "train reconstruction", points: pick(|e| e.train_reconstruction), color: BLUE },
        Series { label: "held-out reconstruction", points: pick(|e| e.heldout_reconstruction), color: RED },
        Series { label: "train KL", points: pick(|e| e.train_kl), color: GREEN },
        Series { label: "held-out KL", points: pick(|e| e.heldout_kl), color: MAGENTA },
    ];
    let loss_path = dir.join("loss.svg");
    let terms_path = dir.join("loss_terms.svg");
    write_svg(&loss_path, &line_chart("VAE: reconstruction + β·KL per image", "loss", &loss)?)?;
    write_svg(&terms_path, &line_chart("VAE: loss terms per image", "reconstruction, KL (nats)", &terms)?)?;
    Ok([loss_path, terms_path])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_charts_with_every_series() {
        let e = |epoch: usize, r: f64| VaeEpochRecord {
            epoch,
            train_reconstruction: r,
            train_kl: 20.0,
            train_loss: r + 20.0,
            heldout_reconstruction: r + 5.0,
            heldout_kl: 21.0,
            heldout_loss: r + 26.0,
            heldout_mse: r / 3072.0,
            seconds: 1.0,
        };
        let h = VaeRunHistory { architecture: "vae".into(), epochs: vec![e(1, 150.0), e(2, 90.0)] };
        let dir = tempfile::tempdir().unwrap();
        let [loss, terms] = write_vae_curves(&h, dir.path()).unwrap();
        let svg = std::fs::read_to_string(&terms).unwrap();
        for w in ["train reconstruction", "held-out reconstruction", "train KL", "held-out KL"] {
            assert!(svg.contains(w), "{w}");
        }
        assert!(std::fs::read_to_string(&loss).unwrap().contains("held-out loss"));
        assert!(write_vae_curves(&VaeRunHistory { architecture: "vae".into(), epochs: vec![] }, dir.path()).is_err());
    }
}
