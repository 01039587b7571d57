//! Our shallow net: five weight layers (three 3×3 convolutions, two fully connected), derived
//! from LeNet-5 (see [`card`] for the reasoning).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::{ModelCard, flatten, layer};

/// conv(16,3×3) → pool → conv(32,3×3) → pool → conv(64,3×3) → pool → fc 128 → fc classes.
#[derive(Module, Debug)]
pub struct ShallowNet {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
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
            conv1: conv3x3([1, 16], device),
            conv2: conv3x3([16, 32], device),
            conv3: conv3x3([32, 64], device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(64 * 4 * 4, 128).init(device),
            fc2: LinearConfig::new(128, self.num_classes).init(device),
        }
    }
}

impl ShallowNet {
    /// `[batch, 1, 32, 32]` → `[batch, classes]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x))); // [batch, 16, 16, 16]
        let x = self.pool.forward(relu(self.conv2.forward(x))); // [batch, 32, 8, 8]
        let x = self.pool.forward(relu(self.conv3.forward(x))); // [batch, 64, 4, 4]
        let x = relu(self.fc1.forward(flatten(x))); // [batch, 128]
        self.fc2.forward(x) // [batch, classes]
    }
}

pub(super) fn card() -> ModelCard {
    ModelCard {
        title: "Shallow net (5 weight layers)".into(),
        rationale: "Derived from LeNet-5 with three changes. (1) 3×3 kernels with padding 1 instead of \
unpadded 5×5: 9 weights per input channel and filter instead of 25, which pays for wider layers, and \
padding keeps the border pixels, where Fashion-MNIST's sleeves and soles are; after three pooled stages \
each of the last feature map's positions still sees a 22×22 window of the image. (2) A third convolution \
stage and doubling widths (16, 32, 64) after each 2×2 pooling keep the work per stage about constant while \
the maps shrink 32→16→8→4. (3) One hidden fully connected layer of 128 instead of two (120, 84). It is not \
smaller: on the 64×4×4 maps it holds 131k weights, against 59k in LeNet-5's three dense layers \
(400×120 + 120×84 + 84×10); the capacity moves to where the features are widest, and one dense layer fewer \
keeps the net at five weight layers (three conv, two FC), within the course's 3–7."
            .into(),
        layers: vec![
            layer("input", "image", &[1, 32, 32]),
            layer("conv1", "Conv 3×3 pad 1, 16 filters", &[16, 32, 32]),
            layer("relu1", "ReLU", &[16, 32, 32]),
            layer("pool1", "MaxPool 2×2", &[16, 16, 16]),
            layer("conv2", "Conv 3×3 pad 1, 32 filters", &[32, 16, 16]),
            layer("relu2", "ReLU", &[32, 16, 16]),
            layer("pool2", "MaxPool 2×2", &[32, 8, 8]),
            layer("conv3", "Conv 3×3 pad 1, 64 filters", &[64, 8, 8]),
            layer("relu3", "ReLU", &[64, 8, 8]),
            layer("pool3", "MaxPool 2×2", &[64, 4, 4]),
            layer("fc1", "Fully connected 1024→128", &[128]),
            layer("relu4", "ReLU", &[128]),
            layer("fc2", "Fully connected 128→10 (logits)", &[10]),
        ],
    }
}
