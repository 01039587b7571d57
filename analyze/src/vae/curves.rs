//! Loss curves of a VAE run from its [`VaeHistory`]: the objective (train and held-out) and its two terms,
//! reconstruction and KL, as SVG line charts.

use std::path::{Path, PathBuf};

use netlens_fetch::runs::VaeHistory;
use plotters::style::{BLUE, GREEN, MAGENTA, RED};

use crate::curves::{Series, line_chart, points, write_svg};
use crate::error::Result;

/// Writes `loss.svg` (train and held-out objective) and `loss_terms.svg` (train and held-out
/// reconstruction and KL) into `dir`; returns the two paths.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`](crate::AnalyzeError::InvalidParam) for a history without epochs, I/O errors naming the file.
pub fn write_vae_curves(history: &VaeHistory, dir: &Path) -> Result<[PathBuf; 2]> {
    let pick = points(history)?;
    let loss = [
        Series { label: "train loss", points: pick.of(|e| e.train_loss), color: BLUE },
        Series { label: "held-out loss", points: pick.of(|e| e.heldout_loss), color: RED },
    ];
    let terms = [
        Series { label: "train reconstruction", points: pick.of(|e| e.train_reconstruction), color: BLUE },
        Series { label: "held-out reconstruction", points: pick.of(|e| e.heldout_reconstruction), color: RED },
        Series { label: "train KL", points: pick.of(|e| e.train_kl), color: GREEN },
        Series { label: "held-out KL", points: pick.of(|e| e.heldout_kl), color: MAGENTA },
    ];
    let loss_path = dir.join("loss.svg");
    let terms_path = dir.join("loss_terms.svg");
    write_svg(&loss_path, &line_chart("VAE: reconstruction + β·KL per image", "loss", &loss)?)?;
    write_svg(
        &terms_path,
        &line_chart("VAE: loss terms per image", "per image: reconstruction summed over pixels, KL in nats", &terms)?,
    )?;
    Ok([loss_path, terms_path])
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_fetch::runs::VaeEpochMetrics;

    #[test]
    fn draws_both_charts_with_every_series() {
        let e = |epoch: usize, r: f64| VaeEpochMetrics {
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
        let h = VaeHistory { architecture: "vae".into(), epochs: vec![e(1, 150.0), e(2, 90.0)] };
        let dir = tempfile::tempdir().unwrap();
        let [loss, terms] = write_vae_curves(&h, dir.path()).unwrap();
        let svg = std::fs::read_to_string(&terms).unwrap();
        for w in ["train reconstruction", "held-out reconstruction", "train KL", "held-out KL"] {
            assert!(svg.contains(w), "{w}");
        }
        assert!(std::fs::read_to_string(&loss).unwrap().contains("held-out loss"));
        assert!(write_vae_curves(&VaeHistory::new("vae"), dir.path()).is_err());
    }
}
