//! The convolutional VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
//! arXiv:1312.6114): an encoder to the mean μ and log-variance log σ² of a diagonal Gaussian
//! posterior q(z|x), the reparameterization z = μ + σ·ε with ε ~ N(0, I), and a decoder from z
//! to a sigmoid image built by resize-convolution (upsample, then convolve: Odena, Dumoulin &
//! Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016), which avoids transposed
//! convolutions' checkerboard artifacts and, unlike them, exports with burn-onnx 0.22.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use netlens_kernels::conv::{conv2d, conv2d_relu};
use netlens_kernels::resize::upsample_nearest;
use netlens_kernels::subpixel::upsample2_conv3x3;
use std::ops::Deref;

use crate::error::Result;
use crate::models::{LayerCard, ModelCard, layer};

/// Colour channels of the images the VAE takes (RGB).
pub const IMAGE_CHANNELS: usize = 3;
/// Side of the smallest feature map: the encoder halves the image down to it and the decoder
/// starts from it.
const BOTTOM_SIZE: usize = 4; // as the schema's `VaeConfig::bottom_size`
/// Channels of the first encoder stage; each further stage doubles them up to [`MAX_CHANNELS`].
const FIRST_CHANNELS: usize = 32;
/// Cap on the channels of any stage (keeps larger inputs affordable).
const MAX_CHANNELS: usize = 256;

pub use netlens_fetch::runs::{Upsample, VaeConfig};

/// A [`VaeConfig`] read as the sizes of the network it describes.
struct Shape<'a>(&'a VaeConfig);

impl Deref for Shape<'_> {
    type Target = VaeConfig;

    fn deref(&self) -> &VaeConfig {
        self.0
    }
}

