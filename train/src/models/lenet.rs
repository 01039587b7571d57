//! LeNet-5 (LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
//! recognition", Proc. IEEE 1998, §II.B), with ReLU for the scaled tanh and max-pooling for the
//! trainable sub-sampling, as the course's "LeNet详解" blog does. C5 is a full 5×5 convolution
//! over a 5×5 map, i.e. a fully connected layer, and is written as one.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use netlens_kernels::conv::conv2d_relu;

use super::{ModelCard, flatten, layer};

/// LeNet-5: conv(6,5×5) → pool → conv(16,5×5) → pool → fc 120 → fc 84 → fc classes.
#[derive(Module, Debug)]
pub struct LeNet5 {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

/// Configuration of [`LeNet5`].
#[derive(burn::config::Config, Debug)]
pub struct LeNet5Config {
    /// Number of classes (logits).
    pub num_classes: usize,
}

impl LeNet5Config {
    /// A randomly initialised LeNet-5 (PyTorch's default Kaiming-uniform initialisation).
    pub fn init(&self, device: &Device) -> LeNet5 {
        LeNet5 {
            conv1: Conv2dConfig::new([1, 6], [5, 5]).init(device),
            conv2: Conv2dConfig::new([6, 16], [5, 5]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            fc1: LinearConfig::new(16 * 5 * 5, 120).init(device),
            fc2: LinearConfig::new(120, 84).init(device),
            fc3: LinearConfig::new(84, self.num_classes).init(device),
        }
    }
}

impl LeNet5 {
    /// `[batch, 1, 32, 32]` → `[batch, classes]` logits.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(conv2d_relu(&self.conv1, x)); // [batch, 6, 14, 14]
        let x = self.pool.forward(conv2d_relu(&self.conv2, x)); // [batch, 16, 5, 5]
        let x = relu(self.fc1.forward(flatten(x))); // [batch, 120]
        let x = relu(self.fc2.forward(x)); // [batch, 84]
        self.fc3.forward(x) // [batch, classes]
    }
}

pub(super) fn card() -> ModelCard {
    ModelCard {
        title: "LeNet-5".into(),
        rationale: "LeNet-5 as in LeCun et al. (1998): two convolution + sub-sampling stages that turn the \
32×32 image into 16 maps of 5×5, then three fully connected layers (120, 84, 10). Following the course's \
blog, the scaled tanh is replaced by ReLU and the trainable sub-sampling by 2×2 max-pooling, as in most \
modern re-implementations (ReLU does not saturate, so gradients reach the first layers; the original's \
tanh variant was not trained here for comparison). The 32×32 input is the size LeNet-5 was designed for, so no padding \
is needed: the 5×5 kernels shrink 32→28 and 14→10."
            .into(),
        layers: vec![
            layer("input", "image", &[1, 32, 32]),
            layer("conv1", "Conv 5×5, 6 filters", &[6, 28, 28]),
            layer("relu1", "ReLU", &[6, 28, 28]),
            layer("pool1", "MaxPool 2×2", &[6, 14, 14]),
            layer("conv2", "Conv 5×5, 16 filters", &[16, 10, 10]),
            layer("relu2", "ReLU", &[16, 10, 10]),
            layer("pool2", "MaxPool 2×2", &[16, 5, 5]),
            layer("fc1", "Fully connected 400→120", &[120]),
            layer("relu3", "ReLU", &[120]),
            layer("fc2", "Fully connected 120→84", &[84]),
            layer("relu4", "ReLU", &[84]),
            layer("fc3", "Fully connected 84→10 (logits)", &[10]),
        ],
    }
}
