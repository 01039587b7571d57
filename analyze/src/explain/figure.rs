//! The explanation figure: the original image and each method's map side by side, each panel
//! with a title, as a PNG. Maps are drawn over a grey copy of the image: non-negative maps
//! (Grad-CAM) with a black-red-yellow ramp scaled to their maximum, signed maps (IG, Shapley)
//! with blue (negative) and red (positive) scaled to their largest magnitude; a colour bar under
//! each map gives the scale in the map's own units (logit units for IG and Shapley). Text is set
//! in DejaVu Sans ([`crate::figures::text`]): the first title line bold, the others regular.

use std::path::Path;

use image::{ImageEncoder, Rgb, RgbImage};
use netlens_fetch::resize::resize_bilinear;

use crate::figures::text::{TextStyle, draw_text, draw_text_centred, text_width};

use super::Map;
use crate::error::{AnalyzeError, Result};

/// Smallest panel side in pixels; smaller images are enlarged (nearest neighbour), so a 32×32
/// image is drawn 11× (352 pixels) and a 224×224 one 2×.
pub const MIN_PANEL: usize = 352;
/// Title lines drawn above each panel (more are left out).
const TITLE_LINES: usize = 4;
const GAP: usize = 12;
/// Height of the colour bar under a map.
const BAR_H: usize = 16;
/// The first title line (what the panel is).
const HEAD: TextStyle = TextStyle { size: 21.0, bold: true, colour: [0, 0, 0] };
/// The other title lines and the colour bar's labels.
const BODY: TextStyle = TextStyle { size: 18.0, bold: false, colour: [0, 0, 0] };

/// One panel of the figure.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title lines (long lines are cut to the panel width).
    pub title: Vec<String>,
    /// The map, any resolution (resized to the image); `None` for the original image.
    pub map: Option<Map>,
    /// Whether the map is signed (diverging colours) or non-negative (a heat ramp).
    pub signed: bool,
}

/// The image to explain, for display: `[channels, height, width]` with values in [0, 1]
/// (1 channel grey or 3 channels RGB).
#[derive(Clone, Debug)]
pub struct DisplayImage<'a> {
    pub data: &'a [f32],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Draws the panels in a row. Any finite map draws (all zero, one pixel, any magnitude).
///
/// # Errors
/// [`AnalyzeError::NonFinite`] for NaN or ±∞ in the image or a map;
/// [`AnalyzeError::ShapeMismatch`] when the image data is not `channels × height × width` or
/// a map's data not `height × width` (both at least 1).
pub fn render(image: &DisplayImage, panels: &[Panel]) -> Result<RgbImage> {
    let want = image.channels * image.height * image.width;
    if image.data.len() != want || want == 0 {
        return Err(AnalyzeError::ShapeMismatch {
            what: "the image to draw".into(),
            expected: format!("{}×{}×{} = {want} values", image.channels, image.height, image.width),
            found: format!("{} values", image.data.len()),
        });
    }
    crate::finite::ensure_finite(
        || "the image to draw".into(),
        image.data.iter().map(|&v| f64::from(v)),
        |i| format!("value {i}"),
    )?;
    for panel in panels {
        if let Some(m) = &panel.map {
            let title = panel.title.first().cloned().unwrap_or_default();
            if m.height == 0 || m.width == 0 || m.data.len() != m.height * m.width {
                return Err(AnalyzeError::ShapeMismatch {
                    what: format!("the map `{title}`"),
                    expected: "height × width values with height, width ≥ 1".into(),
                    found: format!("{} values for {}×{}", m.data.len(), m.height, m.width),
                });
            }
            crate::finite::ensure_finite(
                || format!("the map `{title}`"),
                m.data.iter().map(|&v| f64::from(v)),
                |i| format!("value {i}"),
            )?;
        }
    }
    let scale = MIN_PANEL.div_ceil(image.height.max(image.width)).max(1);
    let (ph, pw) = (image.height * scale, image.width * scale);
    let lines = panels.iter().map(|p| p.title.len().min(TITLE_LINES)).max().unwrap_or(0);
    let title_h = GAP + HEAD.line_height() + lines.saturating_sub(1) * BODY.line_height() + GAP / 2;
    let width = panels.len() * (pw + GAP) + GAP;
    let bar_y = title_h + ph + GAP;
    let height = bar_y + BAR_H + 4 + BODY.line_height() + GAP;
    let mut out = RgbImage::from_pixel(width as u32, height as u32, Rgb([255, 255, 255]));
    for (i, panel) in panels.iter().enumerate() {
        let x0 = GAP + i * (pw + GAP);
        let mut y = GAP;
        for (line, text) in panel.title.iter().take(TITLE_LINES).enumerate() {
            let style = if line == 0 { HEAD } else { BODY };
            draw_text(&mut out, text, x0, y, pw, style);
            y += style.line_height();
        }
        let map = panel.map.as_ref().map(|m| resize_bilinear(&m.data, m.height, m.width, image.height, image.width));
        let limit = map.as_ref().map(|m| m.iter().fold(0f32, |a, &v| a.max(v.abs())).max(f32::MIN_POSITIVE));
        for y in 0..ph {
            for x in 0..pw {
                let (sy, sx) = (y / scale, x / scale);
                let base = pixel(image, sy, sx);
                let colour = match (&map, limit) {
                    (Some(m), Some(l)) => {
                        let grey = (base[0] + base[1] + base[2]) / 3.0;
                        blend(grey, m[sy * image.width + sx] / l, panel.signed)
                    }
                    _ => base,
                };
                out.put_pixel(
                    (x0 + x) as u32,
                    (title_h + y) as u32,
                    Rgb(colour.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)),
                );
            }
        }
        match (&map, limit) {
            // An all-zero map has no scale to show: say so where the bar would be.
            (Some(m), _) if m.iter().all(|&v| v == 0.0) => {
                draw_text(&mut out, "zero everywhere", x0, bar_y, pw, BODY);
            }
            (Some(_), Some(l)) => colour_bar(&mut out, x0, bar_y, pw, l, panel.signed),
            _ => {}
        }
    }
    Ok(out)
}

