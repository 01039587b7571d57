//! VAE figures from the exported ONNX encoder and decoder (Kingma & Welling 2014), run with
//! tract: held-out faces above their reconstructions (decoded from μ), samples decoded from
//! z ~ N(0, I), interpolation strips between two images or groups, attribute-vector edits of
//! individual faces and pairs of real faces ([`write_face_figures`]), and loss curves.
//!
//! Interpolation (the course's §2.2): with z₁ the mean μ of the images of end A and z₂ that of
//! end B, the strip shows the input faces of B, the decoded z₂, then the decoded
//! z = α z₁ + (1 − α) z₂ for each α in ascending order, the decoded z₁ and the input faces of A.

mod curves;
mod edits;
mod figures;
mod onnx;
mod spec;

use std::path::{Path, PathBuf};

use netlens_fetch::Images;
use netlens_fetch::runs::{FaceInterpolations, ReconstructionBaselines, RunFolder, write_json};
use rand::{Rng, SeedableRng};

pub use curves::write_vae_curves;
pub use edits::{
    ATTRIBUTES, AttributeVector, EDITED_FACES, FACE_PAIRS, SingleEdit, write_face_figures, write_single_edit,
};
pub use figures::{FaceRow, StripColumn, face_grid, face_rows, reconstruction_grid, strip};
pub use onnx::{Latents, VaeModels};
pub use spec::{Groups, LatentSpec};

use crate::error::{AnalyzeError, Result};
use crate::explain::figure::write_png;

/// The course's interpolation weights α.
pub const DEFAULT_ALPHAS: [f64; 4] = [0.2, 0.4, 0.6, 0.8];

/// Held-out faces shown in `reconstructions.png`.
pub const RECONSTRUCTIONS_SHOWN: usize = 16;
/// Samples shown in `samples.png`.
pub const SAMPLES_SHOWN: usize = 32;

/// Mean squared error per pixel value between two image batches of the same shape.
fn mse(a: &Images, b: &Images) -> f64 {
    a.data.iter().zip(&b.data).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.data.len().max(1) as f64
}

/// Writes `path`: `inputs` (`[N, 3, H, W]` in `[0, 1]`) in rows of `cols` above their
/// reconstructions `recon` (same shape); returns the reconstructions' mean squared error per
/// pixel value.
///
/// # Errors
/// I/O errors naming `path`.
pub fn write_reconstructions(inputs: &Images, recon: &Images, cols: usize, path: &Path) -> Result<f64> {
    let mse = mse(inputs, recon);
    let title = format!(
        "{} held-out faces (input) and their reconstructions from μ (output); MSE per pixel of these {}: {mse:.4}",
        inputs.len(),
        inputs.len()
    );
    write_png(path, &reconstruction_grid(&title, inputs, recon, cols)?)?;
    Ok(mse)
}

/// What [`write_run_figures`] measured on the exported ONNX graphs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnnxCheck {
    /// Mean squared error per pixel value of the ONNX reconstructions (from μ) of all held-out
    /// faces.
    pub heldout_mse: f64,
    /// Largest |ONNX − burn| between those reconstructions and burn's
    /// (`heldout_reconstructions.npy`).
    pub max_abs_diff: f32,
}

