//! A gallery: small images in a grid, each with caption lines under it, as a PNG (e.g. the
//! misclassified test images of a classifier with their true and predicted classes).

use image::{Rgb, RgbImage};

use super::text::{TextStyle, draw_text};
use crate::error::{AnalyzeError, Result};
use crate::explain::figure::DisplayImage;

/// One image of a gallery and the lines under it.
#[derive(Clone, Debug)]
pub struct GalleryCell<'a> {
    /// The image, `[channels, height, width]` in [0, 1] (1 channel grey or 3 channels RGB).
    pub image: DisplayImage<'a>,
    /// Caption lines, drawn under the image and cut with "…" to its width.
    pub caption: Vec<String>,
}

/// Side of one drawn image in pixels; images are enlarged by the integer factor that brings
/// their longer side closest to this from above (a 32×32 image is drawn 6×, 192 pixels).
const CELL: usize = 192;
const GAP: usize = 14;
const TITLE: TextStyle = TextStyle { size: 20.0, bold: true, colour: [0, 0, 0] };
const CAPTION: TextStyle = TextStyle { size: 15.0, bold: false, colour: [0, 0, 0] };

/// Draws `cells` in rows of `cols` under `title`. All images must have the same size.
///
/// # Errors
/// [`AnalyzeError::ShapeMismatch`] when `cells` is empty, an image's data is not
/// `channels × height × width` values, or the images differ in size; [`AnalyzeError::NonFinite`]
/// for NaN or ±∞ among the pixels.
pub fn gallery(title: &str, cells: &[GalleryCell], cols: usize) -> Result<RgbImage> {
    let first = cells.first().ok_or_else(|| AnalyzeError::ShapeMismatch {
        what: format!("the gallery `{title}`"),
        expected: "at least one image".into(),
        found: "none".into(),
    })?;
    let (h, w) = (first.image.height, first.image.width);
    for (i, cell) in cells.iter().enumerate() {
        let im = &cell.image;
        if im.height != h || im.width != w || im.channels == 0 || im.data.len() != im.channels * h * w || h * w == 0 {
            return Err(AnalyzeError::ShapeMismatch {
                what: format!("image {i} of the gallery `{title}`"),
                expected: format!("C×{h}×{w} values like the first image"),
                found: format!("{} values for {}×{}×{}", im.data.len(), im.channels, im.height, im.width),
            });
        }
        crate::finite::ensure_finite(
            || format!("image {i} of the gallery `{title}`"),
            im.data.iter().map(|&v| f64::from(v)),
            |k| format!("value {k}"),
        )?;
    }
    let scale = CELL.div_ceil(h.max(w)).max(1);
    let (pw, ph) = (w * scale, h * scale);
    let lines = cells.iter().map(|c| c.caption.len()).max().unwrap_or(0);
    let cols = cols.clamp(1, cells.len());
    let rows = cells.len().div_ceil(cols);
    let title_h = GAP + TITLE.line_height() + GAP / 2;
    let cell_h = ph + 4 + lines * CAPTION.line_height() + GAP;
    let width = GAP + cols * (pw + GAP);
    let mut out = RgbImage::from_pixel(width as u32, (title_h + rows * cell_h) as u32, Rgb([255, 255, 255]));
    draw_text(&mut out, title, GAP, GAP, width - 2 * GAP, TITLE);
    for (i, cell) in cells.iter().enumerate() {
        let (x0, y0) = (GAP + (i % cols) * (pw + GAP), title_h + (i / cols) * cell_h);
        let im = &cell.image;
        let plane = h * w;
        for y in 0..ph {
            for x in 0..pw {
                let at = |c: usize| im.data[c.min(im.channels - 1) * plane + (y / scale) * w + x / scale];
                let rgb = [0, 1, 2].map(|c| (at(c).clamp(0.0, 1.0) * 255.0).round() as u8);
                out.put_pixel((x0 + x) as u32, (y0 + y) as u32, Rgb(rgb));
            }
        }
        for (k, line) in cell.caption.iter().enumerate() {
            draw_text(&mut out, line, x0, y0 + ph + 4 + k * CAPTION.line_height(), pw, CAPTION);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_laid_out_in_rows_with_their_pixels_enlarged() {
        let black = vec![0.0f32; 32 * 32];
        let white = vec![1.0f32; 32 * 32];
        let cell = |data: &'static [f32]| GalleryCell {
            image: DisplayImage { data, channels: 1, height: 32, width: 32 },
            caption: vec!["true: Shirt".into(), "predicted: T-shirt/top (0.91)".into()],
        };
        let (black, white): (&'static [f32], &'static [f32]) = (black.leak(), white.leak());
        let img = gallery("Misclassified", &[cell(black), cell(white), cell(black)], 2).unwrap();
        let scale = CELL.div_ceil(32);
        assert_eq!(img.width() as usize, GAP + 2 * (32 * scale + GAP));
        let title_h = GAP + TITLE.line_height() + GAP / 2;
        let centre = |col: usize, row: usize| {
            let cell_h = 32 * scale + 4 + 2 * CAPTION.line_height() + GAP;
            *img.get_pixel(
                (GAP + col * (32 * scale + GAP) + 16 * scale) as u32,
                (title_h + row * cell_h + 16 * scale) as u32,
            )
        };
        assert_eq!(centre(0, 0), Rgb([0, 0, 0]));
        assert_eq!(centre(1, 0), Rgb([255, 255, 255]));
        assert_eq!(centre(0, 1), Rgb([0, 0, 0]), "third image starts the second row");
    }

    #[test]
    fn images_of_different_sizes_are_refused_by_index() {
        let a = vec![0.5f32; 4];
        let b = vec![0.5f32; 9];
        let cells = [
            GalleryCell { image: DisplayImage { data: &a, channels: 1, height: 2, width: 2 }, caption: vec![] },
            GalleryCell { image: DisplayImage { data: &b, channels: 1, height: 3, width: 3 }, caption: vec![] },
        ];
        let err = gallery("g", &cells, 2).unwrap_err().to_string();
        assert!(err.contains("image 1"), "{err}");
        assert!(gallery("g", &[], 2).is_err());
    }
}
