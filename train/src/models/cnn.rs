//! Our 27-layer CNN for the course's GPU variant: seven convolutions, each followed by
//! BatchNorm and ReLU, three max-pools and two fully connected layers (see [`card`]).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use netlens_kernels::conv::conv2d;

use super::{LayerCard, ModelCard, flatten, layer};

/// Convolution → BatchNorm (Ioffe & Szegedy 2015) → ReLU, the CNN's repeated unit.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ConvBnRelu {
    /// A `kernel`×`kernel` convolution with "same" padding (kernel 1 or 3), no bias (BatchNorm's β
    /// replaces it), then BatchNorm.
    fn new(channels: [usize; 2], kernel: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        ConvBnRelu {
            conv: Conv2dConfig::new(channels, [kernel, kernel])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(channels[1]).init(device),
        }
    }

    /// `[batch, c_in, h, w]` → `[batch, c_out, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.bn.forward(conv2d(&self.conv, x)))
    }
}

/// The CNN; see [`crate::models::card`] for the layer list.
#[derive(Module, Debug)]
pub struct Cnn {
    block1: ConvBnRelu,
    block2: ConvBnRelu,
    block3: ConvBnRelu,
    block4: ConvBnRelu,
    block5: ConvBnRelu,
    block6: ConvBnRelu,
    block7: ConvBnRelu,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
}

/// Configuration of [`Cnn`].
#[derive(burn::config::Config, Debug)]
pub struct CnnConfig {
    /// Number of classes (logits).
    pub num_classes: usize,
}

impl CnnConfig {
    /// A randomly initialised CNN.
    pub fn init(&self, device: &Device) -> Cnn {
        Cnn {
            block1: ConvBnRelu::new([1, 16], 3, device),
            block2: ConvBnRelu::new([16, 16], 3, device),
            block3: ConvBnRelu::new([16, 32], 3, device),
            block4: ConvBnRelu::new([32, 24], 1, device),
            block5: ConvBnRelu::new([24, 32], 3, device),
            block6: ConvBnRelu::new([32, 64], 3, device),
            block7: ConvBnRelu::new([64, 64], 1, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(64 * 4 * 4, 128).init(device),
            fc2: LinearConfig::new(128, self.num_classes).init(device),
        }
    }
}

impl Cnn {
    /// `[batch, 1, 32, 32]` → `[batch, classes]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.block2.forward(self.block1.forward(x)); // [batch, 16, 32, 32]
        let x = self.pool.forward(x); // [batch, 16, 16, 16]
        let x = self.block5.forward(self.block4.forward(self.block3.forward(x))); // [batch, 32, 16, 16]
        let x = self.pool.forward(x); // [batch, 32, 8, 8]
        let x = self.block7.forward(self.block6.forward(x)); // [batch, 64, 8, 8]
        let x = self.pool.forward(x); // [batch, 64, 4, 4]
        let x = relu(self.fc1.forward(flatten(x))); // [batch, 128]
        self.fc2.forward(x) // [batch, classes]
    }
}

fn block_cards(name: &str, kernel: usize, out: [usize; 3]) -> Vec<LayerCard> {
    let op = if kernel == 1 { "Conv 1×1 (channel mixing)" } else { "Conv 3×3 pad 1" };
    vec![
        layer(&format!("{name}.conv"), &format!("{op}, {} filters", out[0]), &out),
        layer(&format!("{name}.bn"), "BatchNorm", &out),
        layer(&format!("{name}.relu"), "ReLU", &out),
    ]
}

pub(super) fn card() -> ModelCard {
    let mut layers = vec![layer("input", "image", &[1, 32, 32])];
    layers.extend(block_cards("block1", 3, [16, 32, 32]));
    layers.extend(block_cards("block2", 3, [16, 32, 32]));
    layers.push(layer("pool1", "MaxPool 2×2", &[16, 16, 16]));
    layers.extend(block_cards("block3", 3, [32, 16, 16]));
    layers.extend(block_cards("block4", 1, [24, 16, 16]));
    layers.extend(block_cards("block5", 3, [32, 16, 16]));
    layers.push(layer("pool2", "MaxPool 2×2", &[32, 8, 8]));
    layers.extend(block_cards("block6", 3, [64, 8, 8]));
    layers.extend(block_cards("block7", 1, [64, 8, 8]));
    layers.push(layer("pool3", "MaxPool 2×2", &[64, 4, 4]));
    layers.push(layer("fc1", "Fully connected 1024→128", &[128]));
    layers.push(layer("relu_fc1", "ReLU", &[128]));
    layers.push(layer("fc2", "Fully connected 128→10 (logits)", &[10]));
    ModelCard {
        title: "CNN (27 layers)".into(),
        rationale: "Twenty-seven layers (7 convolutions, 7 BatchNorm, 8 ReLU, 3 max-pool, 2 fully \
connected), built as three stages at 32×32, 16×16 and 8×8. It is not a classical network: unlike VGG it \
alternates 3×3 convolutions with 1×1 channel-mixing convolutions (a squeeze to 24 channels in the middle \
stage, a 64→64 mix at the end) and keeps widths small (16–64), which suits 32×32 clothing silhouettes (Fashion-MNIST's 28×28 images, resized); it \
has no residual connections (ResNet), no parallel branches (Inception/GoogLeNet) and no dense \
concatenation (DenseNet). BatchNorm after every convolution (convolutions carry no bias, β replaces it) \
keeps each layer's inputs normalised, so all seven convolutions train with the same peak learning rate \
as the shallow nets (netlens's default 3e-3 for Adam, cosine-decayed). Each 2×2 pool \
halves the maps and the next stage doubles the channels; the last 64×4×4 maps feed a 128-unit hidden layer \
and the 10 logits."
            .into(),
        layers,
    }
}
