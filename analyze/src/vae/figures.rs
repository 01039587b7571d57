//! The VAE figures as PNGs: faces above their reconstructions, samples from the prior,
//! interpolation strips and rows of faces (attribute edits, face pairs). Faces are enlarged by an integer factor (nearest neighbour) so each
//! pixel stays a visible square; labels are set in DejaVu Sans ([`crate::figures::text`]).

use image::{Rgb, RgbImage};
use netlens_fetch::Images;

use crate::error::{AnalyzeError, Result};

/// Target side of one face on the figure, in pixels (a 32-pixel face is drawn 4× larger).
const CELL: usize = 128;
/// White space between faces, in pixels.
const GAP: usize = 4;
/// Height of one text line (18-pixel DejaVu Sans plus spacing).
const LINE: usize = 26;
/// Width of the "Input"/"Output" labels left of a reconstruction grid.
const ROW_LABEL: usize = 72;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Integer enlargement for faces of side `side`: ⌈CELL / side⌉, at least 1.
fn scale_for(side: usize) -> usize {
    CELL.div_ceil(side).max(1)
}

/// Draws image `i` of `images` (`[N, 3, H, W]`, pixels in `[0, 1]`) enlarged `scale`× with its
/// top-left corner at `(x, y)`.
fn blit(canvas: &mut RgbImage, images: &Images, i: usize, x: usize, y: usize, scale: usize) {
    let [_, c, h, w] = images.shape;
    let img = images.image(i);
    for py in 0..h * scale {
        for px in 0..w * scale {
            let at = |ch: usize| img[ch.min(c - 1) * h * w + (py / scale) * w + px / scale];
            let rgb = [0, 1, 2].map(|ch| (at(ch).clamp(0.0, 1.0) * 255.0).round() as u8);
            canvas.put_pixel((x + px) as u32, (y + py) as u32, Rgb(rgb));
        }
    }
}

fn blank(width: usize, height: usize) -> RgbImage {
    RgbImage::from_pixel(width as u32, height as u32, WHITE)
}

fn text(canvas: &mut RgbImage, s: &str, x: usize, y: usize, max_width: usize) {
    crate::figures::text::draw_text(canvas, s, x, y, max_width, crate::figures::text::TextStyle::regular(18.0));
}

/// Checks that `images` can be drawn: at least one channel, row and column, as many values as
/// the shape says, all finite.
fn check_faces(what: &str, images: &Images) -> Result<()> {
    let [n, c, h, w] = images.shape;
    if c == 0 || h == 0 || w == 0 || images.data.len() != n * c * h * w {
        return Err(AnalyzeError::ShapeMismatch {
            what: what.into(),
            expected: "[N, C, H, W] images with C, H, W ≥ 1 and N·C·H·W values".into(),
            found: format!("shape {:?} with {} values", images.shape, images.data.len()),
        });
    }
    let plane = c * h * w;
    crate::finite::ensure_finite(
        || what.into(),
        images.data.iter().map(|&v| f64::from(v)),
        |i| format!("image {}, value {}", i / plane, i % plane),
    )
}

/// Faces (`[N, 3, H, W]`) in rows of `cols`, under a title line.
///
/// # Errors
/// [`AnalyzeError::ShapeMismatch`] or [`AnalyzeError::NonFinite`] for faces that cannot be
/// drawn (see `check_faces`).
pub fn face_grid(title: &str, images: &Images, cols: usize) -> Result<RgbImage> {
    check_faces(title, images)?;
    let [n, _, h, w] = images.shape;
    let s = scale_for(h.max(w));
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let (cw, ch) = (w * s + GAP, h * s + GAP);
    let mut canvas = blank(GAP + cols * cw, LINE + GAP + rows * ch);
    let width = canvas.width() as usize;
    text(&mut canvas, title, GAP, 2, width);
    for i in 0..n {
        blit(&mut canvas, images, i, GAP + (i % cols) * cw, LINE + GAP + (i / cols) * ch, s);
    }
    Ok(canvas)
}

/// Input faces above their reconstructions: for each group of `cols` faces, a row of inputs
/// and below it the row of their reconstructions. `inputs` and `reconstructions` have the same
/// shape `[N, 3, H, W]`.
///
/// # Errors
/// [`AnalyzeError::ShapeMismatch`] for faces that cannot be drawn or shapes that differ;
/// [`AnalyzeError::NonFinite`] for NaN or ±∞ among them.
pub fn reconstruction_grid(title: &str, inputs: &Images, reconstructions: &Images, cols: usize) -> Result<RgbImage> {
    check_faces(&format!("{title}: inputs"), inputs)?;
    check_faces(&format!("{title}: reconstructions"), reconstructions)?;
    if inputs.shape != reconstructions.shape {
        return Err(AnalyzeError::ShapeMismatch {
            what: format!("{title}: reconstructions"),
            expected: format!("the inputs' shape {:?}", inputs.shape),
            found: format!("{:?}", reconstructions.shape),
        });
    }
    let [n, _, h, w] = inputs.shape;
    let s = scale_for(h.max(w));
    let cols = cols.clamp(1, n.max(1));
    let pairs = n.div_ceil(cols);
    let label = ROW_LABEL;
    let (cw, ch) = (w * s + GAP, h * s + GAP);
    let mut canvas = blank(label + GAP + cols * cw, LINE + GAP + pairs * (2 * ch + GAP));
    let width = canvas.width() as usize;
    text(&mut canvas, title, GAP, 2, width);
    for p in 0..pairs {
        let y = LINE + GAP + p * (2 * ch + GAP);
        text(&mut canvas, "Input", GAP, y + ch / 2, label);
        text(&mut canvas, "Output", GAP, y + ch + ch / 2, label);
        for i in p * cols..(p * cols + cols).min(n) {
            let x = label + GAP + (i % cols) * cw;
            blit(&mut canvas, inputs, i, x, y, s);
            blit(&mut canvas, reconstructions, i, x, y + ch, s);
        }
    }
    Ok(canvas)
}

