//! Principal component analysis by an exact symmetric eigendecomposition, with each
//! component's share of the *total* variance.
//!
//! For centred data `X_c` (`[n, d]`) the components are the eigenvectors of the covariance
//! `C = X_cᵀ X_c / (n − 1)` with the largest eigenvalues λ₁ ≥ λ₂ ≥ …; the share of component `i`
//! is `λ_i / tr(C)`, where `tr(C)` is the total variance of all `d` features (Pearson 1901;
//! Jolliffe, *Principal Component Analysis*, 2002, §2.1). linfa-reduction 0.8's
//! `explained_variance_ratio` divides by the kept components' sum instead (DESIGN.md pitfalls),
//! which is why this module exists. When `d > n` the `n × n` Gram matrix `X_c X_cᵀ` is
//! decomposed instead (same non-zero eigenvalues; `v_i = X_cᵀ u_i / √(λ_i (n − 1))`), so wide
//! convolutional features (16 × 32 × 32 = 16,384 values) cost `O(n² d)`, not `O(d³)`.

use linfa_linalg::eigh::EighInto;
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{AnalyzeError, Result};

/// A fitted PCA.
#[derive(Clone, Debug)]
pub struct Pca {
    /// Feature means, `[d]`.
    pub mean: Array1<f64>,
    /// Principal axes as rows, orthonormal, `[k, d]`, by decreasing variance.
    pub components: Array2<f64>,
    /// Variance along each component (covariance eigenvalue, divisor `n − 1`), `[k]`.
    pub variance: Array1<f64>,
    /// Total variance of the data: the trace of the covariance.
    pub total_variance: f64,
}

impl Pca {
    /// Fits `k` components to `x`.
    ///
    /// # Shapes
    /// `x`: `[n, d]`, one sample per row.
    ///
    /// Data with magnitudes outside `[1e-100, 1e100]` is scaled by a power of two for the
    /// decomposition (exact; squares would otherwise overflow or underflow) and the variances
    /// scaled back.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] when `n < 2`, `k == 0` or `k > min(n, d)`;
    /// [`AnalyzeError::NonFinite`] when `x` holds NaN or ±∞; [`AnalyzeError::Numeric`] when
    /// the eigendecomposition fails or the variance exceeds float64's range.
    pub fn fit(x: ArrayView2<f64>, k: usize) -> Result<Pca> {
        let (n, d) = x.dim();
        if n < 2 || k == 0 || k > n.min(d) {
            return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
                name: "components".into(),
                value: k.to_string(),
                reason: format!("PCA of {n} samples × {d} features needs 1 ≤ components ≤ {}", n.min(d)),
            }));
        }
        crate::finite::ensure_finite(
            || "PCA input".into(),
            x.iter().copied(),
            |i| format!("sample {}, feature {}", i / d, i % d),
        )?;
        // The mean of finite values can overflow (two values near f64::MAX): average scaled.
        let largest = crate::finite::max_abs(x.iter().copied());
        let scale = if (1e-100..=1e100).contains(&largest) { 1.0 } else { crate::finite::power_of_two_scale(largest) };
        let mean = x.mapv(|v| v * scale).mean_axis(Axis(0)).expect("n ≥ 2 rows") / scale;
        let centred = x.mapv(|v| v * scale) - &mean.mapv(|m| m * scale);
        let total_variance = centred.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
        let (variance, components) = if d <= n { by_covariance(&centred, k)? } else { by_gram(&centred, k)? };
        let (variance, total_variance) = (variance / (scale * scale), total_variance / (scale * scale));
        if !total_variance.is_finite() || mean.iter().any(|m| !m.is_finite()) {
            return Err(AnalyzeError::Numeric {
                what: "PCA".into(),
                reason: format!("the features (magnitudes up to {largest:e}) have a variance beyond float64's range"),
            });
        }
        Ok(Pca { mean, components, variance, total_variance })
    }

    /// Each component's share of the total variance, `λ_i / tr(C)`, `[k]`; sums to ≤ 1.
    pub fn variance_share(&self) -> Array1<f64> {
        if self.total_variance > 0.0 {
            &self.variance / self.total_variance
        } else {
            Array1::zeros(self.variance.len())
        }
    }

    /// Projects `x` (`[m, d]`) onto the components: `[m, k]`.
    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        (&x - &self.mean).dot(&self.components.t())
    }
}

