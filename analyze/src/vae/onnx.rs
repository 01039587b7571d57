//! The exported VAE encoder and decoder, run with tract.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use netlens_fetch::Images;
use tract_onnx::prelude::tract_data::internal::DimLike;
use tract_onnx::prelude::*;

use crate::error::{AnalyzeError, Result};

/// Images per tract run (does not change results).
const BATCH: usize = 50;

type Plan = Arc<TypedRunnableModel>;

/// The two ONNX graphs of a VAE: encoder `image [batch, 3, H, W] → (mu, log_var)
/// [batch, latent]`, decoder `z [batch, latent] → image [batch, 3, H, W]`, pixels in `[0, 1]`.
pub struct VaeModels {
    encoder: Plan,
    decoder: Plan,
    encoder_path: PathBuf,
    decoder_path: PathBuf,
    /// `[channels, height, width]` of the encoder's input.
    image_shape: [usize; 3],
    latent: usize,
}

/// μ and log σ² of q(z|x) for `n` images, each row-major `[n, latent]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Latents {
    /// Posterior means.
    pub mu: Vec<f32>,
    /// Posterior log-variances.
    pub log_var: Vec<f32>,
    /// Latent dimension.
    pub latent: usize,
}

impl Latents {
    /// μ of image `i`, `[latent]`.
    pub fn mu(&self, i: usize) -> &[f32] {
        &self.mu[i * self.latent..(i + 1) * self.latent]
    }
}

impl VaeModels {
    /// Loads and optimises both graphs and checks that they fit together.
    ///
    /// # Errors
    /// [`AnalyzeError::Tract`] when a file cannot be loaded as a model with known non-batch
    /// dimensions, [`AnalyzeError::ShapeMismatch`] when the encoder lacks two outputs or the
    /// decoder does not output an image of the encoder's input shape, and
    /// [`AnalyzeError::LatentMismatch`] when the decoder takes another latent size than the
    /// encoder gives.
    pub fn load(encoder_path: &Path, decoder_path: &Path) -> Result<VaeModels> {
        let encoder = optimized(encoder_path)?;
        let decoder = optimized(decoder_path)?;
        let image = fixed_dims(encoder_path, &encoder.input_fact(0), "input")?;
        let enc_out = fixed_dims(encoder_path, &encoder.output_fact(0), "output μ")?;
        let dec_in = fixed_dims(decoder_path, &decoder.input_fact(0), "input z")?;
        let dec_out = fixed_dims(decoder_path, &decoder.output_fact(0), "output")?;
        let what = |p: &Path| format!("{}", p.display());
        if image.len() != 3 || image[0] != 3 || encoder.output_outlets().map(|o| o.len()).unwrap_or(0) != 2 || enc_out.len() != 1 {
            return Err(AnalyzeError::ShapeMismatch {
                what: what(encoder_path),
                expected: "a VAE encoder: input [batch, 3, H, W], outputs μ and log σ² [batch, latent]".into(),
                found: format!("input [batch, {}] and {} output(s)", join(&image), encoder.output_outlets().map(|o| o.len()).unwrap_or(0)),
            });
        }
        if dec_in.len() != 1 || dec_in[0] != enc_out[0] {
            return Err(AnalyzeError::LatentMismatch {
                encoder_path: encoder_path.into(),
                encoder: enc_out[0],
                decoder_path: decoder_path.into(),
                decoder: dec_in.iter().product(),
            });
        }
        if dec_out != image {
            return Err(AnalyzeError::ShapeMismatch {
                what: what(decoder_path),
                expected: format!("decoded images [batch, {}] like the encoder's input", join(&image)),
                found: format!("[batch, {}]", join(&dec_out)),
            });
        }
        let plan = |m: TypedModel, p: &Path| m.into_runnable().map_err(|e| tract_error(p, e));
        Ok(VaeModels {
            encoder: plan(encoder, encoder_path)?,
            decoder: plan(decoder, decoder_path)?,
            encoder_path: encoder_path.into(),
            decoder_path: decoder_path.into(),
            image_shape: [image[0], image[1], image[2]],
            latent: enc_out[0],
        })
    }

    /// Dimension of z.
    pub fn latent(&self) -> usize {
        self.latent
    }

    /// `[channels, height, width]` of the images the encoder takes and the decoder gives.
    pub fn image_shape(&self) -> [usize; 3] {
        self.image_shape
    }