/// A bar from −`limit` (or 0) to `limit` in the map's colours, over mid grey, labelled at both
/// ends (and 0 in the middle of a signed bar).
fn colour_bar(out: &mut RgbImage, x0: usize, y0: usize, width: usize, limit: f32, signed: bool) {
    for x in 0..width {
        let t = x as f32 / (width.max(2) - 1) as f32;
        let v = if signed { 2.0 * t - 1.0 } else { t };
        let colour = blend(0.5, v, signed).map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8);
        for y in 0..BAR_H {
            out.put_pixel((x0 + x) as u32, (y0 + y) as u32, Rgb(colour));
        }
    }
    let label_y = y0 + BAR_H + 4;
    let low = if signed { format!("−{}", short_number(limit)) } else { "0".into() };
    let high = short_number(limit);
    draw_text(out, &low, x0, label_y, width / 3, BODY);
    let high_w = text_width(&high, BODY).ceil() as usize;
    draw_text(out, &high, x0 + width.saturating_sub(high_w), label_y, width / 3, BODY);
    if signed {
        draw_text_centred(out, "0", x0 + width / 2, label_y, width / 3, BODY);
    }
}

/// A number in at most about seven characters: `0.042`, `12.5`, `3.1×10⁻⁴`.
fn short_number(v: f32) -> String {
    match v.abs() {
        0.0 => "0".into(),
        a if (0.01..100.0).contains(&a) => format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string(),
        a if (100.0..100_000.0).contains(&a) => format!("{v:.0}"),
        _ => scientific(v),
    }
}

/// `v` as `m.m×10ⁿ` with a superscript exponent.
fn scientific(v: f32) -> String {
    let text = format!("{v:.1E}");
    let (mantissa, exponent) = text.split_once('E').unwrap_or((&text, "0"));
    let sup: String = exponent
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    format!("{mantissa}×10{sup}")
}

fn pixel(image: &DisplayImage, y: usize, x: usize) -> [f32; 3] {
    let plane = image.height * image.width;
    let at = |c: usize| image.data[c * plane + y * image.width + x];
    if image.channels >= 3 { [at(0), at(1), at(2)] } else { [at(0); 3] }
}

/// Grey image blended 50/50 with the colour of a map value `v` (in [−1, 1] or [0, 1]).
fn blend(grey: f32, v: f32, signed: bool) -> [f32; 3] {
    let colour = if signed {
        if v >= 0.0 { [1.0, 1.0 - v, 1.0 - v] } else { [1.0 + v, 1.0 + v, 1.0] }
    } else {
        let v = v.max(0.0);
        [(2.0 * v).min(1.0), (2.0 * v - 1.0).max(0.0), 0.0]
    };
    let g = 0.3 + 0.4 * grey;
    colour.map(|c| 0.5 * g + 0.5 * c)
}

