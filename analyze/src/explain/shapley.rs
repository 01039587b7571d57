//! Shapley values of image patches: permutation sampling, KernelSHAP or exact enumeration.
//!
//! Players are the cells of a `rows × cols` grid over the image (Zhang et al., arXiv:1911.09017
//! §3.1); `v(S)` is the target logit with the pixels of the players outside `S` replaced by
//! the baseline image ([`Baseline`]). The Shapley value (Shapley 1953)
//! `φ_i = Σ_{S⊆N∖{i}} |S|!(n−|S|−1)!/n! · (v(S∪{i}) − v(S))`
//! equals the mean over uniformly random orders π of the marginal contribution
//! `v(Pre_π(i) ∪ {i}) − v(Pre_π(i))`; it is estimated from `m` sampled orders (Castro, Gómez &
//! Tejada 2009, "Polynomial calculation of the Shapley value based on sampling"). Within one
//! order the marginals telescope to `v(N) − v(∅)`, so the estimate is exactly efficient for any
//! `m`. With antithetic sampling each order is paired with its reverse, and the standard error
//! of player i is computed over the pair means. All coalitions of a batch of orders are
//! evaluated in batched forward passes of any [`Classifier`] (tract by default).
//!
//! Two other estimators of the same values ([`ShapleyEstimator`]):
//! - **kernel**: unbiased KernelSHAP with paired sampling (Covert & Lee 2021, "Improving
//!   KernelSHAP: Practical Shapley Value Estimation Using Linear Regression", AISTATS, §3–4).
//!   The Shapley values solve `min_φ E_z[(v(z) − v(∅) − zᵀφ)²]` subject to `1ᵀφ = v(N) − v(∅)`,
//!   with `z` drawn from the Shapley kernel: size `k` with probability ∝ `1/(k(n − k))`, then a
//!   uniform coalition of that size. Its solution is `φ = A⁻¹(b − 1 λ)` with `A = E[z zᵀ]`,
//!   `b = E[z (v(z) − v(∅))]` and `λ` fixed by the constraint. `A` is known exactly, `αI + a 11ᵀ`
//!   with `a = P(i, j ∈ S) = Σ_k q(k) k(k−1)/(n(n−1))` and `α = ½ − a`, which reduces the solution
//!   to `φ_i = (v(N) − v(∅))/n + (b_i − b̄)/α`: linear in the sampled `b`, so the estimate is
//!   unbiased, exactly efficient, and its standard error is that of a mean. Each coalition is
//!   drawn with its complement (paired sampling, their §4.2).
//! - **exact**: `φ_i = Σ_{S∌i} |S|!(n−|S|−1)!/n! (v(S∪{i}) − v(S))` over all `2ⁿ` coalitions.

use netlens_fetch::Images;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use netlens_fetch::runs::ShapleyEstimator;

use super::baseline::baseline_image;
use super::{Baseline, Classifier};
use crate::error::{AnalyzeError, Result};

pub use netlens_fetch::runs::{ShapleySettings, ShapleyValues};

/// Parameters of the Shapley-value sampler: a builder over the recorded [`ShapleySettings`].
/// Defaults: a 4 × 4 grid, 200 orders in antithetic pairs, the default [`Baseline`] (the image
/// blurred), 256 coalitions per forward pass, seed 42.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShapleyParams(ShapleySettings);

impl From<ShapleySettings> for ShapleyParams {
    fn from(settings: ShapleySettings) -> Self {
        ShapleyParams(settings)
    }
}

/// The cooperative game of one image: who owns each pixel and what absent pixels become.
#[derive(Clone, Copy)]
struct Game<'a> {
    model: &'a dyn Classifier,
    image: &'a Images,
    /// The baseline image, `[channels, height, width]`.
    base: &'a [f32],
    owner: &'a [usize],
    target: usize,
}

fn invalid(name: &str, value: impl ToString, reason: &str) -> AnalyzeError {
    netlens_fetch::runs::InvalidSetting::new(name, value, reason).into()
}

impl ShapleyParams {
    /// The settings, as `explanations.json` records them.
    pub fn settings(&self) -> &ShapleySettings {
        &self.0
    }