/// The figures of a trained VAE run, from its ONNX files: `reconstructions.png` (the first
/// [`RECONSTRUCTIONS_SHOWN`] held-out faces of `split.json` above their reconstructions),
/// `samples.png` ([`SAMPLES_SHOWN`] faces from z ~ N(0, I), the run's seed), `loss.svg` and
/// `loss_terms.svg`. `images` are the run's training data (`[N, 3, H, W]` in `[0, 1]`).
///
/// # Errors
/// Files of the run that are missing or of another form (each named), held-out indices past
/// the end of `images`, and the errors of [`VaeModels`].
pub fn write_run_figures(run: &RunFolder, images: &Images) -> Result<OnnxCheck> {
    let models = VaeModels::load(&run.encoder(), &run.decoder())?;
    let config = run.vae_config()?;
    let split = run.holdout_split()?;
    if let Some(&bad) = split.heldout.iter().find(|&&i| i >= images.len()) {
        return Err(AnalyzeError::IndexOutOfRange {
            index: bad,
            count: images.len(),
            what: format!("the faces {} holds out", run.split().display()),
        });
    }
    let heldout = images.select(&split.heldout);
    let recon = models.decode(&models.encode(&heldout)?.mu)?;
    let shown: Vec<usize> = (0..heldout.len().min(RECONSTRUCTIONS_SHOWN)).collect();
    write_reconstructions(&heldout.select(&shown), &recon.select(&shown), 8, &run.file("reconstructions.png"))?;
    let burn = netlens_fetch::npy::read_f32(&run.heldout_reconstructions(), "(N, 3, H, W)")?;
    if burn.data.len() != recon.data.len() {
        return Err(AnalyzeError::ShapeMismatch {
            what: run.heldout_reconstructions().display().to_string(),
            expected: format!(
                "{} values, the reconstructions of the {} held-out faces",
                recon.data.len(),
                heldout.len()
            ),
            found: format!("{} values", burn.data.len()),
        });
    }
    let max_abs_diff = recon.data.iter().zip(&burn.data).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    write_samples(&models, SAMPLES_SHOWN, config.seed, &run.file("samples.png"))?;
    // PCA can have at most one component fewer than the training faces (a small run).
    let train = images.select(&split.train);
    let components = models.latent().min(train.len().saturating_sub(1));
    if components > 0 && !heldout.is_empty() {
        let baselines = reconstruction_baselines(&train, &heldout, components, mse(&heldout, &recon))?;
        write_json(&run.reconstruction_baselines(), &baselines)?;
    }
    write_vae_curves(&run.vae_history()?, run.root())?;
    Ok(OnnxCheck { heldout_mse: mse(&heldout, &recon), max_abs_diff })
}

/// The figures of individual faces `netlens run` draws ([`write_face_figures`]) into
/// `run/interp/`, marking the faces `split.json` holds out; records them in
/// `interp/faces.json`.
///
/// # Errors
/// As [`write_face_figures`], and the errors of [`VaeModels::load`].
pub fn write_run_faces(
    run: &RunFolder,
    images: &Images,
    what: &str,
    groups: Option<&Groups>,
    alphas: &[f64],
) -> Result<FaceInterpolations> {
    let models = VaeModels::load(&run.encoder(), &run.decoder())?;
    let heldout = run.holdout_split().ok().map(|s| s.heldout);
    write_face_figures(&models, images, what, groups, heldout.as_deref(), alphas, &run.interp_dir())
}

/// The held-out faces' reconstruction error of two simple models, fit on `train` (both
/// `[N, C, H, W]` in [0, 1]): the mean training face, and PCA with `components` components
/// (Pearson 1901; as many as the VAE's latent dimensions), beside the VAE's own `vae_mse`.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] when the training faces are fewer than `components` or than 2;
/// [`AnalyzeError::Numeric`] when the eigendecomposition fails.
pub fn reconstruction_baselines(
    train: &Images,
    heldout: &Images,
    components: usize,
    vae_mse: f64,
) -> Result<ReconstructionBaselines> {
    let d = train.shape[1] * train.shape[2] * train.shape[3];
    let to_f64 = |x: &Images| {
        ndarray::Array2::from_shape_vec((x.len(), d), x.data.iter().map(|&v| f64::from(v)).collect())
            .expect("N·C·H·W values")
    };
    let (xt, xh) = (to_f64(train), to_f64(heldout));
    let pca = crate::features::pca::Pca::fit(xt.view(), components)?;
    let centred = &xh - &pca.mean;
    let recon = centred.dot(&pca.components.t()).dot(&pca.components) + &pca.mean;
    let values = (heldout.len() * d).max(1) as f64;
    let pca_mse = (&recon - &xh).iter().map(|v| v * v).sum::<f64>() / values;
    let mean_face_mse = centred.iter().map(|v| v * v).sum::<f64>() / values;
    Ok(ReconstructionBaselines { mean_face_mse, pca_mse, pca_components: components, vae_mse })
}

/// Writes `path`: `n` faces decoded from z ~ N(0, I) drawn with `seed`, in rows of 8.
///
/// # Errors
/// The errors of [`VaeModels::decode`], and I/O errors naming `path`.
pub fn write_samples(models: &VaeModels, n: usize, seed: u64, path: &Path) -> Result<()> {
    let z = standard_normal(n * models.latent(), seed);
    let faces = models.decode(&z)?;
    write_png(path, &face_grid(&format!("{n} samples decoded from z drawn from N(0, I), seed {seed}"), &faces, 8)?)
}

