//! t-SNE (van der Maaten & Hinton 2008; Barnes–Hut approximation, van der Maaten 2014) through
//! bhtsne 0.7, made safe for real features:
//!
//! - features wider than [`TSNE_INPUT_DIMS`] are first reduced to that many dimensions with
//!   [`Pca`], the usual preprocessing (scikit-learn's and openTSNE's docs recommend it);
//! - the run happens on its own thread with a [`TSNE_STACK_BYTES`] stack, and a panic inside
//!   bhtsne becomes an [`AnalyzeError::Tsne`] instead of aborting the program;
//! - perplexity is checked against `n` before bhtsne's own assertion can fire;
//! - tied distances (duplicate rows, common with dead ReLUs) made repeated runs differ; a seeded
//!   jitter of [`TIE_BREAK_JITTER`] × the data's standard deviation breaks the ties.
//!
//! Settings follow scikit-learn's: early exaggeration [`EARLY_EXAGGERATION`] and momentum 0.5 for
//! the first `min(iterations / 2, 250)` iterations, then 0.8; a Gaussian initial embedding of
//! standard deviation [`INITIAL_EMBEDDING_STD`]; the learning rate of [`learning_rate_for`].
//!
//! Threads and reproducibility: the seed fixes the initial embedding and the jitter. Up to
//! [`EXACT_TSNE_MAX_SAMPLES`] samples t-SNE runs exact on one thread and the layout is
//! bit-identical across runs. Above, Barnes–Hut runs on rayon's pool (every core): the `k`
//! nearest neighbours are found exactly and deterministically here (bhtsne's own vantage-point
//! tree picks unseeded pivots), but rayon's parallel sums may add in a different order from run to
//! run, so two runs with the same seed can differ in the last bits and then drift slightly; their
//! scores agree closely (5-NN accuracy 0.755 and 0.757 in two runs of `bench/tsne.py`).

use ndarray::{Array2, ArrayView2};
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;

use super::pca::Pca;
use crate::error::{AnalyzeError, Result};

/// Width features are reduced to with PCA before t-SNE when they are wider.
pub const TSNE_INPUT_DIMS: usize = 50;

/// Stack size of the t-SNE thread (bhtsne's space-partitioning tree recurses).
pub const TSNE_STACK_BYTES: usize = 256 << 20;

/// Barnes–Hut accuracy θ (0 = exact); 0.5 as in bhtsne, scikit-learn and linfa's default.
pub const BARNES_HUT_THETA: f64 = 0.5;

/// Up to this many samples t-SNE runs exact (θ = 0: all pairs, O(n²) per iteration; about a
/// second for 500 samples). Exact is also deterministic: bhtsne's Barnes–Hut path finds
/// neighbours with a vantage-point tree whose vantage points come from an unseeded
/// `thread_rng`, and its float pruning then occasionally picks different neighbours, so the
/// same input gave a different layout in about 1 run of 12 (measured on 150 LeNet fc1 vectors).
pub const EXACT_TSNE_MAX_SAMPLES: usize = 500;

/// The θ used for `n` samples: 0 (exact) up to [`EXACT_TSNE_MAX_SAMPLES`], else
/// [`BARNES_HUT_THETA`].
pub fn theta_for(n: usize) -> f64 {
    if n <= EXACT_TSNE_MAX_SAMPLES { 0.0 } else { BARNES_HUT_THETA }
}

/// Relative size of the seeded uniform jitter added to t-SNE's input to break distance ties.
pub const TIE_BREAK_JITTER: f64 = 1e-6;

/// The smallest perplexity accepted. bhtsne's search for each point's Gaussian bandwidth cannot
/// reach an entropy of `ln 1 = 0` and leaves the affinities at zero below about 2: perplexity 1
/// gave 5-NN accuracy 0.12 in the embedding of 400 conv1 vectors of torch-small-cnn, 2 gave 0.71,
/// as 3 and 5 did. Also the floor of the automatic lowering for small samples.
pub const MIN_PERPLEXITY: f64 = 2.0;

/// t-SNE settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TsneParams {
    /// Output dimensions, 2 or 3.
    pub dims: usize,
    /// Perplexity, the effective number of neighbours; needs `n − 1 ≥ 3 · perplexity`. Default 30.
    pub perplexity: f64,
    /// Gradient-descent iterations. Default 1000.
    pub iterations: usize,
    /// Seed of the initial embedding.
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        TsneParams { dims: 2, perplexity: 30.0, iterations: 1000, seed: 0 }
    }
}