    /// The patch grid `[rows, cols]`; every cell must cover at least one pixel.
    pub fn grid(mut self, rows: usize, cols: usize) -> Self {
        self.0.grid = [rows, cols];
        self
    }
    /// Number of sampled orders `m` (even when antithetic).
    pub fn permutations(mut self, m: usize) -> Self {
        self.0.permutations = m;
        self
    }
    /// The estimator (permutation sampling by default).
    pub fn estimator(mut self, estimator: ShapleyEstimator) -> Self {
        self.0.estimator = estimator;
        self
    }
    /// Pair each order with its reverse (variance reduction).
    pub fn antithetic(mut self, on: bool) -> Self {
        self.0.antithetic = on;
        self
    }
    /// The image whose pixels replace those of absent patches.
    pub fn baseline(mut self, baseline: Baseline) -> Self {
        self.0.baseline = baseline;
        self
    }
    /// Coalitions per forward pass, ≥ 1.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.0.batch_size = n;
        self
    }
    /// Random seed of the order sampling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }

    /// Validates the parameters for images of `height × width`.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for an empty grid or one finer than the image, fewer
    /// than 2 orders (no standard error), an odd count with antithetic pairs, batch size 0, or
    /// a bad [`Baseline`].
    pub fn check(&self, height: usize, width: usize) -> Result<()> {
        let [r, c] = self.0.grid;
        if r == 0 || c == 0 || r > height || c > width {
            return Err(invalid(
                "grid",
                format!("{r}x{c}"),
                &format!(
                    "a {height}×{width} image has room for 1..={height} rows and 1..={width} columns of patches \
                     (`--grid N` makes N×N)"
                ),
            ));
        }
        // The standard error needs two samples: two permutations, or two antithetic pairs (the
        // kernel estimator always draws at least two coalition pairs; exact samples nothing).
        let odd_or_short = self.0.permutations % 2 == 1 || self.0.permutations < 4;
        if self.0.estimator == ShapleyEstimator::Permutation
            && (self.0.permutations < 2 || (self.0.antithetic && odd_or_short))
        {
            return Err(invalid(
                "permutations",
                self.0.permutations,
                "needs at least 2, and with antithetic pairs an even count of at least 4 (two pairs, for the standard error)",
            ));
        }
        if self.0.estimator == ShapleyEstimator::Kernel && self.0.permutations == 0 {
            return Err(invalid(
                "permutations",
                0,
                "the kernel estimator's budget must be at least 1 order's model calls",
            ));
        }
        if self.0.batch_size == 0 {
            return Err(invalid("batch_size", 0, "must be at least 1"));
        }
        let n = r * c;
        if self.0.estimator == ShapleyEstimator::Exact && n > MAX_EXACT_PLAYERS {
            return Err(invalid(
                "grid",
                format!("{r}x{c}"),
                &format!(
                    "the exact estimator evaluates all 2^n coalitions and takes at most {MAX_EXACT_PLAYERS} patches \
                     (--grid 4 at most); use the permutation or kernel estimator"
                ),
            ));
        }
        if self.0.estimator == ShapleyEstimator::Kernel && n < 2 {
            return Err(invalid("grid", format!("{r}x{c}"), "the kernel estimator needs at least 2 players"));
        }
        Ok(self.0.baseline.check()?)
    }

    /// Shapley values of the players of `image` for class `target`.
    ///
    /// # Shapes
    /// `image`: `[1, channels, height, width]`.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for bad parameters or a target outside the classes;
    /// the classifier's errors.
    pub fn explain(&self, model: &dyn Classifier, image: &Images, target: usize) -> Result<ShapleyValues> {
        let [_, c, h, w] = image.shape;
        self.check(h, w)?;
        let n = self.0.grid[0] * self.0.grid[1];
        let owner = self.patch_of_pixel(h, w);
        let base = baseline_image(&self.0.baseline, &image.data, [c, h, w]);
        let game = Game { model, image, base: &base, owner: &owner, target };
        let mut value = |coalitions: &[Vec<bool>]| self.values(&game, coalitions);
        match self.0.estimator {
            ShapleyEstimator::Permutation => self.permutation(n, target, &mut value),
            ShapleyEstimator::Kernel => self.kernel(n, target, &mut value),
            ShapleyEstimator::Exact => self.exact(n, target, &mut value),
        }
    }

    /// Permutation sampling (the module's first estimator) of the game `value` on `n` players.
    fn permutation(&self, n: usize, target: usize, value: &mut ValueFn) -> Result<ShapleyValues> {
        let ends = value(&[vec![false; n], vec![true; n]])?;
        let (empty, full) = (ends[0], ends[1]);
        let orders = self.orders(n);
        let mut marginals = vec![vec![0f64; n]; orders.len()];
        let per_batch = (self.0.batch_size / n.saturating_sub(1).max(1)).max(1);
        for (chunk_i, chunk) in orders.chunks(per_batch).enumerate() {
            let mut coalitions = Vec::with_capacity(chunk.len() * (n - 1));
            for order in chunk {
                let mut present = vec![false; n];
                for &p in &order[..n - 1] {
                    present[p] = true;
                    coalitions.push(present.clone());
                }
            }
            let v = value(&coalitions)?;
            for (j, order) in chunk.iter().enumerate() {
                let mut prev = empty;
                let row = &mut marginals[chunk_i * per_batch + j];
                for (step, &p) in order.iter().enumerate() {
                    let cur = if step == n - 1 { full } else { v[j * (n - 1) + step] };
                    row[p] = cur - prev;
                    prev = cur;
                }
            }
        }
        let mut values = self.summarise(&marginals, target, full, empty);
        values.model_calls = 2 + orders.len() * (n - 1);
        Ok(values)
    }

    /// Unbiased KernelSHAP with paired sampling (module docs) of the game `value` on `n ≥ 2`
    /// players, spending `permutations · (n − 1)` model calls on coalition pairs.
    fn kernel(&self, n: usize, target: usize, value: &mut ValueFn) -> Result<ShapleyValues> {
        let ends = value(&[vec![false; n], vec![true; n]])?;
        let (empty, full) = (ends[0], ends[1]);
        let pairs = self.0.kernel_pairs();
        let (q, alpha) = shapley_kernel(n);
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.0.seed);
        let mut coalitions = Vec::with_capacity(2 * pairs);
        for _ in 0..pairs {
            let u: f64 = rand::Rng::random(&mut rng);
            let k = 1 + q
                .iter()
                .scan(0.0, |acc, p| {
                    *acc += p;
                    Some(*acc)
                })
                .take_while(|&c| c < u)
                .count()
                .min(n - 2);
            let mut z = vec![false; n];
            for i in rand::seq::index::sample(&mut rng, n, k) {
                z[i] = true;
            }
            let complement = z.iter().map(|&b| !b).collect();
            coalitions.push(z);
            coalitions.push(complement);
        }
        let v = value(&coalitions)?;
        let delta = full - empty;
        // One estimate of φ per pair: φ_i = Δ/n + (g_i − ḡ)/α with g = mean of z (v(z) − v(∅))
        // over the pair; the estimate is their mean and its standard error theirs.
        let samples: Vec<Vec<f64>> = coalitions
            .chunks(2)
            .zip(v.chunks(2))
            .map(|(zs, vs)| {
                let g: Vec<f64> = (0..n)
                    .map(|i| zs.iter().zip(vs).filter(|(z, _)| z[i]).map(|(_, v)| v - empty).sum::<f64>() / 2.0)
                    .collect();
                let mean = g.iter().sum::<f64>() / n as f64;
                g.iter().map(|gi| delta / n as f64 + (gi - mean) / alpha).collect()
            })
            .collect();
        let mut values = mean_and_std_error(&samples, self.0.grid, target, full, empty);
        values.permutations = self.0.permutations;
        values.model_calls = 2 + coalitions.len();
        Ok(values)
    }

    /// The exact Shapley values of the game `value` on `n ≤` [`MAX_EXACT_PLAYERS`] players,
    /// from all `2ⁿ` coalitions (coalition `S` is the bit mask `Σ_{i∈S} 2^i`).
    fn exact(&self, n: usize, target: usize, value: &mut ValueFn) -> Result<ShapleyValues> {
        let coalitions: Vec<Vec<bool>> = (0..1usize << n).map(|m| (0..n).map(|i| m >> i & 1 == 1).collect()).collect();
        let v = value(&coalitions)?;
        // weight[s] = s!(n−s−1)!/n!, by the recurrence weight[s+1] = weight[s]·(s+1)/(n−s−1).
        let mut weight = vec![1.0 / n as f64; n];
        for s in 0..n - 1 {
            weight[s + 1] = weight[s] * (s + 1) as f64 / (n - s - 1) as f64;
        }
        let mut phi = vec![0.0; n];
        for (m, &vm) in v.iter().enumerate() {
            for (i, p) in phi.iter_mut().enumerate() {
                if m >> i & 1 == 0 {
                    *p += weight[m.count_ones() as usize] * (v[m | 1 << i] - vm);
                }
            }
        }
        let (empty, full) = (v[0], v[(1 << n) - 1]);
        Ok(ShapleyValues {
            target,
            grid: self.0.grid,
            efficiency_gap: (phi.iter().sum::<f64>() - (full - empty)).abs(),
            values: phi,
            std_errors: vec![0.0; n],
            full_logit: full,
            empty_logit: empty,
            permutations: 0,
            model_calls: v.len(),
        })
    }

    fn summarise(&self, marginals: &[Vec<f64>], target: usize, full: f64, empty: f64) -> ShapleyValues {
        // The mean over orders equals the mean over antithetic pair means; the standard error
        // is over the independent samples (the pairs).
        let n = marginals[0].len();
        let samples: Vec<Vec<f64>> = if self.0.antithetic {
            marginals.chunks(2).map(|p| (0..n).map(|i| (p[0][i] + p[1][i]) / 2.0).collect()).collect()
        } else {
            marginals.to_vec()
        };
        let mut values = mean_and_std_error(&samples, self.0.grid, target, full, empty);
        values.permutations = marginals.len();
        values
    }

    /// The sampled orders: uniform permutations, each followed by its reverse when antithetic.
    fn orders(&self, n: usize) -> Vec<Vec<usize>> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.0.seed);
        let draws = if self.0.antithetic { self.0.permutations / 2 } else { self.0.permutations };
        let mut out = Vec::with_capacity(self.0.permutations);
        for _ in 0..draws {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            if self.0.antithetic {
                out.push(order.iter().rev().copied().collect());
                out.insert(out.len() - 1, order);
            } else {
                out.push(order);
            }
        }
        out
    }

    /// The player owning each pixel of `[height, width]` ([`netlens_fetch::runs::patch_of_pixel`]).
    fn patch_of_pixel(&self, h: usize, w: usize) -> Vec<usize> {
        netlens_fetch::runs::patch_of_pixel(self.0.grid, h, w)
    }

    /// `v(S)` for each coalition (a presence flag per player), in batches.
    fn values(&self, game: &Game, coalitions: &[Vec<bool>]) -> Result<Vec<f64>> {
        let Game { model, image, base, owner, target } = *game;
        let [_, c, h, w] = image.shape;
        let plane = h * w;
        let mut out = Vec::with_capacity(coalitions.len());
        for chunk in coalitions.chunks(self.0.batch_size) {
            let mut data = Vec::with_capacity(chunk.len() * c * plane);
            for present in chunk {
                for ch in 0..c {
                    let src = &image.data[ch * plane..(ch + 1) * plane];
                    let absent = &base[ch * plane..(ch + 1) * plane];
                    data.extend(src.iter().zip(absent).zip(owner).map(|((&v, &b), &p)| if present[p] { v } else { b }));
                }
            }
            let logits = model.logits(&Images { data, shape: [chunk.len(), c, h, w] })?;
            let classes = logits.shape[1];
            if target >= classes {
                return Err(invalid("target", target, &format!("the model has {classes} classes (0..{classes})")));
            }
            out.extend((0..chunk.len()).map(|b| logits.data[b * classes + target] as f64));
        }
        Ok(out)
    }
}