/// `len` standard-normal values (Box–Muller) from a generator seeded with `seed`.
fn standard_normal(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len)
        .map(|_| {
            let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}

/// What to interpolate between, and at which weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Interpolation {
    /// End A, whose mean latent is z₁ (α = 1).
    pub a: LatentSpec,
    /// End B, whose mean latent is z₂ (α = 0).
    pub b: LatentSpec,
    /// Weights α of z₁, each in (0, 1); drawn in ascending order.
    pub alphas: Vec<f64>,
}

/// The files one interpolation wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterpolationOutput {
    /// The strip (PNG).
    pub png: PathBuf,
    /// float32 `(2 + alphas, 3, H, W)`: the decoded z₂, the decoded z for each α ascending, the
    /// decoded z₁.
    pub npy: PathBuf,
}

impl Interpolation {
    /// Checks the weights.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for no weights or one outside (0, 1).
    pub fn check(&self) -> Result<()> {
        check_alphas(&self.alphas)
    }

    /// Encodes both ends of `images` (`[N, 3, H, W]` in `[0, 1]`, read from `what`), decodes
    /// the strip and writes `interpolation_<a>_<b>.png` and `.npy` into `out_dir`.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for bad weights, the errors of [`LatentSpec::resolve`]
    /// (unknown group, index out of range), [`AnalyzeError::ShapeMismatch`] for images the
    /// encoder does not take, tract errors, and I/O errors naming the file.
    pub fn run(
        &self,
        models: &VaeModels,
        images: &Images,
        what: &str,
        groups: Option<&Groups>,
        out_dir: &Path,
    ) -> Result<InterpolationOutput> {
        self.check()?;
        models.check_images(images, what)?;
        let a = self.a.resolve(groups, images.len(), what)?;
        let b = self.b.resolve(groups, images.len(), what)?;
        let (z1, faces_a) = end_latent(models, &self.a, images.select(&a))?;
        let (z2, faces_b) = end_latent(models, &self.b, images.select(&b))?;
        let mut alphas = self.alphas.clone();
        alphas.sort_by(f64::total_cmp);
        let weights: Vec<f64> =
            std::iter::once(0.0).chain(alphas.iter().copied()).chain(std::iter::once(1.0)).collect();
        let z: Vec<f32> = weights.iter().flat_map(|&w| mix(&z1, &z2, w)).collect();
        let decoded = models.decode(&z)?;
        let stem = format!("interpolation_{}_{}", file_part(&self.a), file_part(&self.b));
        std::fs::create_dir_all(out_dir).map_err(|source| AnalyzeError::Io { path: out_dir.into(), source })?;
        let out =
            InterpolationOutput { png: out_dir.join(format!("{stem}.png")), npy: out_dir.join(format!("{stem}.npy")) };
        netlens_fetch::npy::write_f32(&out.npy, &decoded.shape, &decoded.data)?;
        let columns = self.columns(&faces_a, &faces_b, &decoded, &alphas);
        let count = |spec: &LatentSpec, n: usize| match spec {
            LatentSpec::Medoid(_) => format!("1 of {n} faces"),
            _ => format!("{n} faces"),
        };
        let title = format!(
            "A = {} ({}), B = {} ({}): z = α z₁ + (1 − α) z₂",
            self.a,
            count(&self.a, a.len()),
            self.b,
            count(&self.b, b.len())
        );
        write_png(&out.png, &strip(&title, &columns)?)?;
        Ok(out)
    }

    fn columns(&self, faces_a: &Images, faces_b: &Images, decoded: &Images, alphas: &[f64]) -> Vec<StripColumn> {
        let one = |i: usize| decoded.select(&[i]);
        let mut columns = vec![StripColumn { label: "input B".into(), faces: faces_b.clone() }];
        columns.push(StripColumn { label: "α = 0 (B)".into(), faces: one(0) });
        for (k, alpha) in alphas.iter().enumerate() {
            columns.push(StripColumn { label: format!("α = {alpha:.2}"), faces: one(k + 1) });
        }
        columns.push(StripColumn { label: "α = 1 (A)".into(), faces: one(alphas.len() + 1) });
        columns.push(StripColumn { label: "input A".into(), faces: faces_a.clone() });
        columns
    }
}