impl Shape<'_> {
    /// Output channels of encoder stage `i` (0-based): 32, 64, 128, … capped at 256.
    fn channels(&self, i: usize) -> usize {
        (FIRST_CHANNELS << i).min(MAX_CHANNELS)
    }

    /// Channels of the decoder's feature maps, from the 4×4 bottom to the last stage:
    /// the encoder's in reverse, then half of the first.
    fn decoder_channels(&self) -> Vec<usize> {
        let mut d: Vec<usize> = (0..self.stages()).rev().map(|i| self.channels(i)).collect();
        d.push(FIRST_CHANNELS / 2);
        d
    }

    /// Features at the bottom, `channels · 4 · 4`.
    fn bottom_features(&self) -> usize {
        self.channels(self.stages() - 1) * BOTTOM_SIZE * BOTTOM_SIZE
    }

    fn init_encoder(&self, device: &Device) -> VaeEncoder {
        let convs = (0..self.stages())
            .map(|i| {
                let c_in = if i == 0 { IMAGE_CHANNELS } else { self.channels(i - 1) };
                conv3x3([c_in, self.channels(i)], 2, device)
            })
            .collect();
        let features = self.bottom_features();
        VaeEncoder {
            convs,
            mu: LinearConfig::new(features, self.latent).init(device),
            log_var: LinearConfig::new(features, self.latent).init(device),
        }
    }

    fn init_decoder(&self, device: &Device) -> VaeDecoder {
        let d = self.decoder_channels();
        let row = self.bottom_features() / BOTTOM_SIZE;
        VaeDecoder {
            fc: (0..BOTTOM_SIZE).map(|_| LinearConfig::new(self.latent, row).init(device)).collect(),
            convs: d.windows(2).map(|w| conv3x3([w[0], w[1]], 1, device)).collect(),
            to_image: conv3x3([*d.last().expect("at least one stage"), IMAGE_CHANNELS], 1, device),
            bottom_channels: d[0],
            upsample: self.upsample,
        }
    }

    fn layers(&self) -> Vec<LayerCard> {
        let (s, n) = (self.image_size, self.stages());
        let mut layers = vec![layer("input", "RGB image in [0, 1]", &[IMAGE_CHANNELS, s, s])];
        for i in 0..n {
            let side = s >> (i + 1);
            layers.push(layer(
                &format!("encoder.convs.{i}"),
                "Conv 3×3, stride 2, pad 1",
                &[self.channels(i), side, side],
            ));
            layers.push(layer(&format!("encoder.relu{}", i + 1), "ReLU", &[self.channels(i), side, side]));
        }
        layers.push(layer("encoder.flatten", "Flatten", &[self.bottom_features()]));
        layers.push(layer(
            "encoder.mu",
            &format!("Fully connected {}→{} (μ)", self.bottom_features(), self.latent),
            &[self.latent],
        ));
        let log_var = layer(
            "encoder.log_var",
            &format!("Fully connected {}→{} (log σ²)", self.bottom_features(), self.latent),
            &[self.latent],
        );
        layers.push(LayerCard { beside_previous: true, ..log_var });
        layers.push(layer("reparameterize", "z = μ + exp(½ log σ²)·ε, ε ~ N(0, I) (training only)", &[self.latent]));
        layers.extend(self.decoder_layers());
        layers
    }

    fn decoder_layers(&self) -> Vec<LayerCard> {
        let d = self.decoder_channels();
        let mode = match self.upsample {
            Upsample::Nearest => "Upsample ×2, nearest",
            Upsample::Bilinear => "Upsample ×2, bilinear (half-pixel)",
        };
        let mut layers = vec![
            layer(
                "decoder.fc",
                &format!("Fully connected {}→{}", self.latent, self.bottom_features()),
                &[self.bottom_features()],
            ),
            layer("decoder.relu0", "ReLU", &[self.bottom_features()]),
            layer("decoder.reshape", "Reshape", &[d[0], BOTTOM_SIZE, BOTTOM_SIZE]),
        ];
        for (i, w) in d.windows(2).enumerate() {
            let side = BOTTOM_SIZE << (i + 1);
            layers.push(layer(&format!("decoder.up{}", i + 1), mode, &[w[0], side, side]));
            layers.push(layer(&format!("decoder.convs.{i}"), "Conv 3×3, pad 1", &[w[1], side, side]));
            layers.push(layer(&format!("decoder.relu{}", i + 1), "ReLU", &[w[1], side, side]));
        }
        let s = self.image_size;
        layers.push(layer("decoder.to_image", "Conv 3×3, pad 1", &[IMAGE_CHANNELS, s, s]));
        layers.push(layer("decoder.sigmoid", "Sigmoid (image in [0, 1])", &[IMAGE_CHANNELS, s, s]));
        layers
    }

    fn rationale(&self) -> String {
        format!(
            "A small convolutional VAE (Kingma & Welling 2014) sized for {s}×{s} faces and a CPU. The encoder \
halves the image {n} times with stride-2 3×3 convolutions (no pooling, so the network learns its own \
downsampling) while doubling the channels ({c}), down to a 4×4 map whose {f} features feed two linear \
heads for μ and log σ² of a {l}-dimensional diagonal Gaussian. Predicting log σ² keeps σ positive \
without a constraint. Training samples z = μ + σ·ε (the reparameterization trick, so gradients flow \
through μ and σ). The decoder reverses the encoder's resolution steps (a linear layer back to the 4×4 map, \
then one upsampling stage per encoder stage, each halving the channels), and upsamples by resize-convolution ({up} ×2, then a 3×3 \
convolution; Odena et al. 2016) instead of transposed convolution, which Odena et al. show leaves \
checkerboard artifacts. A final 3×3 convolution and a sigmoid give pixels in [0, 1]. There is no BatchNorm: \
with batches of 32 faces its batch statistics would be noisy, and without it a face's encoding does not \
depend on the other faces of its batch. The loss is the reconstruction error summed over the image's pixels plus β·KL(q(z|x) ‖ N(0, I)).",
            s = self.image_size,
            n = self.stages(),
            c = (0..self.stages()).map(|i| self.channels(i).to_string()).collect::<Vec<_>>().join(", "),
            f = self.bottom_features(),
            l = self.latent,
            up = match self.upsample {
                Upsample::Nearest => "nearest-neighbour",
                Upsample::Bilinear => "bilinear",
            },
        )
    }
}

