//! Scatter plots of 2-D and 3-D embeddings as SVG (plotters), one colour per class, with a
//! legend of the class names. A 3-D embedding is drawn as a projected 3-D scatter (fixed yaw
//! and pitch) with its three axes.

use std::path::Path;

use ndarray::{ArrayView2, Axis};
use plotters::prelude::*;

use crate::error::{AnalyzeError, Result};

/// Width and height of a scatter plot, in pixels.
pub const SCATTER_SIZE: (u32, u32) = (960, 640);

/// Width of the legend column right of the plot: the legend never covers a point.
const LEGEND_WIDTH: u32 = 150;

/// Ten colours that stay apart (Tableau 10, matplotlib's default cycle), by class label; labels
/// past 10 wrap around.
pub const CLASS_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// What to draw: points, their labels, the class names, the title and axis names.
pub struct Scatter<'a> {
    /// `[n, 2]` or `[n, 3]` coordinates.
    pub points: ArrayView2<'a, f64>,
    /// `[n]` class labels, indices into `class_names`.
    pub labels: &'a [u32],
    /// Class names in label order (the legend).
    pub class_names: &'a [String],
    /// Title above the plot.
    pub title: String,
    /// One name per axis, e.g. `["PC1 (31.2%)", "PC2 (12.0%)"]`.
    pub axis_names: Vec<String>,
}

fn color(label: u8) -> RGBColor {
    CLASS_COLORS[label as usize % CLASS_COLORS.len()]
}

/// The range of column `c`, padded (see [`crate::finite::padded_range`]); `0..1` padded for
/// no points.
fn range(points: ArrayView2<f64>, c: usize, name: &str) -> Result<std::ops::Range<f64>> {
    let (lo, hi) = crate::finite::bounds(points.index_axis(Axis(1), c).iter().copied()).unwrap_or((0.0, 1.0));
    crate::finite::padded_range(name, lo, hi)
}

/// Draws `scatter` as an SVG at `path` (written atomically).
///
/// Any finite points draw (one point, all equal, up to ±`f64::MAX`, which is clipped to a
/// quarter of it); NaN or ±∞ are refused before drawing.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] unless the points have 2 or 3 columns, one label each and one
/// axis name per column; [`AnalyzeError::NonFinite`] for NaN or ±∞ among the points;
/// [`AnalyzeError::Figure`] when plotters fails; [`AnalyzeError::Fetch`] when the file cannot
/// be written.
pub fn write_scatter_svg(path: &Path, scatter: &Scatter) -> Result<()> {
    let dims = scatter.points.ncols();
    let ranges = check(scatter)?;
    let mut svg = String::new();
    let drawn = netlens_fetch::panic::catch(|| {
        let root = SVGBackend::with_string(&mut svg, SCATTER_SIZE).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| {
            let (plot, side) = root.split_horizontally(SCATTER_SIZE.0 - LEGEND_WIDTH);
            if dims == 2 { draw_2d(&plot, scatter, &ranges, 20) } else { draw_3d(&plot, scatter, &ranges, 20) }?;
            legend(&side, scatter.class_names)
        });
        drawn.and_then(|_| root.present().map_err(|e| e.to_string()))
    })
    .unwrap_or_else(|message| Err(format!("plotters panicked: {message}")));
    drawn.map_err(|reason| AnalyzeError::Figure { path: path.into(), reason })?;
    netlens_fetch::write_atomically(path, svg.as_bytes())?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

type Ranges = [std::ops::Range<f64>];

/// Checks that `scatter` has 2 or 3 columns, one label per point, one name per axis and only
/// finite points; returns each axis's padded range.
fn check(scatter: &Scatter) -> Result<Vec<std::ops::Range<f64>>> {
    let dims = scatter.points.ncols();
    if !(2..=3).contains(&dims) || scatter.labels.len() != scatter.points.nrows() || scatter.axis_names.len() != dims {
        return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "points".into(),
            value: format!(
                "{:?} with {} labels and {} axis names",
                scatter.points.dim(),
                scatter.labels.len(),
                scatter.axis_names.len()
            ),
            reason: "a scatter needs [n, 2] or [n, 3] points, n labels and one name per axis".into(),
        }));
    }
    crate::finite::ensure_finite(
        || format!("points of the scatter plot `{}`", scatter.title),
        scatter.points.iter().copied(),
        |i| format!("point {}, axis {}", i / dims, i % dims),
    )?;
    (0..dims).map(|c| range(scatter.points, c, &scatter.axis_names[c])).collect()
}

/// Width and height of one panel of a scatter grid, in pixels.
pub const GRID_PANEL: (u32, u32) = (560, 420);
/// Height of a grid's title and legend strip above the panels.
const GRID_HEADER: u32 = 76;