/// Top `k` eigenpairs of a symmetric matrix, by decreasing eigenvalue: (`[k]`, vectors as columns `[m, k]`).
fn top_eigen(matrix: Array2<f64>, k: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let numeric =
        |reason: String| AnalyzeError::Numeric { what: "symmetric eigendecomposition for PCA".into(), reason };
    let (values, vectors) = netlens_fetch::panic::catch(|| matrix.eigh_into())
        .map_err(|message| numeric(format!("linfa panicked: {message}")))?
        .map_err(|e| numeric(e.to_string()))?;
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let top = &order[..k];
    let vals = top.iter().map(|&i| values[i].max(0.0)).collect();
    Ok((vals, vectors.select(Axis(1), top)))
}

fn by_covariance(centred: &Array2<f64>, k: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let n = centred.nrows();
    let cov = centred.t().dot(centred) / (n - 1) as f64;
    let (variance, vectors) = top_eigen(cov, k)?;
    Ok((variance, vectors.t().to_owned()))
}

fn by_gram(centred: &Array2<f64>, k: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let n = centred.nrows();
    let gram = centred.dot(&centred.t());
    let (eig, u) = top_eigen(gram, k)?;
    // v_i = X_cᵀ u_i / σ_i with σ_i = √eig_i; a zero σ leaves a zero row (no variance there).
    let mut components = u.t().dot(centred);
    for (mut row, &e) in components.axis_iter_mut(Axis(0)).zip(eig.iter()) {
        let sigma = e.sqrt();
        if sigma > f64::EPSILON {
            row /= sigma;
        } else {
            row.fill(0.0);
        }
    }
    Ok((eig / (n - 1) as f64, components))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const TOLERANCE: f64 = 1e-9;

    /// `n` (a multiple of 4) samples of rank-2 data in `d` dims: a·e₀ + b·(e₁ + e₂)/√2 with
    /// a = ±3 and b = ±1 in orthogonal sign patterns, so var(a) > var(b) and cov(a, b) = 0.
    fn rank_two(n: usize, d: usize) -> Array2<f64> {
        let e = 1.0 / 2f64.sqrt();
        Array2::from_shape_fn((n, d), |(i, j)| match j {
            0 => {
                if i % 4 < 2 {
                    3.0
                } else {
                    -3.0
                }
            }
            1 | 2 => {
                if i % 2 == 0 {
                    e
                } else {
                    -e
                }
            }
            _ => 0.0,
        })
    }

    #[test]
    fn recovers_data_of_known_rank_in_both_paths() {
        // (20, 3): covariance path; (8, 12): Gram path.
        for (n, d) in [(20, 3), (8, 12)] {
            let pca = Pca::fit(rank_two(n, d).view(), 2).unwrap();
            let gram = pca.components.dot(&pca.components.t());
            for (idx, v) in gram.indexed_iter() {
                let want = if idx.0 == idx.1 { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-8, "({n}, {d}): components not orthonormal at {idx:?}: {v}");
            }
            let share_sum: f64 = pca.variance_share().sum();
            assert!((share_sum - 1.0).abs() < 1e-8, "({n}, {d}): rank-2 data, shares sum to {share_sum}");
            assert!((pca.variance_share()[0] - 0.9).abs() < 1e-8, "({n}, {d}): 9 / (9 + 1)");
            assert!(pca.components[[0, 0]].abs() > 1.0 - 1e-8, "first axis is e0: {:?}", pca.components);
            assert!((pca.components[[1, 1]].abs() - 1.0 / 2f64.sqrt()).abs() < 1e-8);
        }
    }

    #[test]
    fn shares_are_of_the_total_variance_not_of_the_kept_components() {
        let x = array![[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]];
        let pca = Pca::fit(x.view(), 1).unwrap();
        // Variances 2/3 and 1/6: the first has 0.8 of the total.
        assert!((pca.variance_share()[0] - 0.8).abs() < TOLERANCE, "{}", pca.variance_share());
        assert!(pca.variance[0].is_finite());
    }

    #[test]
    fn too_many_components_is_an_error() {
        let x = array![[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]];
        let err = Pca::fit(x.view(), 3).unwrap_err().to_string();
        assert!(err.contains("components = 3") && err.contains("≤ 2"), "{err}");
    }

    /// Top-`k` reference by SVD of the centred data `X_c = U Σ Vᵀ` (linfa-linalg's Golub–Kahan
    /// SVD): (σ sorted decreasing `[k]`, all σ `[min(n, d)]`, components `[k, d]`, `U Σ` `[n, k]`).
    fn svd_reference(x: &Array2<f64>, k: usize) -> (Vec<f64>, Vec<f64>, Array2<f64>, Array2<f64>) {
        use linfa_linalg::svd::SVD;
        let centred = x - &x.mean_axis(Axis(0)).unwrap();
        let wide = centred.ncols() > centred.nrows();
        let a = if wide { centred.t().to_owned() } else { centred.clone() };
        let (left, sigma, right_t) = a.svd(true, true).unwrap();
        let (left, right_t) = (left.unwrap(), right_t.unwrap());
        // For X_c: u = columns of U, v = rows of Vᵀ; for X_cᵀ they swap.
        let (u, vt) = if wide { (right_t.t().to_owned(), left.t().to_owned()) } else { (left, right_t) };
        let mut order: Vec<usize> = (0..sigma.len()).collect();
        order.sort_by(|&a, &b| sigma[b].total_cmp(&sigma[a]));
        let top = &order[..k];
        let components = vt.select(Axis(0), top);
        let mut scores = u.select(Axis(1), top);
        for (mut col, &i) in scores.axis_iter_mut(Axis(1)).zip(top) {
            col *= sigma[i];
        }
        (top.iter().map(|&i| sigma[i]).collect(), sigma.to_vec(), components, scores)
    }

    #[test]
    fn matches_an_svd_reference_on_real_features() {
        use netlens_onnx::{LayerSelection, TapRunner, inspect, select_taps};
        const SHARE_TOLERANCE: f64 = 1e-9;
        const RELATIVE_TOLERANCE: f64 = 1e-6;
        let shared = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared");
        let model = shared.join("fixtures/torch-small-cnn.onnx");
        let taps = select_taps(&inspect(&model).unwrap(), &LayerSelection::Auto).unwrap();
        let test =
            netlens_fetch::load_split(&shared.join("data/fashion-mnist-small"), netlens_fetch::Split::Test).unwrap();
        let images = test.images.select(&(0..60).collect::<Vec<_>>());
        let outputs = TapRunner::new(&model, taps).unwrap().run(&images, 60, |_| {}).unwrap();
        // The first conv (16,384 wide: Gram path) and the final layer (10 wide: covariance path).
        for out in [outputs.first().unwrap(), outputs.last().unwrap()] {
            let x = super::super::feature_matrix(out);
            let k = 5;
            let pca = Pca::fit(x.view(), k).unwrap();
            let (sigma, all_sigma, components, scores) = svd_reference(&x, k);
            let total: f64 = all_sigma.iter().map(|s| s * s).sum();
            let projected = pca.transform(x.view());
            let gram = pca.components.dot(&pca.components.t());
            for i in 0..k {
                for j in 0..k {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (gram[[i, j]] - want).abs() < RELATIVE_TOLERANCE,
                        "{}: components not orthonormal",
                        out.tap.layer
                    );
                }
                let share = sigma[i] * sigma[i] / total;
                let found = pca.variance_share()[i];
                assert!(
                    (found - share).abs() < SHARE_TOLERANCE,
                    "{} PC{}: share {found}, SVD {share}",
                    out.tap.layer,
                    i + 1
                );
                let cos = pca.components.row(i).dot(&components.row(i));
                assert!(
                    (cos.abs() - 1.0).abs() < RELATIVE_TOLERANCE,
                    "{} PC{}: |cos| = {}",
                    out.tap.layer,
                    i + 1,
                    cos.abs()
                );
                let sign = cos.signum();
                let worst = projected
                    .column(i)
                    .iter()
                    .zip(scores.column(i))
                    .map(|(p, r)| (p - sign * r).abs())
                    .fold(0.0, f64::max);
                assert!(
                    worst < RELATIVE_TOLERANCE * sigma[0],
                    "{} PC{}: projections differ by {worst}",
                    out.tap.layer,
                    i + 1
                );
            }
        }
    }
}