impl TsneParams {
    /// Checks the settings for `n` samples.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] naming the setting: dims not 2 or 3, perplexity not
    /// positive or too large for `n`, fewer than 10 iterations.
    pub fn check(&self, n: usize) -> Result<()> {
        let invalid = |name: &str, value: String, reason: String| {
            Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting { name: name.into(), value, reason }))
        };
        if !(2..=3).contains(&self.dims) {
            return invalid("dims", self.dims.to_string(), "t-SNE embeds in 2 or 3 dimensions".into());
        }
        if !(self.perplexity.is_finite() && self.perplexity >= MIN_PERPLEXITY) {
            let reason = format!(
                "must be at least {MIN_PERPLEXITY}: below it the affinities' bandwidth search fails and the layout \
                 comes out near random"
            );
            return invalid("perplexity", self.perplexity.to_string(), reason);
        }
        if (n as f64 - 1.0) < 3.0 * self.perplexity {
            // Rounded down, so that the value printed is itself allowed.
            let most = ((n as f64 - 1.0) / 3.0 * 100.0).floor() / 100.0;
            let reason = format!("too large for {n} samples: t-SNE needs n − 1 ≥ 3 · perplexity, so at most {most:.2}");
            return invalid("perplexity", self.perplexity.to_string(), reason);
        }
        if self.iterations < 10 {
            return invalid("iterations", self.iterations.to_string(), "need at least 10".into());
        }
        Ok(())
    }
}

/// The input t-SNE actually sees: `x` itself, or its first [`TSNE_INPUT_DIMS`] principal
/// components when wider (and `n` allows).
///
/// # Errors
/// Those of [`Pca::fit`].
pub fn tsne_input(x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    crate::finite::ensure_finite(
        || "t-SNE input".into(),
        x.iter().copied(),
        |i| format!("sample {}, feature {}", i / d.max(1), i % d.max(1)),
    )?;
    let k = TSNE_INPUT_DIMS.min(n);
    if d <= k {
        return Ok(x.to_owned());
    }
    Ok(Pca::fit(x, k)?.transform(x))
}

/// Embeds `x` with t-SNE after [`tsne_input`].
///
/// # Shapes
/// `x`: `[n, d]` → `[n, params.dims]`.
///
/// Input with magnitudes outside `[1e-100, 1e100]` is scaled by a power of two first: t-SNE's
/// affinities are calibrated per point to the perplexity, so they do not depend on scale.
///
/// # Errors
/// Those of [`TsneParams::check`] and [`tsne_input`] (NaN or ±∞ in `x` included);
/// [`AnalyzeError::Tsne`] when bhtsne fails or gives non-finite coordinates.
pub fn tsne(x: ArrayView2<f64>, params: &TsneParams) -> Result<Array2<f64>> {
    params.check(x.nrows())?;
    let mut input = tsne_input(x)?;
    let largest = crate::finite::max_abs(input.iter().copied());
    if !(1e-100..=1e100).contains(&largest) {
        input.mapv_inplace(|v| v * crate::finite::power_of_two_scale(largest));
    }
    let input = break_ties(input, params.seed);
    let (n, dims) = input.dim();
    let params = params.clone();
    let fail = |reason: String| AnalyzeError::Tsne { n, dims, reason };
    let handle = std::thread::Builder::new()
        .name("t-SNE".into())
        .stack_size(TSNE_STACK_BYTES)
        .spawn(move || run_bhtsne(input, &params))
        .map_err(|e| fail(format!("cannot start its thread: {e}")))?;
    let points = match handle.join() {
        Ok(result) => result.map_err(fail)?,
        Err(panic) => return Err(fail(panic_message(panic.as_ref()))),
    };
    match crate::finite::first_non_finite(points.iter().copied()) {
        None => Ok(points),
        Some(bad) => Err(fail(format!("{} of {} coordinates came out non-finite", bad.count, bad.total))),
    }
}

/// Adds uniform noise in `±TIE_BREAK_JITTER · std(x)`, seeded by `seed`.
fn break_ties(mut x: Array2<f64>, seed: u64) -> Array2<f64> {
    use rand_xoshiro::rand_core::RngCore;
    let n = x.len().max(1) as f64;
    let mean = x.sum() / n;
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let scale = TIE_BREAK_JITTER * if std > 0.0 { std } else { 1.0 };
    let mut rng = Xoshiro256Plus::seed_from_u64(seed ^ 0x7453_4e45);
    for v in x.iter_mut() {
        let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        *v += (2.0 * unit - 1.0) * scale;
    }
    x
}

