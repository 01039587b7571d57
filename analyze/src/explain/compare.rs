//! Comparing attribution maps: rank correlation between methods, and faithfulness by the
//! deletion and insertion curves of Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling
//! for Explanation of Black-box Models" (BMVC 2018, arXiv:1806.07421).
//!
//! Deletion: pixels are replaced by those of the baseline image ([`super::Baseline`]) in
//! order of decreasing attribution, in `steps`
//! equal fractions; the curve is the softmax probability of the target class after each
//! fraction, and its area (trapezoid over the deleted fraction in [0, 1]) is low when the map
//! puts the evidence first. Insertion starts from the baseline image and restores pixels in the
//! same order; its area is high for a faithful map. A random order (seeded, averaged over
//! several draws) gives the reference values.

use netlens_fetch::Images;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::{Classifier, Map};
use crate::error::{AnalyzeError, Result};

/// Pearson correlation of two equally long vectors (0 when either is constant).
pub fn pearson(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
    let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 { 0.0 } else { sab / (saa * sbb).sqrt() }
}

/// Ranks from 1, ties sharing their average rank.
pub fn average_ranks(v: &[f32]) -> Vec<f32> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0f32; v.len()];
    let mut start = 0;
    while start < idx.len() {
        let mut end = start + 1;
        while end < idx.len() && v[idx[end]] == v[idx[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f32 / 2.0;
        idx[start..end].iter().for_each(|&i| ranks[i] = rank);
        start = end;
    }
    ranks
}

/// Spearman rank correlation: Pearson correlation of the average ranks.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

/// Pixel order by decreasing attribution. Ties (e.g. the zeros of a Grad-CAM map after its
/// ReLU, or the equal pixels of a Shapley patch) are broken in a fixed pseudo-random order
/// (a multiplicative hash of the pixel index), not row-major, so a tie does not delete the
/// top of the image first.
pub fn order_by_map(map: &Map) -> Vec<usize> {
    let scramble = |i: usize| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    let mut idx: Vec<usize> = (0..map.data.len()).collect();
    idx.sort_by(|&i, &j| map.data[j].total_cmp(&map.data[i]).then(scramble(i).cmp(&scramble(j))));
    idx
}

pub use netlens_fetch::runs::Curve;

/// Which curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurveKind {
    /// Remove pixels from the image, most important first.
    Deletion,
    /// Add pixels to the baseline, most important first.
    Insertion,
}

/// Softmax probability of `target` from logits.
fn probability(logits: &[f32], target: usize) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = logits.iter().map(|&l| (l as f64 - m).exp()).sum();
    (logits[target] as f64 - m).exp() / z
}

/// The deletion or insertion curve of `image` (`[1, channels, height, width]`) for pixel
/// `order` (indices into `height·width`, all channels of a pixel together); absent pixels take
/// their value from `baseline`, an image of the same `[channels, height, width]`.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for `steps` = 0, an order or a baseline of the wrong length
/// or a target outside the classes; the classifier's errors.
pub fn curve(
    model: &dyn Classifier,
    image: &Images,
    target: usize,
    order: &[usize],
    kind: CurveKind,
    steps: usize,
    baseline: &[f32],
) -> Result<Curve> {
    let [_, c, h, w] = image.shape;
    let plane = h * w;
    if steps == 0 || order.len() != plane || baseline.len() != c * plane {
        return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "curve".into(),
            value: format!("{steps} steps, order of {}, baseline of {}", order.len(), baseline.len()),
            reason: format!("needs ≥ 1 step, an order of all {plane} pixels and a baseline of {} values", c * plane),
        }));
    }
    let mut data = Vec::with_capacity((steps + 1) * c * plane);
    for s in 0..=steps {
        let k = s * plane / steps;
        let mut changed = vec![false; plane];
        order[..k].iter().for_each(|&p| changed[p] = true);
        for ch in 0..c {
            let absent = &baseline[ch * plane..(ch + 1) * plane];
            for (p, (&v, &b)) in image.data[ch * plane..(ch + 1) * plane].iter().zip(absent).enumerate() {
                let keep = match kind {
                    CurveKind::Deletion => !changed[p],
                    CurveKind::Insertion => changed[p],
                };
                data.push(if keep { v } else { b });
            }
        }
    }
    let logits = model.logits(&Images { data, shape: [steps + 1, c, h, w] })?;
    let classes = logits.shape[1];
    if target >= classes {
        return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "target".into(),
            value: target.to_string(),
            reason: format!("the model has {classes} classes"),
        }));
    }
    let probabilities: Vec<f64> = logits.data.chunks(classes).map(|l| probability(l, target)).collect();
    let fractions: Vec<f64> = (0..=steps).map(|s| s as f64 / steps as f64).collect();
    let auc = probabilities.windows(2).map(|p| (p[0] + p[1]) / 2.0 / steps as f64).sum();
    Ok(Curve { fractions, probabilities, auc })
}