    /// Checks that `images` have the encoder's input shape.
    ///
    /// # Errors
    /// [`AnalyzeError::ShapeMismatch`] naming `what` (e.g. the data file).
    pub fn check_images(&self, images: &Images, what: &str) -> Result<()> {
        let [_, c, h, w] = images.shape;
        if [c, h, w] != self.image_shape {
            let [ec, eh, ew] = self.image_shape;
            return Err(AnalyzeError::ShapeMismatch {
                what: what.into(),
                expected: format!("images of {ec}×{eh}×{ew} (channels × height × width) as the encoder takes"),
                found: format!("{c}×{h}×{w}"),
            });
        }
        Ok(())
    }

    /// μ and log σ² of `images` (`[N, 3, H, W]`, pixels in `[0, 1]`).
    ///
    /// # Errors
    /// [`AnalyzeError::ShapeMismatch`] for images of another shape, [`AnalyzeError::Tract`] when
    /// the run fails.
    pub fn encode(&self, images: &Images) -> Result<Latents> {
        self.check_images(images, "images to encode")?;
        let (mut mu, mut log_var) = (Vec::new(), Vec::new());
        let image_len = images.image_len();
        for start in (0..images.len()).step_by(BATCH) {
            let n = BATCH.min(images.len() - start);
            let x = &images.data[start * image_len..(start + n) * image_len];
            let [c, h, w] = self.image_shape;
            let out = run(&self.encoder, &self.encoder_path, x, &[n, c, h, w])?;
            mu.extend(view(&out[0], &self.encoder_path)?);
            log_var.extend(view(&out[1], &self.encoder_path)?);
        }
        Ok(Latents { mu, log_var, latent: self.latent })
    }

    /// Decodes latents `z` (row-major `[N, latent]`) to images `[N, 3, H, W]` in `[0, 1]`.
    ///
    /// # Errors
    /// [`AnalyzeError::ShapeMismatch`] when `z.len()` is not a multiple of the latent size,
    /// [`AnalyzeError::Tract`] when the run fails.
    pub fn decode(&self, z: &[f32]) -> Result<Images> {
        if z.is_empty() || z.len() % self.latent != 0 {
            return Err(AnalyzeError::ShapeMismatch {
                what: "latents to decode".into(),
                expected: format!("a non-empty multiple of the latent size {}", self.latent),
                found: format!("{} values", z.len()),
            });
        }
        let total = z.len() / self.latent;
        let mut data = Vec::new();
        for start in (0..total).step_by(BATCH) {
            let n = BATCH.min(total - start);
            let out = run(&self.decoder, &self.decoder_path, &z[start * self.latent..(start + n) * self.latent], &[n, self.latent])?;
            data.extend(view(&out[0], &self.decoder_path)?);
        }
        let [c, h, w] = self.image_shape;
        Ok(Images { data, shape: [total, c, h, w] })
    }
}

fn tract_error(path: &Path, e: impl std::fmt::Display) -> AnalyzeError {
    AnalyzeError::Tract { path: path.into(), reason: format!("{e:#}") }
}

fn optimized(path: &Path) -> Result<TypedModel> {
    if !path.exists() {
        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        return Err(AnalyzeError::Io { path: path.into(), source });
    }
    tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.into_optimized())
        .map_err(|e| tract_error(path, e))
}

/// The dimensions after the batch axis of a fact, which must all be known.
fn fixed_dims(path: &Path, fact: &TractResult<&TypedFact>, what: &str) -> Result<Vec<usize>> {
    let fact = fact.as_ref().map_err(|e| tract_error(path, e))?;
    fact.shape
        .iter()
        .skip(1)
        .map(|d| d.to_usize().map_err(|_| tract_error(path, format!("{what} has a non-fixed dimension in {:?}", fact.shape))))
        .collect()
}

fn join(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}

fn run(plan: &Plan, path: &Path, x: &[f32], shape: &[usize]) -> Result<TVec<TValue>> {
    let input = tract_ndarray::ArrayD::from_shape_vec(shape, x.to_vec()).expect("slice length matches the shape");
    plan.run(tvec!(Tensor::from(input).into())).map_err(|e| tract_error(path, e))
}

fn view(value: &TValue, path: &Path) -> Result<Vec<f32>> {
    let v = value.to_plain_array_view::<f32>().map_err(|e| tract_error(path, e))?;
    Ok(v.iter().copied().collect())
}
