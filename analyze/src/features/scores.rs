//! How well classes separate in a feature space or an embedding: the silhouette score
//! (Rousseeuw 1987) and leave-one-out k-nearest-neighbour accuracy, both with Euclidean
//! distances.

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::Result;
use crate::finite::{ensure_finite, max_abs, power_of_two_scale};

/// The `k` of the k-NN accuracy reported for every layer.
pub const KNN_K: usize = 5;

/// Squared Euclidean distances between all rows: `[n, n]`, via `‖a‖² + ‖b‖² − 2a·b` (clamped at 0).
///
/// # Shapes
/// `x`: `[n, d]`.
pub fn squared_distances(x: ArrayView2<f64>) -> Array2<f64> {
    let norms: Vec<f64> = x.axis_iter(Axis(0)).map(|r| r.dot(&r)).collect();
    let mut d = x.dot(&x.t());
    for ((i, j), v) in d.indexed_iter_mut() {
        *v = (norms[i] + norms[j] - 2.0 * *v).max(0.0);
    }
    d
}

/// Leave-one-out accuracy of a `k`-nearest-neighbour majority vote: each sample is classified
/// by the labels of its `k` nearest other samples; a tie goes to the tied class with the
/// nearest member. In `[0, 1]`.
///
/// # Shapes
/// `x`: `[n, d]`, `labels`: `[n]`.
///
/// Any finite `x` works: it is scaled by a power of two first (exact, and the accuracy does
/// not depend on scale), so squared distances of large values do not overflow. With fewer than
/// two samples there are no neighbours and the accuracy is 0.
///
/// # Errors
/// [`crate::AnalyzeError::NonFinite`] when `x` holds NaN or ±∞.
///
/// # Panics
/// If `labels.len() != x.nrows()` or `k == 0`.
pub fn knn_accuracy(x: ArrayView2<f64>, labels: &[u32], k: usize) -> Result<f64> {
    assert_eq!(labels.len(), x.nrows(), "one label per row");
    assert!(k > 0, "k must be positive");
    let x = scaled(x, "k-NN input")?;
    let d = squared_distances(x.view());
    let n = labels.len();
    if n < 2 {
        return Ok(0.0);
    }
    let correct =
        (0..n).filter(|&i| knn_vote(d.row(i).as_slice().expect("standard layout"), labels, i, k) == labels[i]).count();
    Ok(correct as f64 / n as f64)
}

/// `x` scaled by [`power_of_two_scale`] of its largest magnitude, after checking it is finite.
fn scaled(x: ArrayView2<f64>, what: &str) -> Result<Array2<f64>> {
    let cols = x.ncols();
    ensure_finite(
        || what.to_string(),
        x.iter().copied(),
        |i| format!("row {}, column {}", i / cols.max(1), i % cols.max(1)),
    )?;
    let s = power_of_two_scale(max_abs(x.iter().copied()));
    Ok(x.mapv(|v| v * s))
}

/// The majority label among the `k` nearest neighbours of `i` (excluding `i`) given its distance row.
fn knn_vote(dist: &[f64], labels: &[u32], i: usize, k: usize) -> u32 {
    let mut others: Vec<usize> = (0..dist.len()).filter(|&j| j != i).collect();
    let k = k.min(others.len());
    others.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| dist[a].total_cmp(&dist[b]));
    let mut nearest = others[..k].to_vec();
    nearest.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
    let mut votes = [0usize; 256];
    for &j in &nearest {
        votes[labels[j] as usize] += 1;
    }
    let best = *votes.iter().max().unwrap_or(&0);
    nearest.iter().map(|&j| labels[j]).find(|&l| votes[l as usize] == best).unwrap_or(labels[i])
}

/// Mean silhouette coefficient of the classes, in `[−1, 1]`: for sample `i`,
/// `s(i) = (b − a) / max(a, b)` with `a` the mean distance to the other members of its class and
/// `b` the smallest mean distance to another class; `s(i) = 0` for a class of one (as
/// scikit-learn's `silhouette_score`).
///
/// # Shapes
/// `x`: `[n, d]`, `labels`: `[n]`.
///
/// Any finite `x` works (scaled as in [`knn_accuracy`]; the score does not depend on scale).
/// With no samples the score is 0.
///
/// # Errors
/// [`crate::AnalyzeError::NonFinite`] when `x` holds NaN or ±∞.
///
/// # Panics
/// If `labels.len() != x.nrows()`.
pub fn silhouette(x: ArrayView2<f64>, labels: &[u32]) -> Result<f64> {
    assert_eq!(labels.len(), x.nrows(), "one label per row");
    let x = scaled(x, "silhouette input")?;
    let d = squared_distances(x.view()).mapv(f64::sqrt);
    let n = labels.len();
    if n == 0 {
        return Ok(0.0);
    }
    let mut total = 0.0;
    for i in 0..n {
        let (mut sums, mut counts) = ([0.0f64; 256], [0usize; 256]);
        for j in (0..n).filter(|&j| j != i) {
            sums[labels[j] as usize] += d[[i, j]];
            counts[labels[j] as usize] += 1;
        }
        let own = labels[i] as usize;
        if counts[own] == 0 {
            continue;
        }
        let a = sums[own] / counts[own] as f64;
        let b = (0..256)
            .filter(|&c| c != own && counts[c] > 0)
            .map(|c| sums[c] / counts[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    Ok(total / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const TOLERANCE: f64 = 1e-12;

    #[test]
    fn silhouette_matches_a_hand_computed_case() {
        // Points 0, 1 (class 0) and 4, 6 (class 1) on a line.
        let x = array![[0.0], [1.0], [4.0], [6.0]];
        let labels = [0, 0, 1, 1];
        // s = (b − a)/max: i0: a=1, b=5 → 0.8; i1: a=1, b=4 → 0.75; i2: a=2, b=3.5 → 3/7; i3: a=2, b=5.5 → 7/11.
        let want = (0.8 + 0.75 + 3.0 / 7.0 + 7.0 / 11.0) / 4.0;
        assert!((silhouette(x.view(), &labels).unwrap() - want).abs() < TOLERANCE);
    }

    #[test]
    fn knn_separates_clusters_and_not_noise() {
        let x = Array2::from_shape_fn((40, 2), |(i, j)| {
            if j == 0 { (i / 20) as f64 * 10.0 + (i % 7) as f64 * 0.1 } else { (i % 5) as f64 * 0.1 }
        });
        let labels: Vec<u32> = (0..40).map(|i| (i / 20) as u32).collect();
        assert!((knn_accuracy(x.view(), &labels, KNN_K).unwrap() - 1.0).abs() < TOLERANCE);
        let shuffled: Vec<u32> = (0..40).map(|i| (i % 2) as u32).collect();
        assert!(knn_accuracy(x.view(), &shuffled, KNN_K).unwrap() < 0.8);
    }

    #[test]
    fn squared_distances_match_direct_differences() {
        let x = array![[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 0.0, 0.0]];
        let d = squared_distances(x.view());
        for i in 0..3 {
            for j in 0..3 {
                let direct: f64 = (0..3).map(|c| (x[[i, c]] - x[[j, c]]).powi(2)).sum();
                assert!((d[[i, j]] - direct).abs() < 1e-12);
            }
        }
    }
}
