//! The baseline (reference) image `x′` that stands for "absent" pixels.
//!
//! One notion of absence is shared by every method that needs one, so that their numbers are
//! comparable: Integrated Gradients integrates from `x′` to `x`; a Shapley coalition replaces
//! the pixels of its absent patches by those of `x′`; the deletion curve replaces removed
//! pixels by `x′` and the insertion curve starts from `x′` (Petsiuk et al., RISE,
//! arXiv:1806.07421, §4.1, whose insertion canvas is a blurred image).
//!
//! Which baseline is right depends on the data. On dark-background images such as
//! Fashion-MNIST, zeros are a poor "absence": setting a background pixel to zero changes
//! nothing, so a map that ranks the dark pixels around an outline high cannot be scored by a
//! zero-baseline deletion curve. A blurred copy of the image removes fine structure (edges,
//! texture) everywhere, dark pixels included (Sturmfels, Lundberg & Lee, "Visualizing the
//! Impact of Feature Attribution Baselines", Distill 2020).

use rand::{Rng, SeedableRng};

pub use netlens_fetch::runs::{Baseline, BaselineKind};

/// `x′` for the image `x` of shape `[channels, height, width]` (row-major, same layout); an
/// automatic blur σ is a sixth of the image's larger side ([`Baseline::resolved`]).
pub fn baseline_image(baseline: &Baseline, x: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
    match baseline.resolved(h, w) {
        Baseline::Zeros => vec![0.0; x.len()],
        Baseline::Blurred { sigma } => {
            let sigma = sigma.expect("resolved gives a concrete σ");
            (0..c).flat_map(|ch| blur(&x[ch * h * w..(ch + 1) * h * w], h, w, sigma)).collect()
        }
        Baseline::UniformNoise { seed } => {
            let lo = x.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..x.len()).map(|_| if hi > lo { rng.random_range(lo..hi) } else { lo }).collect()
        }
    }
}

/// Separable Gaussian blur of one `[height, width]` plane, radius ⌈3σ⌉, weights renormalised
/// at the edges.
pub fn blur(plane: &[f32], h: usize, w: usize, sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-r..=r).map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let pass = |src: &[f32], along_rows: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..h {
            for x in 0..w {
                let (mut acc, mut norm) = (0f32, 0f32);
                for (k, &kv) in kernel.iter().enumerate() {
                    let d = k as isize - r;
                    let (yy, xx) = if along_rows { (y as isize, x as isize + d) } else { (y as isize + d, x as isize) };
                    if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                        acc += kv * src[yy as usize * w + xx as usize];
                        norm += kv;
                    }
                }
                out[y * w + x] = acc / norm;
            }
        }
        out
    };
    pass(&pass(plane, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_a_constant_image_and_smooths_a_spike() {
        let flat = blur(&[2.0; 25], 5, 5, 1.0);
        assert!(flat.iter().all(|&v| (v - 2.0).abs() < 1e-5), "{flat:?}");
        let mut spike = vec![0.0; 25];
        spike[12] = 1.0;
        let b = blur(&spike, 5, 5, 1.0);
        assert!(b[12] < 1.0 && b[12] > b[11] && b[11] > b[10] && b[10] > 0.0, "{b:?}");
    }

    #[test]
    fn blur_matches_a_direct_two_dimensional_gaussian() {
        // Away from the border the separable blur equals the 2-D Gaussian sum.
        let (h, w, sigma) = (21, 21, 1.5f32);
        let plane: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 11) as f32 / 10.0).collect();
        let got = blur(&plane, h, w, sigma);
        let r = (3.0 * sigma).ceil() as isize;
        let (cy, cx) = (10isize, 10isize);
        let (mut acc, mut norm) = (0f64, 0f64);
        for dy in -r..=r {
            for dx in -r..=r {
                let k = (-((dy * dy + dx * dx) as f64) / (2.0 * (sigma as f64).powi(2))).exp();
                acc += k * plane[((cy + dy) * w as isize + cx + dx) as usize] as f64;
                norm += k;
            }
        }
        assert!((got[10 * w + 10] as f64 - acc / norm).abs() < 1e-5, "{} vs {}", got[10 * w + 10], acc / norm);
    }

    #[test]
    fn baselines_have_the_image_layout_and_bad_sigma_is_rejected() {
        let x: Vec<f32> = (0..2 * 4 * 4).map(|i| i as f32).collect();
        for b in [Baseline::Zeros, Baseline::Blurred { sigma: Some(1.0) }, Baseline::UniformNoise { seed: 3 }] {
            assert_eq!(baseline_image(&b, &x, [2, 4, 4]).len(), x.len(), "{b:?}");
        }
        let noise = baseline_image(&Baseline::UniformNoise { seed: 3 }, &x, [2, 4, 4]);
        assert!(noise.iter().all(|&v| (0.0..31.0).contains(&v)));
        let auto = baseline_image(&Baseline::default(), &x, [2, 4, 4]);
        assert_eq!(auto, baseline_image(&Baseline::Blurred { sigma: Some(4.0 / 6.0) }, &x, [2, 4, 4]));
        let err = Baseline::Blurred { sigma: Some(0.0) }.check().unwrap_err().to_string();
        assert!(err.contains("sigma") && err.contains("positive"), "{err}");
    }
}
