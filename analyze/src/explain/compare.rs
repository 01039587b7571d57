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
use netlens_fetch::runs::{EvidenceLocation, ObjectRegion};

/// The object of `display` (`[channels, height, width]` in [0, 1]) on a plain background, and
/// its mask (row-major `[height, width]`): the pixels differing from the median border pixel
/// by more than [`ObjectRegion::THRESHOLD`] in some channel. `None` when the border is not
/// plain (more than a quarter of its pixels are themselves that far from its median: a photo),
/// or the object covers under 2% or over 90% of the image.
pub fn object_region(display: &[f32], shape: [usize; 3]) -> Option<(ObjectRegion, Vec<bool>)> {
    let [c, h, w] = shape;
    if h < 3 || w < 3 || display.len() != c * h * w {
        return None;
    }
    let at = |ch: usize, y: usize, x: usize| display[ch * h * w + y * w + x];
    let border: Vec<(usize, usize)> =
        (0..w).flat_map(|x| [(0, x), (h - 1, x)]).chain((1..h - 1).flat_map(|y| [(y, 0), (y, w - 1)])).collect();
    let background: Vec<f32> = (0..c)
        .map(|ch| {
            let mut v: Vec<f32> = border.iter().map(|&(y, x)| at(ch, y, x)).collect();
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    let differs = |y: usize, x: usize| (0..c).any(|ch| (at(ch, y, x) - background[ch]).abs() > ObjectRegion::THRESHOLD);
    if 4 * border.iter().filter(|&&(y, x)| differs(y, x)).count() > border.len() {
        return None;
    }
    let mask: Vec<bool> = (0..h * w).map(|i| differs(i / w, i % w)).collect();
    let count = mask.iter().filter(|&&m| m).count();
    let area = count as f64 / (h * w) as f64;
    if !(0.02..=0.9).contains(&area) {
        return None;
    }
    let (mut top, mut left, mut bottom, mut right) = (h, w, 0, 0);
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        let (y, x) = (i / w, i % w);
        (top, left, bottom, right) = (top.min(y), left.min(x), bottom.max(y + 1), right.max(x + 1));
    }
    Some((ObjectRegion { area, bbox: [top, left, bottom, right] }, mask))
}

/// Where `map` (`[height, width]`, the object's image size) puts its evidence on `object`
/// (its region and mask from [`object_region`]); `None` for a map with no positive value.
pub fn evidence_location(map: &Map, object: &ObjectRegion, mask: &[bool]) -> Option<EvidenceLocation> {
    if map.data.len() != mask.len() {
        return None;
    }
    let positive = |v: f32| f64::from(v.max(0.0));
    let total: f64 = map.data.iter().map(|&v| positive(v)).sum();
    if total <= 0.0 {
        return None;
    }
    let on_object: f64 = map.data.iter().zip(mask).filter(|(_, m)| **m).map(|(&v, _)| positive(v)).sum::<f64>() / total;
    let (h, w, r) = (map.height, map.width, EvidenceLocation::OUTLINE_PIXELS);
    let near = |i: usize| {
        let (y, x) = (i / w, i % w);
        (y.saturating_sub(r)..(y + r + 1).min(h))
            .any(|yy| (x.saturating_sub(r)..(x + r + 1).min(w)).any(|xx| mask[yy * w + xx]))
    };
    let around_object: f64 =
        (0..map.data.len()).filter(|&i| !mask[i] && near(i)).map(|i| positive(map.data[i])).sum::<f64>() / total;
    // The top decile by value (positive values only), ties broken by index.
    let mut order: Vec<usize> = (0..map.data.len()).filter(|&i| map.data[i] > 0.0).collect();
    order.sort_by(|&i, &j| map.data[j].total_cmp(&map.data[i]).then(i.cmp(&j)));
    order.truncate(map.data.len().div_ceil(10).max(1));
    let [top, left, bottom, right] = object.bbox;
    let third = |v: usize, lo: usize, hi: usize| (v >= lo && v < hi).then(|| (3 * (v - lo) / (hi - lo).max(1)).min(2));
    let (mut rows, mut cols) = ([0f64; 3], [0f64; 3]);
    let share = 1.0 / order.len() as f64;
    for &i in &order {
        let (y, x) = (i / map.width, i % map.width);
        if let (Some(r), Some(c)) = (third(y, top, bottom), third(x, left, right)) {
            rows[r] += share;
            cols[c] += share;
        }
    }
    Some(EvidenceLocation { on_object, around_object, rows, cols })
}

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

/// The mean curve of `draws` random pixel orders (seeded), point by point: the reference a map
/// must beat. Its AUC is the mean of theirs (the trapezoid rule is linear).
///
/// # Errors
/// As [`curve`].
#[allow(clippy::too_many_arguments)] // the curve's inputs and the random orders' count and seed
pub fn random_order_curve(
    model: &dyn Classifier,
    image: &Images,
    target: usize,
    kind: CurveKind,
    steps: usize,
    baseline: &[f32],
    draws: usize,
    seed: u64,
) -> Result<Curve> {
    let plane = image.shape[2] * image.shape[3];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let draws = draws.max(1);
    let mut mean: Option<Curve> = None;
    for _ in 0..draws {
        let mut order: Vec<usize> = (0..plane).collect();
        order.shuffle(&mut rng);
        let c = curve(model, image, target, &order, kind, steps, baseline)?;
        match &mut mean {
            None => mean = Some(c),
            Some(m) => {
                m.probabilities.iter_mut().zip(&c.probabilities).for_each(|(a, b)| *a += b);
                m.auc += c.auc;
            }
        }
    }
    let mut mean = mean.expect("at least one draw");
    mean.probabilities.iter_mut().for_each(|p| *p /= draws as f64);
    mean.auc /= draws as f64;
    Ok(mean)
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

    /// A 6×6 grey image, black but for a 3×3 white square with its top-left corner at (1, 2).
    fn square() -> Vec<f32> {
        (0..36).map(|i| if (1..4).contains(&(i / 6)) && (2..5).contains(&(i % 6)) { 1.0 } else { 0.0 }).collect()
    }

    #[test]
    fn the_object_is_what_differs_from_a_plain_border() {
        let (object, mask) = object_region(&square(), [1, 6, 6]).unwrap();
        assert_eq!(object.bbox, [1, 2, 4, 5]);
        assert!((object.area - 9.0 / 36.0).abs() < TOLERANCE);
        assert_eq!(mask.iter().filter(|m| **m).count(), 9);
        // A photo-like border (half of it bright) has no plain background.
        let noisy: Vec<f32> = (0..36).map(|i| (i % 2) as f32).collect();
        assert!(object_region(&noisy, [1, 6, 6]).is_none());
        // Nothing on the background: no object.
        assert!(object_region(&[0.0; 36], [1, 6, 6]).is_none());
    }

    #[test]
    fn evidence_is_located_on_the_object_by_mass_and_by_its_top_decile() {
        let (object, mask) = object_region(&square(), [1, 6, 6]).unwrap();
        // Mass 3 on the square's bottom-right pixel (row 3, column 4), mass 1 outside it.
        let mut data = vec![0f32; 36];
        data[3 * 6 + 4] = 3.0;
        data[0] = 1.0;
        data[5] = -7.0; // negative values are no evidence
        let map = Map { height: 6, width: 6, data };
        let e = evidence_location(&map, &object, &mask).unwrap();
        assert!((e.on_object - 0.75).abs() < TOLERANCE, "{e:?}");
        // (0, 0) is two rows and two columns from the square's corner (1, 2): in the band.
        assert!((e.around_object - 0.25).abs() < TOLERANCE, "{e:?}");
        // The top decile is 4 pixels (⌈36/10⌉), but only 2 are positive: (3, 4) and (0, 0); the
        // first lies in the box's lower third and right third, the second outside the box.
        assert_eq!(e.rows, [0.0, 0.0, 0.5]);
        assert_eq!(e.cols, [0.0, 0.0, 0.5]);
        assert_eq!(e.describe(), "lower right");
        // Evidence only on the background: its top decile lies outside the object's box.
        let mut outside = vec![0f32; 36];
        outside[0] = 1.0;
        outside[35] = 2.0;
        let e = evidence_location(&Map { height: 6, width: 6, data: outside }, &object, &mask).unwrap();
        assert_eq!((e.on_object, e.describe().as_str()), (0.0, "outside its box"));
        let none = Map { height: 6, width: 6, data: vec![-1.0; 36] };
        assert!(evidence_location(&none, &object, &mask).is_none());
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
    fn the_random_reference_is_the_mean_of_its_orders_curves() {
        let image = Images { data: vec![1.0; 4], shape: [1, 1, 2, 2] };
        let mean = random_order_curve(&TwoPixels, &image, 0, CurveKind::Deletion, 4, &[0.0; 4], 5, 7).unwrap();
        // The same five orders drawn again, one by one.
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let curves: Vec<Curve> = (0..5)
            .map(|_| {
                let mut order: Vec<usize> = (0..4).collect();
                order.shuffle(&mut rng);
                curve(&TwoPixels, &image, 0, &order, CurveKind::Deletion, 4, &[0.0; 4]).unwrap()
            })
            .collect();
        for j in 0..5 {
            let want = curves.iter().map(|c| c.probabilities[j]).sum::<f64>() / 5.0;
            assert!((mean.probabilities[j] - want).abs() < TOLERANCE, "point {j}");
        }
        let auc = curves.iter().map(|c| c.auc).sum::<f64>() / 5.0;
        assert!((mean.auc - auc).abs() < TOLERANCE);
        // Its AUC is also the trapezoid area of the mean curve (the rule is linear).
        let trapezoid: f64 = mean.probabilities.windows(2).map(|p| (p[0] + p[1]) / 8.0).sum();
        assert!((mean.auc - trapezoid).abs() < TOLERANCE);
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