/// Tiles figures into one image, row-major, as close to square as the count allows; cells are
/// the largest figure's size, on white.
///
/// # Panics
/// If `figures` is empty.
pub fn contact_sheet(figures: &[RgbImage]) -> RgbImage {
    assert!(!figures.is_empty(), "a contact sheet needs at least one figure");
    let cols = (figures.len() as f64).sqrt().ceil() as u32;
    let rows = (figures.len() as u32).div_ceil(cols);
    let cell_w = figures.iter().map(RgbImage::width).max().unwrap_or(1);
    let cell_h = figures.iter().map(RgbImage::height).max().unwrap_or(1);
    let mut sheet = RgbImage::from_pixel(cols * cell_w, rows * cell_h, image::Rgb([255, 255, 255]));
    for (k, figure) in figures.iter().enumerate() {
        let (x, y) = ((k as u32 % cols) * cell_w, (k as u32 / cols) * cell_h);
        image::imageops::replace(&mut sheet, figure, x.into(), y.into());
    }
    sheet
}

/// Writes `figure` as a PNG, atomically.
///
/// # Errors
/// [`AnalyzeError::Figure`] if encoding fails; [`AnalyzeError::Fetch`] if writing fails.
pub fn write_png(path: &Path, figure: &RgbImage) -> Result<()> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(figure.as_raw(), figure.width(), figure.height(), image::ExtendedColorType::Rgb8)
        .map_err(|e| AnalyzeError::Figure { path: path.into(), reason: e.to_string() })?;
    Ok(netlens_fetch::write_atomically(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_has_one_panel_per_entry_and_titles_in_black() {
        let img = vec![0.5f32; 8 * 8];
        let display = DisplayImage { data: &img, channels: 1, height: 8, width: 8 };
        let map = Map { height: 2, width: 2, data: vec![0.0, 1.0, -1.0, 0.5] };
        let panels = vec![
            Panel { title: vec!["Original".into()], map: None, signed: false },
            Panel { title: vec!["IG".into()], map: Some(map), signed: true },
        ];
        let fig = render(&display, &panels).unwrap();
        let side = MIN_PANEL.div_ceil(8) * 8;
        assert_eq!(fig.width() as usize, 2 * (side + GAP) + GAP);
        assert!(fig.pixels().any(|p| p.0 == [0, 0, 0]), "titles drawn");
    }

    #[test]
    fn a_map_panel_gets_a_colour_bar_from_minus_to_plus_its_largest_magnitude() {
        let img = vec![0.5f32; 8 * 8];
        let display = DisplayImage { data: &img, channels: 1, height: 8, width: 8 };
        let map = Map { height: 2, width: 2, data: vec![0.0, 0.25, -0.5, 0.1] };
        let fig = render(&display, &[Panel { title: vec![], map: Some(map), signed: true }]).unwrap();
        let side = MIN_PANEL.div_ceil(8) * 8;
        let bar_y = (GAP + HEAD.line_height() + GAP / 2 + side + GAP) as u32;
        let (left, right) = (fig.get_pixel(GAP as u32, bar_y).0, fig.get_pixel((GAP + side - 1) as u32, bar_y).0);
        assert!(left[2] > left[0] && right[0] > right[2], "blue at −0.5, red at +0.5: {left:?} {right:?}");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(0.0421), "0.042");
        assert_eq!(short_number(0.0003), "3.0×10⁻⁴");
        assert_eq!(short_number(1e-38), "1.0×10⁻³⁸");
        assert_eq!(short_number(1234.0), "1234");
    }

    #[test]
    fn an_all_zero_map_gets_words_instead_of_a_colour_bar_to_nothing() {
        let img = vec![0.5f32; 8 * 8];
        let display = DisplayImage { data: &img, channels: 1, height: 8, width: 8 };
        let map = Map { height: 2, width: 2, data: vec![0.0; 4] };
        let fig = render(&display, &[Panel { title: vec!["Grad-CAM".into()], map: Some(map), signed: false }]).unwrap();
        let side = MIN_PANEL.div_ceil(8) * 8;
        let bar_y = (GAP + HEAD.line_height() + GAP / 2 + side + GAP) as u32;
        let row: Vec<[u8; 3]> = (0..fig.width())
            .flat_map(|x| (bar_y..bar_y + BAR_H as u32).map(move |y| (x, y)))
            .map(|(x, y)| fig.get_pixel(x, y).0)
            .collect();
        assert!(row.iter().all(|p| p[0] == p[1] && p[1] == p[2]), "no coloured bar, only grey text");
        assert!(row.iter().any(|p| p[0] < 128), "the words are drawn");
    }
}