/// Standard deviation of the seeded Gaussian initial embedding (scikit-learn's and bhtsne's
/// random initialisation).
pub const INITIAL_EMBEDDING_STD: f64 = 1e-4;

/// Early exaggeration of the affinities for the first iterations (van der Maaten 2014, §5;
/// scikit-learn's default).
pub const EARLY_EXAGGERATION: f64 = 12.0;

/// Gradient-descent learning rate for `n` samples: `max(n / early_exaggeration, 200)`, the rule
/// of Belkina et al. 2019 (Nature Communications 10:5415) as openTSNE applies it to the gradient
/// bhtsne computes, `Σ_j (p_ij − q_ij) q_ij Z (y_i − y_j)` without the factor 4 of the paper's
/// gradient (scikit-learn, whose gradient keeps the 4, divides its `"auto"` rate by 4 instead;
/// bhtsne 0.7's own default divides by 4 without the factor, a quarter of the step: 5-NN accuracy
/// 0.743 against 0.759 on the t-SNE benchmark). 200 is bhtsne's historical rate.
pub fn learning_rate_for(n: usize) -> f64 {
    (n as f64 / EARLY_EXAGGERATION).max(200.0)
}

fn run_bhtsne(input: Array2<f64>, params: &TsneParams) -> std::result::Result<Array2<f64>, String> {
    match params.dims {
        2 => embed::<2>(&input, params),
        3 => embed::<3>(&input, params),
        d => Err(format!("t-SNE embeds in 2 or 3 dimensions, not {d}")),
    }
}

/// bhtsne 0.7 in `D` dimensions: exact up to [`EXACT_TSNE_MAX_SAMPLES`] (on one thread, so the
/// layout is bit-identical across runs), Barnes–Hut above it on rayon's pool with the exact `k`
/// nearest neighbours (`k = 3 · perplexity`, as bhtsne's vantage-point tree would find them, but
/// without its unseeded pivots).
fn embed<const D: usize>(input: &Array2<f64>, params: &TsneParams) -> std::result::Result<Array2<f64>, String>
where
    bhtsne::Dim<D>: bhtsne::Morton<D>,
{
    let n = input.nrows();
    let rows: Vec<&[f64]> =
        input.as_slice().ok_or("t-SNE input is not contiguous")?.chunks(input.ncols().max(1)).collect();
    let switch = (params.iterations / 2).min(250);
    let exact = theta_for(n) == 0.0;
    let neighbours =
        if exact { vec![] } else { nearest_neighbours(input, ((3.0 * params.perplexity) as usize).clamp(1, n - 1)) };
    let fit = || {
        let mut tsne: bhtsne::tSNE<f64, &[f64], D> = bhtsne::tSNE::new(&rows);
        tsne.perplexity(params.perplexity)
            .epochs(params.iterations)
            .learning_rate(learning_rate_for(n))
            .early_exaggeration(EARLY_EXAGGERATION)
            .stop_lying_epoch(switch)
            .momentum_switch_epoch(switch)
            .initial_embedding(initial_embedding(n * D, params.seed));
        if exact {
            tsne.exact(|a, b| squared_distance(*a, *b));
        } else {
            tsne.barnes_hut_with_neighbors(BARNES_HUT_THETA, &neighbours);
        }
        tsne.embedding()
    };
    let embedding = if exact {
        rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| e.to_string())?.install(fit)
    } else {
        fit()
    };
    Array2::from_shape_vec((n, D), embedding).map_err(|e| e.to_string())
}