/// Draws `rows` of scatter panels (e.g. one row per layer, one column per method) as one SVG at
/// `path` (written atomically): `title` and a one-line legend of `class_names` on top, in their
/// own strip, so no legend covers a point; each panel keeps its own title and axis names.
/// Rows may have different lengths; the grid is as wide as the longest.
///
/// # Errors
/// As [`write_scatter_svg`] for any panel; [`AnalyzeError::InvalidParam`] for no panel.
pub fn write_scatter_grid_svg(path: &Path, title: &str, class_names: &[String], rows: &[Vec<Scatter>]) -> Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    if cols == 0 {
        return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "scatter grid".into(),
            value: "no panel".into(),
            reason: "a grid needs at least one scatter".into(),
        }));
    }
    let ranges =
        rows.iter().map(|row| row.iter().map(check).collect::<Result<Vec<_>>>()).collect::<Result<Vec<_>>>()?;
    let size = (GRID_PANEL.0 * cols as u32, GRID_HEADER + GRID_PANEL.1 * rows.len() as u32);
    let mut svg = String::new();
    let drawn = netlens_fetch::panic::catch(|| {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root.fill(&WHITE).map_err(|e| e.to_string()).and_then(|_| {
            let (header, body) = root.split_vertically(GRID_HEADER);
            header
                .draw_text(title, &("sans-serif", 22).into_font().color(&BLACK), (12, 10))
                .map_err(|e| e.to_string())?;
            legend_row(&header, class_names, 48)?;
            for (r, row) in rows.iter().enumerate() {
                for (c, scatter) in row.iter().enumerate() {
                    let (x, y) = (c as i32 * GRID_PANEL.0 as i32, r as i32 * GRID_PANEL.1 as i32);
                    let cell = body.clone().shrink((x, y), GRID_PANEL);
                    if scatter.points.ncols() == 2 {
                        draw_2d(&cell, scatter, &ranges[r][c], 18)
                    } else {
                        draw_3d(&cell, scatter, &ranges[r][c], 18)
                    }?;
                }
            }
            Ok(())
        });
        drawn.and_then(|_| root.present().map_err(|e| e.to_string()))
    })
    .unwrap_or_else(|message| Err(format!("plotters panicked: {message}")));
    drawn.map_err(|reason| AnalyzeError::Figure { path: path.into(), reason })?;
    netlens_fetch::write_atomically(path, svg.as_bytes())?;
    Ok(())
}

/// The class legend as one line (wrapping to a second when it does not fit): a dot and the
/// name per class, left to right, with its dots' centres at height `y`.
fn legend_row(area: &Area, class_names: &[String], y: i32) -> std::result::Result<(), String> {
    let font = ("sans-serif", 15).into_font().color(&BLACK);
    let width = area.dim_in_pixel().0 as i32;
    let (mut x, mut y) = (18, y);
    for (k, name) in class_names.iter().enumerate() {
        // Sans-serif at 15 pixels averages under 9 pixels a character.
        let step = 24 + 9 * name.chars().count() as i32;
        if x + step > width && x > 18 {
            (x, y) = (18, y + 20);
        }
        area.draw(&Circle::new((x, y), 6, color(k as u8).filled())).map_err(|e| e.to_string())?;
        area.draw_text(name, &font, (x + 10, y - 8)).map_err(|e| e.to_string())?;
        x += step;
    }
    Ok(())
}