/// One column of an interpolation strip: a label and a face, or up to four input faces drawn
/// as a 2×2 mosaic at half size.
pub struct StripColumn {
    /// Label above the column.
    pub label: String,
    /// The face(s), `[k, 3, H, W]`; k = 1 draws one face, k ≥ 2 a mosaic of the first four.
    pub faces: Images,
}

/// An interpolation strip: columns left to right under a title line.
///
/// # Errors
/// [`AnalyzeError::ShapeMismatch`] for a column without faces, faces that cannot be drawn or
/// columns of different face sizes; [`AnalyzeError::NonFinite`] for NaN or ±∞ among them.
pub fn strip(title: &str, columns: &[StripColumn]) -> Result<RgbImage> {
    let [_, _, h, w] = columns.first().map(|c| c.faces.shape).unwrap_or([0, 3, 32, 32]);
    for col in columns {
        let what = format!("{title}: column `{}`", col.label);
        check_faces(&what, &col.faces)?;
        let [n, _, ch, cw] = col.faces.shape;
        if n == 0 || [ch, cw] != [h, w] {
            return Err(AnalyzeError::ShapeMismatch {
                what,
                expected: format!("at least one face of {h}×{w}"),
                found: format!("{n} of {ch}×{cw}"),
            });
        }
    }
    let s = scale_for(h.max(w));
    let (cw, ch) = (w * s + GAP, h * s + GAP);
    let mut canvas = blank(GAP + columns.len() * cw, 2 * LINE + GAP + ch);
    let width = canvas.width() as usize;
    text(&mut canvas, title, GAP, 2, width);
    for (j, col) in columns.iter().enumerate() {
        let (x, y) = (GAP + j * cw, 2 * LINE + GAP);
        text(&mut canvas, &col.label, x, LINE + 2, cw);
        if col.faces.len() == 1 || !s.is_multiple_of(2) {
            blit(&mut canvas, &col.faces, 0, x, y, s);
        } else {
            for k in 0..col.faces.len().min(4) {
                blit(&mut canvas, &col.faces, k, x + (k % 2) * w * s / 2, y + (k / 2) * h * s / 2, s / 2);
            }
        }
    }
    Ok(canvas)
}

/// One row of a [`face_rows`] figure.
pub struct FaceRow {
    /// Lines of text left of the row (the face's index and group, say), top to bottom.
    pub label: Vec<String>,
    /// One cell per column: a face `[1, 3, H, W]` (the first image of a larger batch is
    /// drawn), or `None` for a blank cell.
    pub cells: Vec<Option<Images>>,
}