/// `n · dims` coordinates from N(0, [`INITIAL_EMBEDDING_STD`]²), seeded (Box–Muller).
fn initial_embedding(len: usize, seed: u64) -> Vec<f64> {
    use rand_xoshiro::rand_core::RngCore;
    let mut rng = Xoshiro256Plus::seed_from_u64(seed);
    let mut unit = || ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..len)
        .map(|_| {
            let (u, v) = (unit(), unit());
            INITIAL_EMBEDDING_STD * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect()
}

/// `‖a − b‖²`.
fn squared_distance<'a>(a: impl IntoIterator<Item = &'a f64>, b: impl IntoIterator<Item = &'a f64>) -> f64 {
    a.into_iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Rows of this many samples share one Gram-matrix product in [`nearest_neighbours`].
const NEIGHBOUR_BLOCK_ROWS: usize = 256;

/// The `k` nearest other samples of each row of `x` (`[n, d]`) by Euclidean distance, nearest
/// first, ties to the lower index. Candidates come from blocks of `‖a‖² + ‖b‖² − 2 a·b`; the
/// distances handed on are recomputed directly from the differences.
fn nearest_neighbours(x: &Array2<f64>, k: usize) -> Vec<Vec<bhtsne::Neighbor<f64>>> {
    use rayon::prelude::*;
    let n = x.nrows();
    let norms: Vec<f64> = x.rows().into_iter().map(|r| r.dot(&r)).collect();
    let starts: Vec<usize> = (0..n).step_by(NEIGHBOUR_BLOCK_ROWS).collect();
    starts
        .par_iter()
        .flat_map_iter(|&start| {
            let end = (start + NEIGHBOUR_BLOCK_ROWS).min(n);
            let gram = x.slice(ndarray::s![start..end, ..]).dot(&x.t());
            let norms = &norms;
            (start..end).map(move |i| {
                let mut order: Vec<(f64, usize)> =
                    (0..n).filter(|&j| j != i).map(|j| (norms[i] + norms[j] - 2.0 * gram[[i - start, j]], j)).collect();
                let by_distance = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                order.select_nth_unstable_by(k - 1, by_distance);
                order.truncate(k);
                let mut row: Vec<bhtsne::Neighbor<f64>> = order
                    .into_iter()
                    .map(|(_, j)| {
                        let d2 = squared_distance(x.row(i), x.row(j));
                        bhtsne::Neighbor { index: j, distance: d2.sqrt() }
                    })
                    .collect();
                row.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index)));
                row
            })
        })
        .collect()
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "bhtsne panicked".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perplexity_too_large_for_n_is_a_clear_error() {
        let err = TsneParams { perplexity: 30.0, ..Default::default() }.check(60).unwrap_err().to_string();
        assert!(err.contains("perplexity = 30") && err.contains("60 samples") && err.contains("19.66"), "{err}");
        let err = TsneParams { perplexity: 1.0, ..Default::default() }.check(60).unwrap_err().to_string();
        assert!(err.contains("perplexity = 1") && err.contains("at least 2"), "{err}");
    }

    #[test]
    fn separates_two_clusters_with_duplicate_points() {
        // Two clusters in 80-D, with repeated points (dead ReLUs give many identical rows).
        let x = Array2::from_shape_fn((60, 80), |(i, j)| {
            if i < 30 { ((i % 4) * j % 3) as f64 * 0.1 } else { 5.0 + ((i % 3) + j % 2) as f64 * 0.1 }
        });
        let params = TsneParams { perplexity: 10.0, iterations: 1000, ..Default::default() };
        let y = tsne(x.view(), &params).unwrap();
        assert_eq!(y.dim(), (60, 2));
        assert!(y.iter().all(|v| v.is_finite()));
        let labels: Vec<u32> = (0..60).map(|i| (i / 30) as u32).collect();
        let acc = super::super::scores::knn_accuracy(y.view(), &labels, 5).unwrap();
        assert!(acc > 0.95, "k-NN accuracy in the embedding {acc}");
    }

    /// Up to [`EXACT_TSNE_MAX_SAMPLES`] samples two runs give the same layout bit for bit (the
    /// Barnes–Hut path differed in about 1 run of 12 on such data).
    #[test]
    fn small_sets_embed_identically_on_every_run() {
        let data = netlens_fetch::load_split(
            &std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("../../shared/data/fashion-mnist-small"),
            netlens_fetch::Split::Test,
        )
        .unwrap();
        let n = 150;
        let width = data.images.image_len();
        let x = Array2::from_shape_fn((n, width), |(i, j)| data.images.image(i)[j] as f64);
        let params = TsneParams { iterations: 300, ..Default::default() };
        let first = tsne(x.view(), &params).unwrap();
        for _ in 0..3 {
            assert_eq!(tsne(x.view(), &params).unwrap(), first);
        }
        assert_eq!(theta_for(n), 0.0);
        assert_eq!(theta_for(EXACT_TSNE_MAX_SAMPLES + 1), BARNES_HUT_THETA);
    }
}