/// A 3×3 convolution with padding 1 and the given stride.
fn conv3x3(channels: [usize; 2], stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// The encoder: image → (μ, log σ²) of q(z|x).
#[derive(Module, Debug)]
pub struct VaeEncoder {
    convs: Vec<Conv2d>,
    mu: Linear,
    log_var: Linear,
}

impl VaeEncoder {
    /// `[batch, 3, size, size]` pixels in `[0, 1]` → (μ `[batch, latent]`,
    /// log σ² `[batch, latent]`).
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let x = self.convs.iter().fold(images, |x, conv| conv2d_relu(conv, x));
        let [batch, c, h, w] = x.dims();
        let x = x.reshape([batch, c * h * w]);
        (self.mu.forward(x.clone()), self.log_var.forward(x))
    }
}

/// The decoder: z → image, by resize-convolution.
///
/// The first, fully connected layer (latent → channels·4·4) is stored as four blocks `fc.0` …
/// `fc.3` of channels·4 outputs each, concatenated on a new axis before the reshape to
/// `[batch, channels, 4, 4]`. This is the same linear map as one `Linear` (its weight matrix
/// cut in four), but burn-onnx 0.22 can then export the reshape with a symbolic batch: it
/// refuses a reshape whose output has more than one dimension not found in its input
/// ("multiple element-count-derived dimensions remain").
#[derive(Module, Debug)]
pub struct VaeDecoder {
    fc: Vec<Linear>,
    convs: Vec<Conv2d>,
    to_image: Conv2d,
    bottom_channels: usize,
    #[module(skip)]
    upsample: Upsample,
}

impl VaeDecoder {
    /// `[batch, latent]` → `[batch, 3, size, size]` pre-sigmoid logits.
    pub fn forward_logits(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, latent] = z.dims();
        let z = z.reshape([batch, 1, latent]);
        let rows: Vec<Tensor<3>> = self.fc.iter().map(|fc| fc.forward(z.clone())).collect();
        let x = relu(Tensor::cat(rows, 1)); // [batch, 4, channels·4]
        let x = x.reshape([batch, self.bottom_channels, BOTTOM_SIZE, BOTTOM_SIZE]);
        let x = self.convs.iter().fold(x, |x, conv| match self.upsample {
            Upsample::Nearest => upsample2_conv3x3(conv, x, true),
            Upsample::Bilinear => conv2d_relu(conv, self.upsample(x)),
        });
        conv2d(&self.to_image, x)
    }

    /// `[batch, latent]` → `[batch, 3, size, size]` pixels in `[0, 1]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        sigmoid(self.forward_logits(z))
    }

    /// `[batch, c, h, w]` → `[batch, c, 2h, 2w]`.
    fn upsample(&self, x: Tensor<4>) -> Tensor<4> {
        match self.upsample {
            Upsample::Nearest => upsample_nearest(x, 2),
            Upsample::Bilinear => {
                let [_, _, h, w] = x.dims();
                let options = InterpolateOptions::new(InterpolateMode::Bilinear);
                interpolate(x, options.with_align_corners(false).with_output_size([2 * h, 2 * w]))
            }
        }
    }
}

/// The VAE: [`VaeEncoder`] and [`VaeDecoder`].
#[derive(Module, Debug)]
pub struct Vae {
    /// Image → (μ, log σ²).
    pub encoder: VaeEncoder,
    /// z → image.
    pub decoder: VaeDecoder,
}

/// What one forward pass of the VAE gives.
pub struct VaeOutput {
    /// μ, `[batch, latent]`.
    pub mu: Tensor<2>,
    /// log σ², `[batch, latent]`.
    pub log_var: Tensor<2>,
    /// Decoder logits for the sampled z, `[batch, 3, size, size]` (sigmoid gives the image).
    pub logits: Tensor<4>,
}