fn draw_2d(root: &Area, s: &Scatter, r: &Ranges, caption: u32) -> std::result::Result<(), String> {
    let mut chart = ChartBuilder::on(root)
        .caption(&s.title, ("sans-serif", caption))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(r[0].clone(), r[1].clone())
        .map_err(|e| e.to_string())?;
    // Axis text in proportion to the caption, so a grid's panels stay readable when shrunk.
    let text = ("sans-serif", caption * 3 / 4);
    chart
        .configure_mesh()
        .x_desc(&s.axis_names[0])
        .y_desc(&s.axis_names[1])
        .label_style(text)
        .axis_desc_style(text)
        .disable_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    for label in 0..s.class_names.len() {
        let c = color(label as u8);
        let pts = s.points.outer_iter().zip(s.labels).filter(|(_, l)| **l as usize == label).map(|(p, _)| (p[0], p[1]));
        chart.draw_series(pts.map(|p| Circle::new(p, 3, c.filled()))).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_3d(root: &Area, s: &Scatter, r: &Ranges, caption: u32) -> std::result::Result<(), String> {
    let mut chart = ChartBuilder::on(root)
        .caption(&s.title, ("sans-serif", caption))
        .margin(12)
        .build_cartesian_3d(r[0].clone(), r[1].clone(), r[2].clone())
        .map_err(|e| e.to_string())?;
    chart.with_projection(|mut p| {
        p.yaw = 0.6;
        p.pitch = 0.35;
        p.scale = 0.8;
        p.into_matrix()
    });
    chart.configure_axes().light_grid_style(WHITE.mix(0.0)).max_light_lines(1).draw().map_err(|e| e.to_string())?;
    for label in 0..s.class_names.len() {
        let c = color(label as u8);
        let pts =
            s.points.outer_iter().zip(s.labels).filter(|(_, l)| **l as usize == label).map(|(p, _)| (p[0], p[1], p[2]));
        chart.draw_series(pts.map(|p| Circle::new(p, 3, c.filled()))).map_err(|e| e.to_string())?;
    }
    // plotters' 3-D axes carry no names: list them under the plot (x, y, z).
    let axes = format!("x: {}   y: {}   z: {}", s.axis_names[0], s.axis_names[1], s.axis_names[2]);
    root.draw_text(&axes, &("sans-serif", 14).into_font().color(&BLACK), (12, root.dim_in_pixel().1 as i32 - 22))
        .map_err(|e| e.to_string())
}

/// The class legend in its own column: a dot and the name per class, top to bottom.
fn legend(area: &Area, class_names: &[String]) -> std::result::Result<(), String> {
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    for (k, name) in class_names.iter().enumerate() {
        let y = 48 + 22 * k as i32;
        area.draw(&Circle::new((10, y), 5, color(k as u8).filled())).map_err(|e| e.to_string())?;
        area.draw_text(name, &font, (22, y - 7)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn writes_2d_and_3d_svgs_with_a_legend() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["T-shirt/top", "Trouser", "Bag"].iter().map(|s| s.to_string()).collect();
        let labels: Vec<u32> = (0..30).map(|i| (i % 3) as u32).collect();
        for dims in [2, 3] {
            let points = Array2::from_shape_fn((30, dims), |(i, j)| (i * (j + 1)) as f64 * 0.1);
            let path = dir.path().join(format!("s{dims}.svg"));
            let axis_names = (1..=dims).map(|d| format!("axis {d}")).collect();
            write_scatter_svg(
                &path,
                &Scatter { points: points.view(), labels: &labels, class_names: &names, title: "t".into(), axis_names },
            )
            .unwrap();
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.contains(&format!("axis {dims}")), "{dims}-D: axis names shown");
            assert!(svg.starts_with("<svg") && svg.contains("Trouser") && svg.contains("T-shirt/top"), "{dims}-D");
            assert!(svg.matches("<circle").count() >= 30, "{dims}-D: one circle per point");
        }
        let bad = Array2::zeros((4, 1));
        let err = write_scatter_svg(
            &dir.path().join("x.svg"),
            &Scatter {
                points: bad.view(),
                labels: &[0; 4],
                class_names: &names,
                title: "t".into(),
                axis_names: vec![],
            },
        );
        assert!(err.unwrap_err().to_string().contains("[n, 2] or [n, 3]"));
    }

    /// `(cx, cy, r)` of every circle of an SVG.
    fn circles(svg: &str) -> Vec<(f64, f64, f64)> {
        let attr = |tag: &str, name: &str| -> f64 {
            let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
            tag[start..].split('"').next().unwrap().parse().unwrap()
        };
        svg.split("<circle").skip(1).map(|t| (attr(t, "cx"), attr(t, "cy"), attr(t, "r"))).collect()
    }

    #[test]
    fn no_data_point_lies_under_a_legend_in_a_figure_or_a_grid() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> =
            ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
                .map(String::from)
                .to_vec();
        let labels: Vec<u32> = (0..200).map(|i| i % 10).collect();
        // Points reaching every corner of the plotting area, where a legend box would sit.
        let points = Array2::from_shape_fn((200, 2), |(i, j)| if j == 0 { (i % 20) as f64 } else { (i / 20) as f64 });
        let scatter = |title: &str| Scatter {
            points: points.view(),
            labels: &labels,
            class_names: &names,
            title: title.into(),
            axis_names: vec!["x".into(), "y".into()],
        };
        let one = dir.path().join("one.svg");
        write_scatter_svg(&one, &scatter("one")).unwrap();
        let all = circles(&std::fs::read_to_string(&one).unwrap());
        let (data, legend): (Vec<&(f64, f64, f64)>, Vec<_>) = all.iter().partition(|c| c.2 < 5.0);
        assert_eq!((data.len(), legend.len()), (200, 10));
        let legend_left = legend.iter().map(|c| c.0 - c.2).fold(f64::INFINITY, f64::min);
        assert!(data.iter().all(|c| c.0 + c.2 < legend_left), "every point left of the legend column");

        let grid = dir.path().join("grid.svg");
        let rows =
            vec![vec![scatter("conv1 PCA"), scatter("conv1 t-SNE")], vec![scatter("fc1 PCA"), scatter("fc1 t-SNE")]];
        write_scatter_grid_svg(&grid, "net: features", &names, &rows).unwrap();
        let svg = std::fs::read_to_string(&grid).unwrap();
        let all = circles(&svg);
        let (data, legend): (Vec<&(f64, f64, f64)>, Vec<_>) = all.iter().partition(|c| c.2 < 5.0);
        assert_eq!((data.len(), legend.len()), (800, 10));
        let legend_bottom = legend.iter().map(|c| c.1 + c.2).fold(f64::NEG_INFINITY, f64::max);
        assert!(data.iter().all(|c| c.1 - c.2 > legend_bottom), "every point below the legend strip");
        assert!(svg.contains("conv1 t-SNE") && svg.contains("fc1 PCA") && svg.contains("Ankle boot"));
        assert!(svg.starts_with(&format!("<svg width=\"{}\"", 2 * GRID_PANEL.0)));
    }
}