/// Mean AUC of `draws` random pixel orders (seeded): the reference a map must beat.
///
/// # Errors
/// As [`curve`].
#[allow(clippy::too_many_arguments)] // the curve's inputs and the random orders' count and seed
pub fn random_order_auc(
    model: &dyn Classifier,
    image: &Images,
    target: usize,
    kind: CurveKind,
    steps: usize,
    baseline: &[f32],
    draws: usize,
    seed: u64,
) -> Result<f64> {
    let plane = image.shape[2] * image.shape[3];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut total = 0.0;
    for _ in 0..draws.max(1) {
        let mut order: Vec<usize> = (0..plane).collect();
        order.shuffle(&mut rng);
        total += curve(model, image, target, &order, kind, steps, baseline)?.auc;
    }
    Ok(total / draws.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_onnx::HostTensor;

    const TOLERANCE: f64 = 1e-9;

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        assert_eq!(average_ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 300.0]) - 1.0).abs() < TOLERANCE);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < TOLERANCE);
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < TOLERANCE);
    }

    /// Two classes; the logit of class 0 is 10 × (sum of pixels 0 and 1).
    struct TwoPixels;
    impl Classifier for TwoPixels {
        fn logits(&self, images: &Images) -> Result<HostTensor> {
            let data =
                (0..images.shape[0]).flat_map(|b| [10.0 * (images.image(b)[0] + images.image(b)[1]), 0.0]).collect();
            Ok(HostTensor { data, shape: vec![images.shape[0], 2] })
        }
    }

    #[test]
    fn the_right_order_deletes_faster_than_the_wrong_one() {
        let image = Images { data: vec![1.0; 4], shape: [1, 1, 2, 2] };
        let good = curve(&TwoPixels, &image, 0, &[0, 1, 2, 3], CurveKind::Deletion, 4, &[0.0; 4]).unwrap();
        let bad = curve(&TwoPixels, &image, 0, &[3, 2, 1, 0], CurveKind::Deletion, 4, &[0.0; 4]).unwrap();
        assert!(good.auc < bad.auc, "good {} bad {}", good.auc, bad.auc);
        let ins = curve(&TwoPixels, &image, 0, &[0, 1, 2, 3], CurveKind::Insertion, 4, &[0.0; 4]).unwrap();
        assert!(ins.auc > good.auc);
        assert_eq!(good.probabilities.len(), 5);
        assert!((good.probabilities[4] - 0.5).abs() < TOLERANCE, "all deleted: both logits 0");
    }

    #[test]
    fn deleted_pixels_take_the_baseline_images_values() {
        let image = Images { data: vec![1.0; 4], shape: [1, 1, 2, 2] };
        // Baseline pixels 0 and 1 are 0.5: after all deletions the logit is 10, p = 1/(1+e^-10).
        let all = curve(&TwoPixels, &image, 0, &[0, 1, 2, 3], CurveKind::Deletion, 1, &[0.5, 0.5, 0.0, 0.0]).unwrap();
        assert!((all.probabilities[1] - 1.0 / (1.0 + (-10f64).exp())).abs() < TOLERANCE, "{:?}", all.probabilities);
        let err =
            curve(&TwoPixels, &image, 0, &[0, 1, 2, 3], CurveKind::Deletion, 1, &[0.0; 3]).unwrap_err().to_string();
        assert!(err.contains("baseline of 3") && err.contains("4 values"), "{err}");
    }
}