/// Checks interpolation weights: at least one, each strictly between 0 and 1.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] naming `alphas` and the first bad value.
fn check_alphas(alphas: &[f64]) -> Result<()> {
    let bad = |value: String, reason: &str| {
        AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "alphas".into(),
            value,
            reason: reason.into(),
        })
    };
    if alphas.is_empty() {
        return Err(bad(String::new(), "needs at least one weight"));
    }
    match alphas.iter().find(|a| !(a.is_finite() && **a > 0.0 && **a < 1.0)) {
        Some(a) => Err(bad(a.to_string(), "each α must lie strictly between 0 and 1")),
        None => Ok(()),
    }
}

/// The latent of one end, `[latent]`, and the faces it stands for: the mean μ over `faces`, or
/// for a [`LatentSpec::Medoid`] the μ of the face nearest that mean (and that face alone).
fn end_latent(models: &VaeModels, spec: &LatentSpec, faces: Images) -> Result<(Vec<f32>, Images)> {
    let latents = models.encode(&faces)?;
    let n = faces.len() as f32;
    let mean: Vec<f32> =
        (0..latents.latent).map(|j| (0..faces.len()).map(|i| latents.mu(i)[j]).sum::<f32>() / n).collect();
    if !matches!(spec, LatentSpec::Medoid(_)) {
        return Ok((mean, faces));
    }
    let distance = |i: usize| latents.mu(i).iter().zip(&mean).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>();
    let nearest = (0..faces.len()).min_by(|&i, &j| distance(i).total_cmp(&distance(j))).unwrap_or(0);
    Ok((latents.mu(nearest).to_vec(), faces.select(&[nearest])))
}

/// α z₁ + (1 − α) z₂.
fn mix(z1: &[f32], z2: &[f32], alpha: f64) -> Vec<f32> {
    let a = alpha as f32;
    z1.iter().zip(z2).map(|(x, y)| a * x + (1.0 - a) * y).collect()
}

/// A spec as part of a file name: `female`, `12`, `3-8-21`.
fn file_part(spec: &LatentSpec) -> String {
    spec.to_string().chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_are_the_mean_face_and_a_pca_of_the_latent_size() {
        // Training faces on a line through (0, 0): (a, 2a) for a = 0, 1, 2; mean (1, 2).
        let train = Images { data: vec![0.0, 0.0, 1.0, 2.0, 2.0, 4.0], shape: [3, 1, 1, 2] };
        let heldout = Images { data: vec![3.0, 6.0], shape: [1, 1, 1, 2] };
        let b = reconstruction_baselines(&train, &heldout, 1, 0.5).unwrap();
        // Mean face: ((3 − 1)² + (6 − 2)²) / 2 values = 10.
        assert!((b.mean_face_mse - 10.0).abs() < 1e-9, "{b:?}");
        // One component spans the line: the held-out face lies on it and is reconstructed exactly.
        assert!(b.pca_mse < 1e-9, "{b:?}");
        assert_eq!((b.pca_components, b.vae_mse), (1, 0.5));
        // Off the line by (−2, 1)·t (orthogonal to it): PCA keeps the line part only.
        let off = Images { data: vec![3.0 - 2.0, 6.0 + 1.0], shape: [1, 1, 1, 2] };
        let b = reconstruction_baselines(&train, &off, 1, 0.5).unwrap();
        assert!((b.pca_mse - 2.5).abs() < 1e-9, "{b:?}");
        assert!(reconstruction_baselines(&train, &heldout, 3, 0.5).is_err(), "more components than faces");
    }

    #[test]
    fn mixing_weights_the_first_end_by_alpha() {
        const TOL: f32 = 1e-6;
        let z = mix(&[1.0, 0.0], &[0.0, 2.0], 0.25);
        assert!((z[0] - 0.25).abs() < TOL && (z[1] - 1.5).abs() < TOL, "{z:?}");
    }

    #[test]
    fn weights_outside_the_open_interval_are_rejected() {
        let spec = |alphas: Vec<f64>| Interpolation { a: LatentSpec::Index(0), b: LatentSpec::Index(1), alphas };
        assert!(spec(vec![0.2, 0.8]).check().is_ok());
        for bad in [vec![], vec![0.0], vec![1.0], vec![f64::NAN], vec![0.5, 1.5]] {
            assert!(spec(bad.clone()).check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_names_are_plain() {
        assert_eq!(file_part(&LatentSpec::Indices(vec![3, 8])), "3-8");
        assert_eq!(file_part(&LatentSpec::Group("female".into())), "female");
        assert_eq!(file_part(&LatentSpec::Medoid("female".into())), "female-medoid");
    }
}
