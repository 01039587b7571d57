//! Integrated Gradients (Sundararajan et al., "Axiomatic Attribution for Deep Networks",
//! arXiv:1703.01365).
//!
//! For input `x`, baseline `x′` and class score `F` (the pre-softmax logit),
//! `IG_i = (x_i − x′_i) · ∫₀¹ ∂F(x′ + α(x − x′))/∂x_i dα`, approximated with `m` points
//! `α_s` and weights `w_s`:
//! - [`Rule::Trapezoid`]: `α_s = s/(m−1)`, `s = 0…m−1`, `w_s = 1/(m−1)` halved at both ends
//!   (captum's `riemann_trapezoid`);
//! - [`Rule::RiemannLeft`] / [`Rule::RiemannRight`] / [`Rule::RiemannMiddle`]: `α_s = s/m`,
//!   `(s+1)/m`, `(s+½)/m`, `w_s = 1/m`.
//!
//! Completeness says `Σ_i IG_i = F(x) − F(x′)`; the gap `|Σ_i IG_i − (F(x) − F(x′))|` measures
//! the quadrature error and is reported with every result.

use netlens_fetch::Images;
use netlens_onnx::{DifferentiableModel, GradientAt};

use super::baseline::baseline_image;
use super::{Baseline, Target, one_image, resolve_targets};
use crate::error::{AnalyzeError, Result};

pub use netlens_fetch::runs::{IntegratedGradients, IntegratedGradientsSettings, Rule};

/// Parameters of Integrated Gradients: a builder over the recorded
/// [`IntegratedGradientsSettings`]. Defaults: 64 steps, the default [`Baseline`] (the image
/// blurred), the trapezoid rule, 32 path points per backward pass, the predicted class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntegratedGradientsParams(IntegratedGradientsSettings);

impl From<IntegratedGradientsSettings> for IntegratedGradientsParams {
    fn from(settings: IntegratedGradientsSettings) -> Self {
        IntegratedGradientsParams(settings)
    }
}

fn invalid(name: &str, value: impl ToString, reason: &str) -> AnalyzeError {
    netlens_fetch::runs::InvalidSetting::new(name, value, reason).into()
}

impl IntegratedGradientsParams {
    /// The settings, as `explanations.json` records them.
    pub fn settings(&self) -> &IntegratedGradientsSettings {
        &self.0
    }

    /// Number of path points `m` (≥ 2 for the trapezoid rule, ≥ 1 otherwise).
    pub fn steps(mut self, steps: usize) -> Self {
        self.0.steps = steps;
        self
    }
    /// The baseline `x′` ([`Baseline`]).
    pub fn baseline(mut self, baseline: Baseline) -> Self {
        self.0.baseline = baseline;
        self
    }
    /// The quadrature rule.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.0.rule = rule;
        self
    }
    /// Path points per forward/backward pass (memory vs. speed), ≥ 1.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.0.batch_size = batch_size;
        self
    }
    /// The class to explain.
    pub fn target(mut self, target: Target) -> Self {
        self.0.target = target;
        self
    }

    /// Validates the parameters.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for too few steps, a zero batch size, or a bad
    /// [`Baseline`].
    pub fn check(&self) -> Result<()> {
        let s = &self.0;
        let min_steps = if s.rule == Rule::Trapezoid { 2 } else { 1 };
        if s.steps < min_steps {
            return Err(invalid(
                "steps",
                s.steps,
                &format!("needs at least {min_steps} for the {} rule", s.rule.describe()),
            ));
        }
        if s.batch_size == 0 {
            return Err(invalid("batch_size", 0, "must be at least 1"));
        }
        Ok(s.baseline.check()?)
    }

    /// Integrated Gradients for each image.
    ///
    /// # Shapes
    /// `images`: `[batch, channels, height, width]` in the model's input scale.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for bad parameters or target; the model's errors.
    pub fn explain(&self, model: &DifferentiableModel, images: &Images) -> Result<Vec<IntegratedGradients>> {
        self.check()?;
        let logits = model.forward(images)?;
        let targets = resolve_targets(&logits, self.0.target)?;
        (0..images.shape[0]).map(|b| self.explain_one(model, &one_image(images, b), targets[b])).collect()
    }

    fn explain_one(&self, model: &DifferentiableModel, image: &Images, target: usize) -> Result<IntegratedGradients> {
        let [_, c, h, w] = image.shape;
        let x = &image.data;
        let base = baseline_image(&self.0.baseline, x, [c, h, w]);
        let points = self.0.rule.points(self.0.steps);
        let mut integral = vec![0f64; x.len()];
        for chunk in points.chunks(self.0.batch_size) {
            let mut data = Vec::with_capacity(chunk.len() * x.len());
            for &(alpha, _) in chunk {
                data.extend(base.iter().zip(x).map(|(&b, &xi)| (b as f64 + alpha * (xi - b) as f64) as f32));
            }
            let batch = Images { data, shape: [chunk.len(), c, h, w] };
            let g = model.gradient(&batch, &vec![target; chunk.len()], GradientAt::Input)?;
            for (s, &(_, weight)) in chunk.iter().enumerate() {
                let grad = &g.gradient.data[s * x.len()..(s + 1) * x.len()];
                integral.iter_mut().zip(grad).for_each(|(acc, &gi)| *acc += weight * gi as f64);
            }
        }
        let attributions: Vec<f32> =
            integral.iter().zip(x.iter().zip(&base)).map(|(&i, (&xi, &b))| ((xi - b) as f64 * i) as f32).collect();
        let both = Images { data: [x.as_slice(), base.as_slice()].concat(), shape: [2, c, h, w] };
        let l = model.forward(&both)?;
        let classes = l.shape[1];
        let (fx, fb) = (l.data[target], l.data[classes + target]);
        let total: f64 = attributions.iter().map(|&a| a as f64).sum();
        let completeness_error = (total - (fx as f64 - fb as f64)).abs() as f32;
        Ok(IntegratedGradients {
            target,
            logit: fx,
            baseline_logit: fb,
            attributions,
            shape: [c, h, w],
            completeness_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEIGHT_TOLERANCE: f64 = 1e-12;

    #[test]
    fn every_rule_integrates_over_the_unit_interval() {
        for rule in [Rule::Trapezoid, Rule::RiemannLeft, Rule::RiemannRight, Rule::RiemannMiddle] {
            let p = rule.points(7);
            let total: f64 = p.iter().map(|&(_, w)| w).sum();
            assert!((total - 1.0).abs() < WEIGHT_TOLERANCE, "{rule:?}: weights sum to {total}");
            assert!(p.iter().all(|&(a, _)| (0.0..=1.0).contains(&a)), "{rule:?}: {p:?}");
        }
        let t = Rule::Trapezoid.points(3);
        assert_eq!(t, vec![(0.0, 0.25), (0.5, 0.5), (1.0, 0.25)]);
    }

    #[test]
    fn too_few_steps_is_an_invalid_param() {
        let err = IntegratedGradientsParams::default().steps(1).check().unwrap_err().to_string();
        assert!(err.contains("steps") && err.contains("at least 2"), "{err}");
        assert!(IntegratedGradientsParams::default().steps(1).rule(Rule::RiemannMiddle).check().is_ok());
    }
}
