//! Our shallow net: seven layers (two 3×3 convolutions, each with its ReLU and 2×2 max-pooling,
//! and one fully connected layer), derived from LeNet-5 (see [`card`] for the reasoning).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use netlens_kernels::conv::conv2d_relu;

use super::{ModelCard, flatten, layer};

/// conv(32, 3×3) → ReLU → pool → conv(64, 3×3) → ReLU → pool → fc classes: 7 layers.
#[derive(Module, Debug)]
pub struct ShallowNet {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc: Linear,
}

/// Configuration of [`ShallowNet`].
#[derive(burn::config::Config, Debug)]
pub struct ShallowNetConfig {
    /// Number of classes (logits).
    pub num_classes: usize,
}

fn conv3x3(channels: [usize; 2], device: &Device) -> Conv2d {
    Conv2dConfig::new(channels, [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device)
}

impl ShallowNetConfig {
    /// A randomly initialised shallow net.
    pub fn init(&self, device: &Device) -> ShallowNet {
        ShallowNet {
            conv1: conv3x3([1, 32], device),
            conv2: conv3x3([32, 64], device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc: LinearConfig::new(64 * 8 * 8, self.num_classes).init(device),
        }
    }
}

impl ShallowNet {
    /// `[batch, 1, 32, 32]` → `[batch, classes]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(conv2d_relu(&self.conv1, x)); // [batch, 32, 16, 16]
        let x = self.pool.forward(conv2d_relu(&self.conv2, x)); // [batch, 64, 8, 8]
        self.fc.forward(flatten(x)) // [batch, classes]
    }
}

pub(super) fn card() -> ModelCard {
    ModelCard {
        title: "Shallow net (7 layers)".into(),
        rationale: "LeNet-5's two convolution + pooling stages, made wider and padded, with one fully connected \
layer instead of three, so that the net has 7 layers counted as the course counts them (every convolution, \
activation, pooling and fully connected layer; LeNet-5 has 11 by the same count). (1) 3×3 kernels with padding \
1 instead of unpadded 5×5: 9 weights per input channel and filter instead of 25, which pays for 32 and 64 \
filters instead of 6 and 16, and padding keeps the border pixels, where Fashion-MNIST's sleeves and soles are; \
after two pooled stages each position of the last feature map sees a 10×10 window of the image. (2) The \
feature maps stay at 8×8 instead of LeNet-5's 5×5, so the classifier still knows where on the garment a \
feature was found. (3) One linear layer from the 64×8×8 = 4,096 features to the 10 logits (40,970 weights) \
replaces LeNet-5's 400→120→84→10 stack (59k weights): with 1,000 training images the capacity is better \
spent on the convolutions, and the whole net has 59,786 parameters against LeNet-5's 61,706."
            .into(),
        layers: vec![
            layer("input", "image", &[1, 32, 32]),
            layer("conv1", "Conv 3×3 pad 1, 32 filters", &[32, 32, 32]),
            layer("relu1", "ReLU", &[32, 32, 32]),
            layer("pool1", "MaxPool 2×2", &[32, 16, 16]),
            layer("conv2", "Conv 3×3 pad 1, 64 filters", &[64, 16, 16]),
            layer("relu2", "ReLU", &[64, 16, 16]),
            layer("pool2", "MaxPool 2×2", &[64, 8, 8]),
            layer("fc", "Fully connected 4096→10 (logits)", &[10]),
        ],
    }
}
