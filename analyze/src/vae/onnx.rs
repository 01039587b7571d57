//! The exported VAE encoder and decoder, run with tract.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use netlens_fetch::Images;
use tract_onnx::prelude::tract_data::internal::DimLike;
use tract_onnx::prelude::*;

use crate::error::{AnalyzeError, Result};

/// Rows per tract run. tract 0.23 cannot optimise burn-onnx's `Resize` (sizes given for the
/// spatial axes only) with a symbolic batch ("Undetermined symbol in expression: batch"), so
/// both graphs are optimised for this fixed batch and a short last batch is padded with zeros.
const BATCH: usize = 32;

type Plan = Arc<TypedRunnableModel>;

/// One graph, optimised for [`BATCH`] rows.
struct Graph {
    plan: Plan,
    path: PathBuf,
    /// Dimensions of the input after the batch axis.
    input: Vec<usize>,
    /// Dimensions of each output after the batch axis.
    outputs: Vec<Vec<usize>>,
}

impl Graph {
    fn load(path: &Path) -> Result<Graph> {
        if !path.exists() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(AnalyzeError::Io { path: path.into(), source });
        }
        let fail = |e: TractError| tract_error(path, e);
        let typed = tract_onnx::onnx().model_for_path(path).and_then(|m| m.into_typed()).map_err(fail)?;
        let input = fixed_dims(path, &typed.input_fact(0), "input")?;
        let mut model = tract_onnx::onnx().model_for_path(path).map_err(fail)?;
        let shape: Vec<usize> = std::iter::once(BATCH).chain(input.iter().copied()).collect();
        model.set_input_fact(0, f32::fact(&shape).into()).map_err(fail)?;
        let optimized = model.into_optimized().map_err(fail)?;
        let count = optimized.output_outlets().map_err(fail)?.len();
        let outputs =
            (0..count).map(|i| fixed_dims(path, &optimized.output_fact(i), "output")).collect::<Result<_>>()?;
        Ok(Graph { plan: optimized.into_runnable().map_err(fail)?, path: path.into(), input, outputs })
    }

    /// Runs `n` rows of `x` (row-major, each of the input's non-batch size) in batches; returns
    /// each output's `n` rows, row-major.
    fn run(&self, x: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let row: usize = self.input.iter().product();
        let mut outs: Vec<Vec<f32>> = vec![Vec::new(); self.outputs.len()];
        let shape: Vec<usize> = std::iter::once(BATCH).chain(self.input.iter().copied()).collect();
        for start in (0..n).step_by(BATCH) {
            let k = BATCH.min(n - start);
            let mut chunk = x[start * row..(start + k) * row].to_vec();
            chunk.resize(BATCH * row, 0.0);
            let input =
                tract_ndarray::ArrayD::from_shape_vec(shape.as_slice(), chunk).expect("chunk length matches the shape");
            let result = self.plan.run(tvec!(Tensor::from(input).into())).map_err(|e| tract_error(&self.path, e))?;
            for ((out, value), dims) in outs.iter_mut().zip(&result).zip(&self.outputs) {
                let view = value.to_plain_array_view::<f32>().map_err(|e| tract_error(&self.path, e))?;
                out.extend(view.iter().take(k * dims.iter().product::<usize>()).copied());
            }
        }
        Ok(outs)
    }
}

/// The two ONNX graphs of a VAE: encoder `image [batch, 3, H, W] → (mu, log_var)
/// [batch, latent]`, decoder `z [batch, latent] → image [batch, 3, H, W]`, pixels in `[0, 1]`.
pub struct VaeModels {
    encoder: Graph,
    decoder: Graph,
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
        let (encoder, decoder) = (Graph::load(encoder_path)?, Graph::load(decoder_path)?);
        let image = encoder.input.clone();
        let outputs = encoder.outputs.len();
        if image.len() != 3 || image[0] != 3 || outputs != 2 || encoder.outputs.iter().any(|o| o.len() != 1) {
            return Err(AnalyzeError::ShapeMismatch {
                what: encoder_path.display().to_string(),
                expected: "a VAE encoder: input [batch, 3, H, W], outputs μ and log σ² [batch, latent]".into(),
                found: format!("input [batch, {}] and {outputs} output(s)", join(&image)),
            });
        }
        let latent = encoder.outputs[0][0];
        if decoder.input != [latent] {
            return Err(AnalyzeError::LatentMismatch {
                encoder_path: encoder_path.into(),
                encoder: latent,
                decoder_path: decoder_path.into(),
                decoder: decoder.input.iter().product(),
            });
        }
        if decoder.outputs.first() != Some(&image) {
            return Err(AnalyzeError::ShapeMismatch {
                what: decoder_path.display().to_string(),
                expected: format!("decoded images [batch, {}] like the encoder's input", join(&image)),
                found: format!("[batch, {}]", join(decoder.outputs.first().map(|o| o.as_slice()).unwrap_or(&[]))),
            });
        }
        Ok(VaeModels { encoder, decoder, image_shape: [image[0], image[1], image[2]], latent })
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
        let mut outs = self.encoder.run(&images.data, images.len())?.into_iter();
        let (mu, log_var) = (outs.next().unwrap_or_default(), outs.next().unwrap_or_default());
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
        let data = self.decoder.run(z, total)?.into_iter().next().unwrap_or_default();
        let [c, h, w] = self.image_shape;
        Ok(Images { data, shape: [total, c, h, w] })
    }
}

fn tract_error(path: &Path, e: impl std::fmt::Display) -> AnalyzeError {
    AnalyzeError::Tract { path: path.into(), reason: format!("{e:#}") }
}

/// The dimensions after the batch axis of a fact, which must all be known.
fn fixed_dims(path: &Path, fact: &TractResult<&TypedFact>, what: &str) -> Result<Vec<usize>> {
    let fact = fact.as_ref().map_err(|e| tract_error(path, e))?;
    fact.shape
        .iter()
        .skip(1)
        .map(|d| {
            d.to_usize().map_err(|_| tract_error(path, format!("{what} has a non-fixed dimension in {:?}", fact.shape)))
        })
        .collect()
}

fn join(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}
