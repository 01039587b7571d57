//! Antialiased bilinear resizing of uint8 planes, as Pillow's `Image.resize(size, BILINEAR)`
//! does it (and so torchvision's `transforms.Resize` on PIL images).
//!
//! Pillow (`src/libImaging/Resample.c`) uses a triangle filter whose support grows with the
//! reduction factor: when shrinking by `s > 1`, each output pixel averages about `2s` input
//! pixels instead of sampling 2, which avoids aliasing (250×250 LFW photos → 32×32). When
//! enlarging it is plain half-pixel bilinear interpolation, like [`crate::resize`]. The
//! horizontal pass runs first and is rounded to uint8, then the vertical pass, as in Pillow.

/// Resizes one uint8 plane, `[height, width]` row-major, to `[out_height, out_width]`.
///
/// # Panics
/// If `src.len() != height * width` or a size is zero (a caller's bug).
pub fn resize_bilinear_antialias_u8(
    src: &[u8],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<u8> {
    assert_eq!(src.len(), height * width, "plane length does not match its size");
    assert!(height > 0 && width > 0 && out_height > 0 && out_width > 0, "empty plane");
    let columns = coefficients(width, out_width);
    let mut horizontal = Vec::with_capacity(height * out_width);
    for row in src.chunks_exact(width) {
        horizontal.extend(columns.iter().map(|c| c.apply(|x| row[x])));
    }
    let rows = coefficients(height, out_height);
    let mut out = vec![0u8; out_height * out_width];
    for (y, c) in rows.iter().enumerate() {
        for x in 0..out_width {
            out[y * out_width + x] = c.apply(|yy| horizontal[yy * out_width + x]);
        }
    }
    out
}

/// As [`resize_bilinear_antialias_u8`] for float planes, without rounding between or after
/// the passes (torchvision's `Resize(antialias=True)` on float tensors uses the same
/// separable triangle filter).
///
/// # Panics
/// If `src.len() != height * width` or a size is zero (a caller's bug).
pub fn resize_bilinear_antialias_f32(
    src: &[f32],
    height: usize,
    width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<f32> {
    assert_eq!(src.len(), height * width, "plane length does not match its size");
    assert!(height > 0 && width > 0 && out_height > 0 && out_width > 0, "empty plane");
    let columns = coefficients(width, out_width);
    let mut horizontal = Vec::with_capacity(height * out_width);
    for row in src.chunks_exact(width) {
        horizontal.extend(columns.iter().map(|c| c.sum(|x| row[x])));
    }
    let rows = coefficients(height, out_height);
    let mut out = vec![0f32; out_height * out_width];
    for (y, c) in rows.iter().enumerate() {
        for x in 0..out_width {
            out[y * out_width + x] = c.sum(|yy| horizontal[yy * out_width + x]);
        }
    }
    out
}

/// The normalised filter weights of one output pixel over input pixels `start..start + len`.
struct Window {
    start: usize,
    weights: Vec<f32>,
}

impl Window {
    fn sum(&self, pixel: impl Fn(usize) -> f32) -> f32 {
        self.weights.iter().enumerate().map(|(i, w)| w * pixel(self.start + i)).sum()
    }

    fn apply(&self, pixel: impl Fn(usize) -> u8) -> u8 {
        let sum: f32 = self.weights.iter().enumerate().map(|(i, w)| w * pixel(self.start + i) as f32).sum();
        sum.round().clamp(0.0, 255.0) as u8
    }
}

/// Pillow's `precompute_coeffs` for the bilinear (triangle, support 1) filter.
fn coefficients(size_in: usize, size_out: usize) -> Vec<Window> {
    let scale = size_in as f64 / size_out as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // triangle support 1.0 × filter scale
    (0..size_out)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            // Pillow truncates toward zero with a C cast.
            let start = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).clamp(0, size_in as i64) as usize;
            let raw: Vec<f64> = (start..end).map(|i| triangle((i as f64 - center + 0.5) / filter_scale)).collect();
            let total: f64 = raw.iter().sum();
            let weights = raw.iter().map(|w| if total > 0.0 { (w / total) as f32 } else { 0.0 }).collect();
            Window { start, weights }
        })
        .collect()
}

fn triangle(x: f64) -> f64 {
    (1.0 - x.abs()).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resize::resize_bilinear_u8;

    #[test]
    fn enlarging_is_plain_half_pixel_bilinear() {
        let src: Vec<u8> = (0..28 * 28).map(|i| ((i * 37) % 251) as u8).collect();
        let ours = resize_bilinear_antialias_u8(&src, 28, 28, 32, 32);
        let plain = resize_bilinear_u8(&src, 28, 28, 32, 32);
        // Pillow rounds after each of its two passes, the plain resize once: at most 1 apart.
        let worst = ours.iter().zip(&plain).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "max difference {worst}");
    }

    #[test]
    fn shrinking_by_two_averages_pixel_pairs() {
        // With scale 2 the triangle filter over 4 pixels weighs them 1/8, 3/8, 3/8, 1/8; on a
        // pattern constant within pairs the interior outputs are the pair averages.
        let src: Vec<u8> = [10u8, 10, 50, 50, 90, 90, 130, 130].to_vec();
        let out = resize_bilinear_antialias_u8(&src, 1, 8, 1, 4);
        assert_eq!(out.len(), 4);
        assert_eq!(out[1], 50, "{out:?}");
        assert_eq!(out[2], 90, "{out:?}");
    }

    #[test]
    fn float_resize_is_the_unrounded_u8_resize() {
        let src: Vec<u8> = (0..40 * 30).map(|i| ((i * 37) % 251) as u8).collect();
        let float: Vec<f32> = src.iter().map(|&v| v as f32).collect();
        let a = resize_bilinear_antialias_u8(&src, 30, 40, 7, 9);
        let b = resize_bilinear_antialias_f32(&float, 30, 40, 7, 9);
        // Pillow rounds after each pass: at most one grey level apart.
        let worst = a.iter().zip(&b).map(|(x, y)| (*x as f32 - y).abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1.0, "max difference {worst}");
    }

    #[test]
    fn shrinking_a_checkerboard_gives_grey_not_aliasing() {
        let src: Vec<u8> = (0..64 * 64).map(|i| if (i / 64 + i % 64) % 2 == 0 { 0 } else { 255 }).collect();
        let out = resize_bilinear_antialias_u8(&src, 64, 64, 8, 8);
        assert!(out.iter().all(|&v| (120..=135).contains(&v)), "{out:?}");
    }
}