/// Rows of faces under a title (one line per `\n`) and a line of column labels, each row with
/// its label at the left: the multi-row form of [`strip`].
///
/// # Errors
/// [`AnalyzeError::ShapeMismatch`] for no rows, a row with another number of cells than there
/// are columns, a row without any face, faces that cannot be drawn or faces of different
/// sizes; [`AnalyzeError::NonFinite`] for NaN or ±∞ among them.
pub fn face_rows(title: &str, columns: &[String], rows: &[FaceRow]) -> Result<RgbImage> {
    let first = rows.iter().flat_map(|r| r.cells.iter().flatten()).next();
    let Some(&[_, _, h, w]) = first.map(|f| &f.shape) else {
        return Err(AnalyzeError::ShapeMismatch {
            what: title.into(),
            expected: "at least one row with a face".into(),
            found: format!("{} rows without faces", rows.len()),
        });
    };
    for (r, row) in rows.iter().enumerate() {
        let what = format!("{title}: row {} ({})", r + 1, row.label.join(" "));
        if row.cells.len() != columns.len() {
            return Err(AnalyzeError::ShapeMismatch {
                what,
                expected: format!("{} cells, one per column", columns.len()),
                found: format!("{} cells", row.cells.len()),
            });
        }
        for face in row.cells.iter().flatten() {
            check_faces(&what, face)?;
            let [n, _, fh, fw] = face.shape;
            if n == 0 || [fh, fw] != [h, w] {
                return Err(AnalyzeError::ShapeMismatch {
                    what,
                    expected: format!("at least one face of {h}×{w} per cell"),
                    found: format!("{n} of {fh}×{fw}"),
                });
            }
        }
    }
    let style = crate::figures::text::TextStyle::regular(18.0);
    let label_width = rows
        .iter()
        .flat_map(|r| r.label.iter())
        .map(|l| crate::figures::text::text_width(l, style).ceil() as usize)
        .max()
        .unwrap_or(0);
    let left = if label_width == 0 { 0 } else { label_width + 2 * GAP };
    let s = scale_for(h.max(w));
    let (cw, ch) = (w * s + GAP, h * s + GAP);
    let title_lines: Vec<&str> = title.lines().collect();
    let top = title_lines.len() * LINE + LINE + GAP;
    let mut canvas = blank((left + GAP + columns.len() * cw).max(GAP), top + rows.len() * ch);
    let width = canvas.width() as usize;
    for (k, line) in title_lines.iter().enumerate() {
        text(&mut canvas, line, GAP, 2 + k * LINE, width);
    }
    for (j, label) in columns.iter().enumerate() {
        text(&mut canvas, label, left + GAP + j * cw, top - LINE - GAP + 2, cw);
    }
    for (r, row) in rows.iter().enumerate() {
        let y = top + r * ch;
        let first_line = y + (ch - GAP).saturating_sub(row.label.len() * LINE) / 2;
        for (k, line) in row.label.iter().enumerate() {
            text(&mut canvas, line, GAP, first_line + k * LINE, left);
        }
        for (j, face) in row.cells.iter().enumerate() {
            if let Some(face) = face {
                blit(&mut canvas, face, 0, left + GAP + j * cw, y, s);
            }
        }
    }
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces(n: usize, value: f32) -> Images {
        Images { data: vec![value; n * 3 * 32 * 32], shape: [n, 3, 32, 32] }
    }

    #[test]
    fn grids_place_inputs_above_reconstructions() {
        let canvas = reconstruction_grid("T", &faces(3, 0.0), &faces(3, 1.0), 2).unwrap();
        let s = scale_for(32);
        let x0 = ROW_LABEL + GAP;
        let y0 = LINE + GAP;
        // First input face is black, the reconstruction below it white but not background:
        // check the centre pixels.
        assert_eq!(canvas.get_pixel((x0 + 16 * s) as u32, (y0 + 16 * s) as u32), &Rgb([0, 0, 0]));
        assert_eq!(canvas.get_pixel((x0 + 16 * s) as u32, (y0 + 32 * s + GAP + 16 * s) as u32), &Rgb([255, 255, 255]));
        assert_eq!(canvas.width() as usize, x0 + 2 * (32 * s + GAP));
        assert_eq!(canvas.height() as usize, LINE + GAP + 2 * (2 * (32 * s + GAP) + GAP));
    }

    #[test]
    fn face_rows_put_each_face_in_its_row_and_column_and_leave_blank_cells_white() {
        let columns: Vec<String> = ["input", "α = 0", "α = 1"].map(String::from).to_vec();
        let rows = vec![
            FaceRow { label: vec!["group means".into()], cells: vec![None, Some(faces(1, 0.0)), Some(faces(1, 0.5))] },
            FaceRow {
                label: vec!["male 3".into(), "→ female".into()],
                cells: vec![Some(faces(1, 0.0)), Some(faces(1, 0.0)), Some(faces(1, 0.0))],
            },
        ];
        let canvas = face_rows("T\nsecond line", &columns, &rows).unwrap();
        let s = scale_for(32);
        let (cw, ch) = (32 * s + GAP, 32 * s + GAP);
        let top = 2 * LINE + LINE + GAP;
        let label = canvas.width() as usize - GAP - 3 * cw;
        assert!(label > 2 * GAP, "room for the row labels: {label}");
        assert_eq!(canvas.height() as usize, top + 2 * ch);
        let centre = |row: usize, col: usize| {
            *canvas.get_pixel((label + GAP + col * cw + cw / 2) as u32, (top + row * ch + ch / 2) as u32)
        };
        assert_eq!(centre(0, 0), WHITE, "blank cell");
        assert_eq!(centre(0, 1), Rgb([0, 0, 0]));
        assert_eq!(centre(0, 2), Rgb([128, 128, 128]));
        assert_eq!(centre(1, 0), Rgb([0, 0, 0]));
        let short = vec![FaceRow { label: vec![], cells: vec![Some(faces(1, 0.5))] }];
        assert!(face_rows("T", &columns, &short).is_err(), "one cell for three columns");
        let empty = vec![FaceRow { label: vec![], cells: vec![None, None, None] }];
        assert!(face_rows("T", &columns, &empty).is_err(), "no face at all");
    }

    #[test]
    fn strip_has_one_column_per_entry() {
        let cols: Vec<StripColumn> =
            (0..6).map(|i| StripColumn { label: format!("{i}"), faces: faces(1 + i % 3, 0.5) }).collect();
        let canvas = strip("TITLE", &cols).unwrap();
        assert_eq!(canvas.width() as usize, GAP + 6 * (32 * scale_for(32) + GAP));
        let mid = canvas.get_pixel((GAP + 16) as u32, (2 * LINE + GAP + 16) as u32);
        assert_eq!(mid, &Rgb([128, 128, 128]));
    }
}
