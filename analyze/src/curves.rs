//! Training curves from a run's `history.json` (written by `netlens train`; this crate reads the
//! file, not the training crate): loss (train and test) and accuracy (train and test) per epoch,
//! as SVG line charts drawn with plotters.

use std::path::Path;

use plotters::prelude::*;
use serde::Deserialize;

use crate::error::{AnalyzeError, Result};

/// One epoch's metrics as `history.json` stores them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training cross-entropy (nats per example).
    pub train_loss: f64,
    /// Training accuracy in `[0, 1]`.
    pub train_accuracy: f64,
    /// Mean test cross-entropy (nats per example).
    pub test_loss: f64,
    /// Test accuracy in `[0, 1]`.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// A run's history as `history.json` stores it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunHistory {
    /// Architecture name (`lenet`, `shallow`, `cnn`).
    pub architecture: String,
    /// Epochs in order.
    pub epochs: Vec<EpochRecord>,
}

impl RunHistory {
    /// Reads `history.json`.
    ///
    /// # Errors
    /// [`AnalyzeError::Io`] when unreadable, [`AnalyzeError::Parse`] when not a history.
    pub fn load(path: &Path) -> Result<RunHistory> {
        let text = std::fs::read_to_string(path).map_err(|e| AnalyzeError::Io { path: path.into(), source: e })?;
        serde_json::from_str(&text).map_err(|e| AnalyzeError::Parse { path: path.into(), reason: e.to_string() })
    }
}

/// One named series of `(epoch, value)` points.
pub(crate) struct Series<'a> {
    pub(crate) label: &'a str,
    pub(crate) points: Vec<(f64, f64)>,
    pub(crate) color: RGBColor,
}

/// Writes `loss.svg` (train and test loss) and `accuracy.svg` (train and test accuracy) for
/// `history` into `dir`; returns the two paths.
///
/// # Errors
/// [`AnalyzeError::Io`] when the files cannot be written; [`AnalyzeError::InvalidParam`] for a
/// history without epochs.
pub fn write_training_curves(history: &RunHistory, dir: &Path) -> Result<[std::path::PathBuf; 2]> {
    if history.epochs.is_empty() {
        return Err(AnalyzeError::InvalidParam {
            name: "history".into(),
            value: history.architecture.clone(),
            reason: "has no epochs to plot".into(),
        });
    }
    let pick = |f: fn(&EpochRecord) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let loss = [
        Series { label: "train loss", points: pick(|e| e.train_loss), color: BLUE },
        Series { label: "test loss", points: pick(|e| e.test_loss), color: RED },
    ];
    let accuracy = [
        Series { label: "train accuracy", points: pick(|e| e.train_accuracy), color: BLUE },
        Series { label: "test accuracy", points: pick(|e| e.test_accuracy), color: RED },
    ];
    let name = &history.architecture;
    let loss_path = dir.join("loss.svg");
    let acc_path = dir.join("accuracy.svg");
    write_svg(&loss_path, &line_chart(&format!("{name}: cross-entropy loss"), "loss (nats)", &loss)?)?;
    write_svg(&acc_path, &line_chart(&format!("{name}: accuracy"), "accuracy", &accuracy)?)?;
    Ok([loss_path, acc_path])
}

/// Draws the series into an SVG string.
pub(crate) fn line_chart(title: &str, y_label: &str, series: &[Series<'_>]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 420)).into_drawing_area();
        draw(&root, title, y_label, series).map_err(|e| AnalyzeError::Plot(e.to_string()))?;
        root.present().map_err(|e| AnalyzeError::Plot(e.to_string()))?;
    }
    Ok(svg)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let all = series.iter().flat_map(|s| s.points.iter());
    let (x_max, y_min, y_max) =
        all.fold((1.0f64, f64::INFINITY, f64::NEG_INFINITY), |(x, lo, hi), &(ex, v)| (x.max(ex), lo.min(v), hi.max(v)));
    let pad = ((y_max - y_min) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(1.0..x_max.max(2.0), (y_min - pad)..(y_max + pad))?;
    chart.configure_mesh().x_desc("epoch").y_desc(y_label).draw()?;
    for s in series {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw()?;
    Ok(())
}

/// Writes an SVG string atomically.
pub(crate) fn write_svg(path: &Path, svg: &str) -> Result<()> {
    netlens_fetch::write_atomically(path, svg.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_two_valid_svgs_with_both_series() {
        let json = r#"{"architecture":"lenet","epochs":[
            {"epoch":1,"train_loss":1.2,"train_accuracy":0.55,"test_loss":0.9,"test_accuracy":0.66,"seconds":0.4},
            {"epoch":2,"train_loss":0.7,"train_accuracy":0.74,"test_loss":0.72,"test_accuracy":0.73,"seconds":0.4}]}"#;
        let h: RunHistory = serde_json::from_str(json).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let [loss, acc] = write_training_curves(&h, dir.path()).unwrap();
        for (p, words) in [(loss, ["train loss", "test loss"]), (acc, ["train accuracy", "test accuracy"])] {
            let svg = std::fs::read_to_string(&p).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", p.display());
            for w in words {
                assert!(svg.contains(w), "{} lacks {w}", p.display());
            }
        }
        let empty = RunHistory { architecture: "x".into(), epochs: vec![] };
        assert!(write_training_curves(&empty, dir.path()).is_err());
    }
}
