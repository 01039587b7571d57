//! The exported VAE encoder and decoder, run with tract ([`TractModel`]).

use std::path::Path;

use netlens_fetch::Images;
use netlens_onnx::{BatchAxis, TractModel};

use crate::error::{AnalyzeError, Result};

/// Rows per tract run. tract 0.23 cannot optimise burn-onnx's `Resize` (sizes given for the
/// spatial axes only) with a symbolic batch ("Undetermined symbol in expression: batch"), so
/// both graphs are planned for this fixed batch ([`BatchAxis::Fixed`]).
const BATCH: usize = 32;

/// One graph, planned for [`BATCH`] rows, with its input and output sizes after the batch axis.
struct Graph {
    model: TractModel,
    /// Dimensions of each output after the batch axis.
    outputs: Vec<Vec<usize>>,
}

impl Graph {
    fn load(path: &Path) -> Result<Graph> {
        if !path.exists() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(AnalyzeError::Io { path: path.into(), source });
        }
        let model = TractModel::load(path, BatchAxis::Fixed(BATCH))?;
        let outputs = model.output_dims()?;
        Ok(Graph { model, outputs })
    }

    fn input(&self) -> &[usize] {
        self.model.input_dims()
    }

    /// Runs `n` rows of `x` (row-major, each of the input's non-batch size); returns each
    /// output's `n` rows, row-major.
    fn run(&self, x: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        Ok(self.model.run(x, n)?.into_iter().map(|t| t.data).collect())
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
        let image = encoder.input().to_vec();
        let outputs = encoder.outputs.len();
        if image.len() != 3 || image[0] != 3 || outputs != 2 || encoder.outputs.iter().any(|o| o.len() != 1) {
            return Err(AnalyzeError::ShapeMismatch {
                what: encoder_path.display().to_string(),
                expected: "a VAE encoder: input [batch, 3, H, W], outputs μ and log σ² [batch, latent]".into(),
                found: format!("input [batch, {}] and {outputs} output(s)", join(&image)),
            });
        }
        let latent = encoder.outputs[0][0];
        if decoder.input() != [latent] {
            return Err(AnalyzeError::LatentMismatch {
                encoder_path: encoder_path.into(),
                encoder: latent,
                decoder_path: decoder_path.into(),
                decoder: decoder.input().iter().product(),
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
    /// the run fails, [`AnalyzeError::NonFinite`] naming the image and latent axis where μ or
    /// log σ² is NaN or ±∞.
    pub fn encode(&self, images: &Images) -> Result<Latents> {
        self.check_images(images, "images to encode")?;
        let mut outs = self.encoder.run(&images.data, images.len())?.into_iter();
        let (mu, log_var) = (outs.next().unwrap_or_default(), outs.next().unwrap_or_default());
        let latent = self.latent.max(1);
        for (name, values) in [("μ", &mu), ("log σ²", &log_var)] {
            crate::finite::ensure_finite(
                || format!("{}: the encoder's {name}", self.encoder.model.path().display()),
                values.iter().map(|&v| f64::from(v)),
                |i| format!("image {}, latent {}", i / latent, i % latent),
            )?;
        }
        Ok(Latents { mu, log_var, latent: self.latent })
    }

    /// Decodes latents `z` (row-major `[N, latent]`) to images `[N, 3, H, W]` in `[0, 1]`.
    ///
    /// # Errors
    /// [`AnalyzeError::ShapeMismatch`] when `z.len()` is not a multiple of the latent size,
    /// [`AnalyzeError::Tract`] when the run fails, [`AnalyzeError::NonFinite`] naming the image
    /// where the decoder gives NaN or ±∞.
    pub fn decode(&self, z: &[f32]) -> Result<Images> {
        if z.is_empty() || !z.len().is_multiple_of(self.latent) {
            return Err(AnalyzeError::ShapeMismatch {
                what: "latents to decode".into(),
                expected: format!("a non-empty multiple of the latent size {}", self.latent),
                found: format!("{} values", z.len()),
            });
        }
        let total = z.len() / self.latent;
        let data = self.decoder.run(z, total)?.into_iter().next().unwrap_or_default();
        let [c, h, w] = self.image_shape;
        let plane = (c * h * w).max(1);
        crate::finite::ensure_finite(
            || format!("{}: the decoded images", self.decoder.model.path().display()),
            data.iter().map(|&v| f64::from(v)),
            |i| format!("image {}, value {}", i / plane, i % plane),
        )?;
        Ok(Images { data, shape: [total, c, h, w] })
    }
}

fn join(dims: &[usize]) -> String {
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
}