/// The game as the estimators see it: `v(S)` for each coalition (a presence flag per player).
type ValueFn<'a> = dyn FnMut(&[Vec<bool>]) -> Result<Vec<f64>> + 'a;

/// Most players the exact estimator takes: 2²⁰ ≈ 10⁶ model calls.
pub const MAX_EXACT_PLAYERS: usize = 20;

/// The Shapley kernel's size distribution for `n ≥ 2` players, `q(k) ∝ 1/(k(n − k))` for
/// `k = 1..n−1` (index `k − 1`), and `α = ½ − a` with `a = Σ_k q(k) k(k−1)/(n(n−1))`, the
/// probability that two given players are both in a drawn coalition (Covert & Lee 2021, §3).
fn shapley_kernel(n: usize) -> (Vec<f64>, f64) {
    let raw: Vec<f64> = (1..n).map(|k| 1.0 / (k * (n - k)) as f64).collect();
    let total: f64 = raw.iter().sum();
    let q: Vec<f64> = raw.iter().map(|r| r / total).collect();
    let a: f64 = q.iter().enumerate().map(|(i, p)| p * ((i + 1) * i) as f64).sum::<f64>() / (n * (n - 1)) as f64;
    (q, 0.5 - a)
}

/// Per-player means of independent estimates `samples[s][i]` of φ, with their standard errors.
fn mean_and_std_error(samples: &[Vec<f64>], grid: [usize; 2], target: usize, full: f64, empty: f64) -> ShapleyValues {
    let n = samples[0].len();
    let k = samples.len() as f64;
    let values: Vec<f64> = (0..n).map(|i| samples.iter().map(|s| s[i]).sum::<f64>() / k).collect();
    let std_errors = (0..n)
        .map(|i| {
            let var = samples.iter().map(|s| (s[i] - values[i]).powi(2)).sum::<f64>() / (k - 1.0);
            (var / k).sqrt()
        })
        .collect();
    let efficiency_gap = (values.iter().sum::<f64>() - (full - empty)).abs();
    ShapleyValues {
        target,
        grid,
        values,
        std_errors,
        full_logit: full,
        empty_logit: empty,
        efficiency_gap,
        permutations: 0,
        model_calls: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_onnx::HostTensor;

    /// Exact tolerance for sums of f64 marginals of f32 logits (efficiency).
    const EFFICIENCY_TOLERANCE: f64 = 1e-9;

    /// `v(S)` = Σ of pixels (player-additive) + product of the first two players' means
    /// (an interaction), as logit of class 0 of 1.
    struct Toy;
    impl Classifier for Toy {
        fn logits(&self, images: &Images) -> Result<HostTensor> {
            let data = (0..images.shape[0])
                .map(|b| {
                    let x = images.image(b);
                    let s: f32 = x.iter().sum();
                    s + 3.0 * x[0] * x[2]
                })
                .collect();
            Ok(HostTensor { data, shape: vec![images.shape[0], 1] })
        }
    }

    fn toy_image() -> Images {
        Images { data: vec![1.0, 2.0, 3.0, 4.0], shape: [1, 1, 1, 4] }
    }

    #[test]
    fn efficiency_is_exact_and_additive_players_get_their_value() {
        let params = ShapleyParams::default().baseline(Baseline::Zeros).grid(1, 4).permutations(6).batch_size(5);
        let s = params.explain(&Toy, &toy_image(), 0).unwrap();
        assert!(s.efficiency_gap < EFFICIENCY_TOLERANCE, "gap {}", s.efficiency_gap);
        // Players 1 and 3 only add their pixel: φ = 2 and 4 in every order.
        assert!(
            (s.values[1] - 2.0).abs() < EFFICIENCY_TOLERANCE && (s.values[3] - 4.0).abs() < EFFICIENCY_TOLERANCE,
            "{:?}",
            s.values
        );
        assert!(s.std_errors[1] < EFFICIENCY_TOLERANCE, "{:?}", s.std_errors);
    }

    #[test]
    fn every_single_order_is_efficient() {
        for seed in 0..5 {
            let params = ShapleyParams::default()
                .baseline(Baseline::Zeros)
                .grid(1, 4)
                .antithetic(false)
                .permutations(2)
                .seed(seed);
            let s = params.explain(&Toy, &toy_image(), 0).unwrap();
            assert!(s.efficiency_gap < EFFICIENCY_TOLERANCE, "seed {seed}: gap {}", s.efficiency_gap);
            assert!(s.std_errors.iter().all(|e| e.is_finite()), "seed {seed}: {:?}", s.std_errors);
        }
    }

    #[test]
    fn the_interaction_is_shared_equally_with_many_orders() {
        // x0·x2·3 = 9 shared between players 0 and 2: φ0 = 1 + 4.5, φ2 = 3 + 4.5 exactly in
        // expectation; antithetic pairs of a 4-player game cover it well with 400 orders.
        const SAMPLING_TOLERANCE: f64 = 0.6;
        let s = ShapleyParams::default()
            .baseline(Baseline::Zeros)
            .grid(1, 4)
            .permutations(400)
            .explain(&Toy, &toy_image(), 0)
            .unwrap();
        assert!(
            (s.values[0] - 5.5).abs() < SAMPLING_TOLERANCE && (s.values[2] - 7.5).abs() < SAMPLING_TOLERANCE,
            "{:?}",
            s.values
        );
    }

    /// A game on `n` players, one pixel each (a 1 × n image of ones, the zero baseline): the
    /// coalition's indicator vector goes through `f`.
    struct FnGame(fn(&[f32]) -> f32);
    impl Classifier for FnGame {
        fn logits(&self, images: &Images) -> Result<HostTensor> {
            let data = (0..images.shape[0]).map(|b| (self.0)(images.image(b))).collect();
            Ok(HostTensor { data, shape: vec![images.shape[0], 1] })
        }
    }

    const WEIGHTS: [f32; 6] = [3.0, -1.0, 0.5, 2.0, 0.0, -2.5];
    /// `v(S) = Σ_{i∈S} w_i`: `φ_i = w_i`.
    fn linear(x: &[f32]) -> f32 {
        x.iter().zip(WEIGHTS).map(|(a, w)| a * w).sum()
    }
    /// `v(S) = 1` when players 0, 2 and 3 are all present (a product, the unanimity game of
    /// {0, 2, 3}): `φ_i = 1/3` for them, 0 for the others.
    fn product(x: &[f32]) -> f32 {
        x[0] * x[2] * x[3]
    }
    /// `v(S) = max_{i∈S} c_i` (0 for ∅) with `c = 1, 4, 2, 6, 3, 5`.
    fn max(x: &[f32]) -> f32 {
        x.iter().zip([1.0, 4.0, 2.0, 6.0, 3.0, 5.0]).map(|(a, c)| a * c).fold(0.0, f32::max)
    }
    /// The max game's values in closed form: with `c` sorted ascending as `c₍₁₎ ≤ … ≤ c₍ₙ₎` and
    /// `c₍₀₎ = 0`, `φ₍ⱼ₎ = Σ_{k≤j} (c₍ₖ₎ − c₍ₖ₋₁₎)/(n − k + 1)`: the step from `c₍ₖ₋₁₎` to `c₍ₖ₎`
    /// is paid by whichever of the `n − k + 1` players at or above it comes first.
    fn max_game_values() -> Vec<f64> {
        let c = [1.0, 4.0, 2.0, 6.0, 3.0, 5.0];
        let mut sorted = c.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = c.len();
        c.iter()
            .map(|&ci| {
                let j = sorted.iter().position(|&s| s == ci).unwrap() + 1;
                (1..=j).map(|k| (sorted[k - 1] - if k > 1 { sorted[k - 2] } else { 0.0 }) / (n - k + 1) as f64).sum()
            })
            .collect()
    }

    fn games() -> Vec<(&'static str, FnGame, Vec<f64>)> {
        vec![
            ("linear", FnGame(linear), WEIGHTS.iter().map(|&w| w as f64).collect()),
            ("product", FnGame(product), vec![1.0 / 3.0, 0.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]),
            ("max", FnGame(max), max_game_values()),
        ]
    }

    fn ones() -> Images {
        Images { data: vec![1.0; 6], shape: [1, 1, 1, 6] }
    }

    fn params(estimator: ShapleyEstimator, permutations: usize, seed: u64) -> ShapleyParams {
        ShapleyParams::default()
            .baseline(Baseline::Zeros)
            .grid(1, 6)
            .estimator(estimator)
            .permutations(permutations)
            .seed(seed)
    }

    #[test]
    fn the_exact_estimator_gives_the_closed_form_values() {
        for (name, game, truth) in games() {
            let s = params(ShapleyEstimator::Exact, 4, 0).explain(&game, &ones(), 0).unwrap();
            assert_eq!(s.model_calls, 64, "{name}");
            for (got, want) in s.values.iter().zip(&truth) {
                assert!((got - want).abs() < 1e-6, "{name}: {:?} vs {truth:?}", s.values);
            }
            assert!(s.efficiency_gap < 1e-6, "{name}: {}", s.efficiency_gap);
        }
    }

    /// Both sampling estimators, on each closed-form game: efficiency holds exactly for every
    /// budget, with 160 orders' worth of calls every value lies within 4 standard errors of the
    /// truth (with 10, five samples make the standard error itself too noisy to test), and the
    /// error shrinks with the budget (mean squared error over 20 seeds, 10 against 160).
    #[test]
    fn sampling_estimators_are_efficient_and_converge_on_closed_form_games() {
        for estimator in [ShapleyEstimator::Permutation, ShapleyEstimator::Kernel] {
            for (name, game, truth) in games() {
                let mut mse = [0.0; 2];
                for seed in 0..20 {
                    for (b, budget) in [10, 160].into_iter().enumerate() {
                        let s = params(estimator, budget, seed).explain(&game, &ones(), 0).unwrap();
                        assert!(s.efficiency_gap < 1e-6, "{estimator:?} {name}: gap {}", s.efficiency_gap);
                        for ((got, want), se) in s.values.iter().zip(&truth).zip(&s.std_errors) {
                            assert!(
                                budget < 160 || (got - want).abs() <= 4.0 * se + 1e-6,
                                "{estimator:?} {name} seed {seed} budget {budget}: {:?} ± {:?} vs {truth:?}",
                                s.values,
                                s.std_errors
                            );
                            mse[b] += (got - want).powi(2);
                        }
                    }
                }
                println!(
                    "{estimator:?} {name}: MSE {:.2e} (10 orders' calls) → {:.2e} (160)",
                    mse[0] / 120.0,
                    mse[1] / 120.0
                );
                assert!(mse[1] <= mse[0] / 4.0 || mse[1] < 1e-12, "{estimator:?} {name}: {mse:?}");
            }
        }
    }

    #[test]
    fn the_kernel_of_two_players_is_exact() {
        // n = 2: the only coalition pair is {0} with {1}, so every pair gives the exact φ of
        // v = x0 + 2 x1 + 3 x0 x1: 1 + 1.5 and 2 + 1.5, with no sampling error.
        fn pair(x: &[f32]) -> f32 {
            x[0] + 2.0 * x[1] + 3.0 * x[0] * x[1]
        }
        let s = ShapleyParams::default()
            .baseline(Baseline::Zeros)
            .grid(1, 2)
            .estimator(ShapleyEstimator::Kernel)
            .permutations(4)
            .explain(&FnGame(pair), &Images { data: vec![1.0; 2], shape: [1, 1, 1, 2] }, 0)
            .unwrap();
        assert!((s.values[0] - 2.5).abs() < 1e-9 && (s.values[1] - 3.5).abs() < 1e-9, "{:?}", s.values);
        assert!(s.std_errors.iter().all(|&e| e < 1e-9), "{:?}", s.std_errors);
    }

    #[test]
    fn antithetic_orders_come_in_reversed_pairs() {
        let o = ShapleyParams::default().permutations(4).orders(5);
        assert_eq!(o.len(), 4);
        assert_eq!(o[1], o[0].iter().rev().copied().collect::<Vec<_>>());
    }

    #[test]
    fn bad_parameters_are_rejected() {
        let p = ShapleyParams::default();
        assert!(p.clone().grid(0, 4).check(32, 32).unwrap_err().to_string().contains("grid"));
        assert!(p.clone().grid(33, 4).check(32, 32).is_err());
        assert!(p.clone().permutations(3).check(32, 32).unwrap_err().to_string().contains("even"));
        // One antithetic pair is one sample: no standard error (it was NaN, written as null).
        assert!(p.clone().permutations(2).check(32, 32).unwrap_err().to_string().contains("two pairs"));
        assert!(p.clone().antithetic(false).permutations(2).check(32, 32).is_ok());
        // The budget checks are the permutation estimator's: kernel needs a budget, exact none.
        let kernel = p.clone().estimator(ShapleyEstimator::Kernel);
        assert!(kernel.clone().permutations(1).check(32, 32).is_ok());
        assert!(kernel.permutations(0).check(32, 32).unwrap_err().to_string().contains("kernel"));
        assert!(p.clone().estimator(ShapleyEstimator::Exact).permutations(7).check(32, 32).is_ok());
        assert!(p.estimator(ShapleyEstimator::Exact).grid(5, 5).check(32, 32).unwrap_err().to_string().contains("20"));
    }
}
