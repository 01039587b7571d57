//! Training curves from a run's [`History`]: loss (train and test) and accuracy (train and test) per epoch,
//! as SVG line charts drawn with plotters.

use std::path::Path;

use netlens_fetch::runs::{EpochRecord, History};
use plotters::prelude::*;

use crate::error::{AnalyzeError, Result};

/// The epochs of a history that has at least one, as series points.
pub(crate) struct Points<'a, M>(&'a [M]);

impl<M: EpochRecord> Points<'_, M> {
    /// `(epoch, f(metrics))` for every epoch.
    pub(crate) fn of(&self, f: fn(&M) -> f64) -> Vec<(f64, f64)> {
        self.0.iter().map(|e| (e.epoch() as f64, f(e))).collect()
    }
}

/// The epochs of `history` to plot.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for a history without epochs.
pub(crate) fn points<M: EpochRecord>(history: &History<M>) -> Result<Points<'_, M>> {
    if history.epochs.is_empty() {
        let reason = "has no epochs to plot";
        return Err(netlens_fetch::runs::InvalidSetting::new("history", &history.architecture, reason).into());
    }
    Ok(Points(&history.epochs))
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
pub fn write_training_curves(history: &History, dir: &Path) -> Result<[std::path::PathBuf; 2]> {
    let pick = points(history)?;
    let loss = [
        Series { label: "train loss", points: pick.of(|e| e.train_loss), color: BLUE },
        Series { label: "test loss", points: pick.of(|e| e.test_loss), color: RED },
    ];
    let accuracy = [
        Series { label: "train accuracy", points: pick.of(|e| e.train_accuracy), color: BLUE },
        Series { label: "test accuracy", points: pick.of(|e| e.test_accuracy), color: RED },
    ];
    let name = netlens_fetch::runs::Architecture::ALL
        .into_iter()
        .find(|a| a.name() == history.architecture)
        .map_or(history.architecture.as_str(), |a| a.title());
    let loss_path = dir.join("loss.svg");
    let acc_path = dir.join("accuracy.svg");
    write_svg(&loss_path, &line_chart(&format!("{name}: cross-entropy loss"), "loss (nats)", &loss)?)?;
    write_svg(&acc_path, &line_chart(&format!("{name}: accuracy"), "accuracy", &accuracy)?)?;
    Ok([loss_path, acc_path])
}

/// Draws the series into an SVG string.
///
/// # Errors
/// [`AnalyzeError::NonFinite`] naming the series and epoch of a NaN or ±∞ (a diverged
/// training run); [`AnalyzeError::Plot`] when plotters fails.
pub(crate) fn line_chart(title: &str, y_label: &str, series: &[Series<'_>]) -> Result<String> {
    let x_max = series.iter().flat_map(|s| s.points.iter()).map(|p| p.0).fold(2.0f64, f64::max);
    chart_svg(title, Axis { name: "epoch", range: 1.0..x_max, whole: true }, y_label, series)
}

/// The x axis of a chart: its name, its range and whether its ticks are whole numbers.
pub(crate) struct Axis<'a> {
    pub(crate) name: &'a str,
    pub(crate) range: std::ops::Range<f64>,
    pub(crate) whole: bool,
}

/// Draws the series against `x` into an SVG string, the legend in a column beside the plot.
///
/// # Errors
/// As [`line_chart`].
pub(crate) fn chart_svg(title: &str, x: Axis<'_>, y_label: &str, series: &[Series<'_>]) -> Result<String> {
    for s in series {
        let what = || format!("{title}: series `{}`", s.label);
        crate::finite::ensure_finite(what, s.points.iter().flat_map(|p| [p.0, p.1]), |i| {
            format!("{} {}", x.name, s.points[i / 2].0)
        })?;
    }
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (y_min, y_max) = crate::finite::bounds(all().map(|p| p.1)).unwrap_or((0.0, 1.0));
    let y_range = crate::finite::padded_range(y_label, y_min, y_max)?;
    // plotters panics on some layouts (e.g. text wider than the canvas); that is an error too.
    netlens_fetch::panic::catch(|| {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (760, 420)).into_drawing_area();
            // The legend gets its own column right of the plot, so it never covers a point.
            root.fill(&WHITE).map_err(|e| AnalyzeError::Plot(e.to_string()))?;
            let (plot, side) = root.split_horizontally(760 - LEGEND_WIDTH);
            draw(&plot, title, &x, y_label, series, y_range).map_err(|e| AnalyzeError::Plot(e.to_string()))?;
            legend(&side, series).map_err(|e| AnalyzeError::Plot(e.to_string()))?;
            root.present().map_err(|e| AnalyzeError::Plot(e.to_string()))?;
        }
        Ok(svg)
    })
    .unwrap_or_else(|message| Err(AnalyzeError::Plot(format!("{title}: plotters panicked: {message}"))))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    x: &Axis<'_>,
    y_label: &str,
    series: &[Series<'_>],
    y_range: std::ops::Range<f64>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let x_range = x.range.clone();
    let epochs = x_range.end.round() as usize;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y_range)?;
    let whole = x.whole;
    let formatter = move |v: &f64| if whole { format!("{v:.0}") } else { format!("{v:.1}") };
    chart
        .configure_mesh()
        .x_desc(x.name)
        .y_desc(y_label)
        .x_labels(if whole { epochs.clamp(2, 11) } else { 11 })
        .x_label_formatter(&formatter)
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for s in series {
        let color = s.color;
        chart.draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))?;
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    Ok(())
}

/// Width of the legend column right of a line chart.
const LEGEND_WIDTH: u32 = 190;

/// One line per series in the legend column: a coloured stroke and the series' label.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Series<'_>],
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (k, s) in series.iter().enumerate() {
        let y = 60 + 24 * k as i32;
        area.draw(&PathElement::new(vec![(4, y), (26, y)], s.color.stroke_width(3)))?;
        area.draw_text(s.label, &font, (32, y - 8))?;
    }
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
        let h: History = serde_json::from_str(json).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let [loss, acc] = write_training_curves(&h, dir.path()).unwrap();
        for (p, words) in [(loss, ["train loss", "test loss"]), (acc, ["train accuracy", "test accuracy"])] {
            let svg = std::fs::read_to_string(&p).unwrap();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", p.display());
            for w in words {
                assert!(svg.contains(w), "{} lacks {w}", p.display());
            }
        }
        let empty = History::new("x");
        assert!(write_training_curves(&empty, dir.path()).is_err());
    }
}
