//! The VAE's loss, the negative evidence lower bound (Kingma & Welling 2014, eq. 10) with a
//! weight β on the KL term (Higgins et al., "β-VAE", ICLR 2017):
//! L(x) = rec(x, x̂) + β · KL(N(μ, σ²) ‖ N(0, I)), per image, averaged over the batch.

use burn::tensor::activation::relu;
use burn::tensor::{Tensor, TensorData};

pub use netlens_fetch::runs::Reconstruction;

/// Per-image loss terms of a batch, each `[batch]`.
pub struct LossTerms {
    /// Reconstruction error summed over the image's pixels.
    pub reconstruction: Tensor<1>,
    /// KL(N(μ, σ²) ‖ N(0, I)) in nats.
    pub kl: Tensor<1>,
}

impl LossTerms {
    /// Batch mean of reconstruction + β · KL: a scalar tensor `[1]` to minimise.
    pub fn objective(&self, beta: f64) -> Tensor<1> {
        (self.reconstruction.clone() + self.kl.clone() * beta).mean()
    }

    /// Sums over the batch of (reconstruction, KL), read back to the host.
    pub fn sums(&self) -> (f64, f64) {
        let sum = |t: &Tensor<1>| t.clone().sum().into_scalar::<f32>() as f64;
        (sum(&self.reconstruction), sum(&self.kl))
    }
}

/// Both terms for images `x` and decoder `logits` (`[batch, c, h, w]`, x in `[0, 1]`) and the
/// posterior's μ and log σ² (`[batch, latent]`).
pub fn loss_terms(
    kind: Reconstruction,
    x: Tensor<4>,
    logits: Tensor<4>,
    mu: Tensor<2>,
    log_var: Tensor<2>,
) -> LossTerms {
    LossTerms { reconstruction: reconstruction(kind, x, logits), kl: kl_divergence(mu, log_var) }
}

/// Reconstruction error per image, `[batch]`.
pub fn reconstruction(kind: Reconstruction, x: Tensor<4>, logits: Tensor<4>) -> Tensor<1> {
    let per_pixel = match kind {
        Reconstruction::Mse => (burn::tensor::activation::sigmoid(logits) - x).powi_scalar(2),
        // BCE with logits l: max(l, 0) − x·l + log(1 + exp(−|l|)).
        Reconstruction::Bce => relu(logits.clone()) - x * logits.clone() + (logits.abs().neg().exp() + 1.0).log(),
    };
    let [batch, c, h, w] = per_pixel.dims();
    per_pixel.reshape([batch, c * h * w]).sum_dim(1).reshape([batch])
}

/// KL(N(μ, diag σ²) ‖ N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j) per image, `[batch]`
/// (Kingma & Welling 2014, appendix B).
pub fn kl_divergence(mu: Tensor<2>, log_var: Tensor<2>) -> Tensor<1> {
    let [batch, _] = mu.dims();
    let inner = log_var.clone() + 1.0 - mu.powi_scalar(2) - log_var.exp();
    (inner.sum_dim(1) * -0.5).reshape([batch])
}

/// Standard-normal noise `[rows, cols]` by the Box–Muller transform from `rng`, so that ε is
/// reproducible across devices and on resume.
pub fn standard_normal(rng: &mut impl rand::Rng, rows: usize, cols: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut v = Vec::with_capacity(rows * cols + 1);
    while v.len() < rows * cols {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        v.push((r * t.cos()) as f32);
        v.push((r * t.sin()) as f32);
    }
    v.truncate(rows * cols);
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use rand::SeedableRng;

    const TOL: f64 = 1e-5;

    fn scalar(t: Tensor<1>) -> f64 {
        t.sum().into_scalar::<f32>() as f64
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_matches_the_closed_form() {
        let d = Device::flex();
        let zero = Tensor::<2>::zeros([1, 3], &d);
        assert!(scalar(kl_divergence(zero.clone(), zero)).abs() < TOL);
        // One dimension with μ = 1, σ² = e: −½(1 + 1 − 1 − e) = (e − 1)/2.
        let kl = scalar(kl_divergence(Tensor::from_floats([[1.0]], &d), Tensor::from_floats([[1.0]], &d)));
        assert!((kl - (std::f64::consts::E - 1.0) / 2.0).abs() < TOL, "{kl}");
    }

    #[test]
    fn reconstruction_sums_over_pixels() {
        let d = Device::flex();
        let x = Tensor::<4>::full([2, 3, 2, 2], 0.25, &d);
        let logits = Tensor::<4>::zeros([2, 3, 2, 2], &d); // sigmoid = 0.5
        let mse = reconstruction(Reconstruction::Mse, x.clone(), logits.clone()).to_data().try_to_vec::<f32>().unwrap();
        for v in mse {
            assert!((v as f64 - 12.0 * 0.0625).abs() < TOL, "{v}");
        }
        let bce = reconstruction(Reconstruction::Bce, x, logits).to_data().try_to_vec::<f32>().unwrap();
        for v in bce {
            assert!((v as f64 - 12.0 * std::f64::consts::LN_2).abs() < 1e-4, "{v}");
        }
    }

    #[test]
    fn box_muller_noise_has_unit_moments_and_is_seeded() {
        let d = Device::flex();
        let draw = |seed| {
            standard_normal(&mut rand::rngs::StdRng::seed_from_u64(seed), 100, 100, &d)
                .to_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        let v = draw(3);
        assert_eq!(v, draw(3));
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        // 10,000 draws: the standard errors are 0.01 (mean) and 0.014 (variance).
        const MOMENT_TOL: f64 = 0.05;
        assert!(mean.abs() < MOMENT_TOL && (var - 1.0).abs() < MOMENT_TOL, "mean {mean}, var {var}");
    }
}
