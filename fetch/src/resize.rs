//! Bilinear resizing with half-pixel centres.
//!
//! Matches PyTorch's `F.interpolate(mode="bilinear", align_corners=False, antialias=False)` and
//! OpenCV's `INTER_LINEAR`: output pixel `o` samples the input at `(o + 0.5) * in / out - 0.5`,
//! clamped to the image. This is how the course upscaled Fashion-MNIST from 28×28 to 32×32.

/// Resizes one plane, `[height, width]` row-major, to `[out_height, out_width]`.
///
/// # Panics
/// If `src.len() != height * width` or a size is zero (a caller's bug).
pub fn resize_bilinear(src: &[f32], height: usize, width: usize, out_height: usize, out_width: usize) -> Vec<f32> {
    assert_eq!(src.len(), height * width, "plane length does not match its size");
    assert!(height > 0 && width > 0 && out_height > 0 && out_width > 0, "empty plane");
    let ys = sample_positions(height, out_height);
    let xs = sample_positions(width, out_width);
    let mut out = Vec::with_capacity(out_height * out_width);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let top = src[y0 * width + x0] * (1.0 - fx) + src[y0 * width + x1] * fx;
            let bottom = src[y1 * width + x0] * (1.0 - fx) + src[y1 * width + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// For each output index: the two input indices and the weight of the second.
fn sample_positions(size_in: usize, size_out: usize) -> Vec<(usize, usize, f32)> {
    let scale = size_in as f32 / size_out as f32;
    (0..size_out)
        .map(|o| {
            let pos = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = (pos.floor() as usize).min(size_in - 1);
            let i1 = (i0 + 1).min(size_in - 1);
            (i0, i1, pos - i0 as f32)
        })
        .collect()
}

/// Resizes a uint8 plane and rounds back to uint8 (how the course stored its 32×32 images).
pub fn resize_bilinear_u8(src: &[u8], height: usize, width: usize, out_height: usize, out_width: usize) -> Vec<u8> {
    let plane: Vec<f32> = src.iter().map(|&v| v as f32).collect();
    resize_bilinear(&plane, height, width, out_height, out_width)
        .into_iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_is_a_copy() {
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear(&src, 3, 4, 3, 4), src);
    }

    /// Reference values from `torch.nn.functional.interpolate(torch.arange(4.).view(1,1,2,2),
    /// size=(4,4), mode="bilinear", align_corners=False)` (PyTorch 2.x).
    #[test]
    fn matches_pytorch_half_pixel_upsampling() {
        let out = resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 2, 2, 4, 4);
        let want = [0.0, 0.25, 0.75, 1.0, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2.0, 2.25, 2.75, 3.0];
        for (i, (a, b)) in out.iter().zip(want).enumerate() {
            assert!((a - b).abs() < 1e-6, "index {i}: got {a}, want {b}");
        }
    }

    #[test]
    fn constant_image_stays_constant_28_to_32() {
        let out = resize_bilinear_u8(&[77; 28 * 28], 28, 28, 32, 32);
        assert_eq!(out.len(), 32 * 32);
        assert!(out.iter().all(|&v| v == 77));
    }
}