impl Vae {
    /// A randomly initialised VAE shaped by `config` on `device` (burn's defaults:
    /// Kaiming-uniform weights).
    ///
    /// # Errors
    /// [`crate::TrainError::InvalidParam`] when `config` does not pass [`VaeConfig::check`].
    pub fn new(config: &VaeConfig, device: &Device) -> Result<Vae> {
        config.check()?;
        let shape = Shape(config);
        Ok(Vae { encoder: shape.init_encoder(device), decoder: shape.init_decoder(device) })
    }

    /// The layer list of the VAE shaped by `config`, with every output size (without the batch
    /// axis) and the design rationale, for the report's diagram.
    pub fn card(config: &VaeConfig) -> ModelCard {
        let shape = Shape(config);
        ModelCard { title: "Convolutional VAE".into(), rationale: shape.rationale(), layers: shape.layers() }
    }

    /// Encodes `images` (`[batch, 3, size, size]` in `[0, 1]`), samples
    /// z = μ + exp(½ log σ²) ⊙ ε with the given noise `eps` (`[batch, latent]`, standard normal;
    /// zeros decode μ), and decodes z.
    pub fn forward(&self, images: Tensor<4>, eps: Tensor<2>) -> VaeOutput {
        let (mu, log_var) = self.encoder.forward(images);
        let z = reparameterize(mu.clone(), log_var.clone(), eps);
        VaeOutput { mu, log_var, logits: self.decoder.forward_logits(z) }
    }

    /// Images decoded from μ (no sampling): `[batch, 3, size, size]` → same shape, in `[0, 1]`.
    pub fn reconstruct(&self, images: Tensor<4>) -> Tensor<4> {
        let (mu, _) = self.encoder.forward(images);
        self.decoder.forward(mu)
    }
}

/// The reparameterization trick: z = μ + σ ⊙ ε with σ = exp(½ log σ²); all `[batch, latent]`.
pub fn reparameterize(mu: Tensor<2>, log_var: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
    mu + (log_var * 0.5).exp() * eps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_card_for_32_and_64_pixels() {
        let device = Device::flex();
        for size in [32, 64] {
            let config = VaeConfig { latent: 8, image_size: size, upsample: Upsample::Bilinear };
            let vae = Vae::new(&config, &device).unwrap();
            let x = Tensor::<4>::zeros([2, 3, size, size], &device);
            let out = vae.forward(x.clone(), Tensor::zeros([2, 8], &device));
            assert_eq!(out.mu.dims(), [2, 8]);
            assert_eq!(out.log_var.dims(), [2, 8]);
            assert_eq!(out.logits.dims(), [2, 3, size, size]);
            let card = Vae::card(&config);
            assert_eq!(card.layers.last().unwrap().output, vec![3, size, size]);
            let bottom = card.layers.iter().find(|l| l.name == "decoder.reshape").unwrap();
            assert_eq!(bottom.output[1..], [BOTTOM_SIZE, BOTTOM_SIZE]);
            let r = vae.reconstruct(x).to_data().try_to_vec::<f32>().unwrap();
            assert!(r.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }

    #[test]
    fn rejects_sizes_the_stages_cannot_reach() {
        for size in [0, 16, 48, 100] {
            let config = VaeConfig { image_size: size, ..VaeConfig::default() };
            assert!(config.check().is_err(), "{size}");
        }
        assert!(VaeConfig { latent: 0, ..VaeConfig::default() }.check().is_err());
        assert!(VaeConfig::default().check().is_ok());
    }

    #[test]
    fn reparameterization_is_mu_plus_sigma_eps() {
        let device = Device::flex();
        let t = |v: [f32; 2]| Tensor::<2>::from_floats([v], &device);
        let z = reparameterize(t([1.0, -2.0]), t([0.0, 2.0f32.ln() * 2.0]), t([0.5, 1.5]));
        let z = z.to_data().try_to_vec::<f32>().unwrap();
        const TOL: f32 = 1e-6;
        assert!((z[0] - 1.5).abs() < TOL && (z[1] - 1.0).abs() < TOL, "{z:?}");
    }
}
