//! Shapley values of image patches by permutation sampling.
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

use netlens_fetch::Images;
use rand::SeedableRng;
use rand::seq::SliceRandom;

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
                &format!("needs 1..={height} rows and 1..={width} columns"),
            ));
        }
        // The standard error needs two samples: two permutations, or two antithetic pairs.
        if self.0.permutations < 2 || (self.0.antithetic && (self.0.permutations % 2 == 1 || self.0.permutations < 4)) {
            return Err(invalid(
                "permutations",
                self.0.permutations,
                "needs at least 2, and with antithetic pairs an even count of at least 4 (two pairs, for the standard error)",
            ));
        }
        if self.0.batch_size == 0 {
            return Err(invalid("batch_size", 0, "must be at least 1"));
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
        let ends = self.values(&game, &[vec![false; n], vec![true; n]])?;
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
            let v = self.values(&game, &coalitions)?;
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
        Ok(self.summarise(&marginals, target, full, empty))
    }

    fn summarise(&self, marginals: &[Vec<f64>], target: usize, full: f64, empty: f64) -> ShapleyValues {
        let n = marginals[0].len();
        let samples: Vec<Vec<f64>> = if self.0.antithetic {
            marginals.chunks(2).map(|p| (0..n).map(|i| (p[0][i] + p[1][i]) / 2.0).collect()).collect()
        } else {
            marginals.to_vec()
        };
        let k = samples.len() as f64;
        let values: Vec<f64> =
            (0..n).map(|i| marginals.iter().map(|m| m[i]).sum::<f64>() / marginals.len() as f64).collect();
        let std_errors = (0..n)
            .map(|i| {
                let mean = samples.iter().map(|s| s[i]).sum::<f64>() / k;
                let var = samples.iter().map(|s| (s[i] - mean).powi(2)).sum::<f64>() / (k - 1.0);
                (var / k).sqrt()
            })
            .collect();
        let efficiency_gap = (values.iter().sum::<f64>() - (full - empty)).abs();
        ShapleyValues {
            target,
            grid: self.0.grid,
            values,
            std_errors,
            full_logit: full,
            empty_logit: empty,
            efficiency_gap,
            permutations: marginals.len(),
        }
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
    }
}
