//! The classifiers netlens trains: LeNet-5, a shallow net of our own, and a 12–35 layer CNN of
//! our own (the course's two variants). All take `[batch, 1, 32, 32]` images with pixels in
//! `[0, 1]` and return `[batch, 10]` pre-softmax logits.

mod cnn;
mod lenet;
mod shallow;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use cnn::{Cnn, CnnConfig};
pub use lenet::{LeNet5, LeNet5Config};
pub use shallow::{ShallowNet, ShallowNetConfig};

/// Which network to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling.
    Lenet,
    /// Our 5-layer net derived from LeNet-5.
    Shallow,
    /// Our 24-layer CNN (conv, BatchNorm, ReLU, max-pool, fully connected).
    Cnn,
}

impl Architecture {
    /// All architectures, in the order the report presents them.
    pub const ALL: [Architecture; 3] = [Architecture::Lenet, Architecture::Shallow, Architecture::Cnn];

    /// The lowercase name used on the command line and in run folders.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet => "lenet",
            Architecture::Shallow => "shallow",
            Architecture::Cnn => "cnn",
        }
    }

    /// A fresh, randomly initialised model for `num_classes` classes on `device`.
    pub fn init(self, num_classes: usize, device: &Device) -> Classifier {
        match self {
            Architecture::Lenet => Classifier::Lenet(LeNet5Config::new(num_classes).init(device)),
            Architecture::Shallow => Classifier::Shallow(ShallowNetConfig::new(num_classes).init(device)),
            Architecture::Cnn => Classifier::Cnn(CnnConfig::new(num_classes).init(device)),
        }
    }

    /// The layer list with feature-map sizes and the reasons for the design (feeds the report).
    pub fn card(self) -> ModelCard {
        match self {
            Architecture::Lenet => lenet::card(),
            Architecture::Shallow => shallow::card(),
            Architecture::Cnn => cnn::card(),
        }
    }
}

impl std::str::FromStr for Architecture {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown architecture `{s}`; expected lenet, shallow or cnn"))
    }
}

/// Any of the three classifiers, as one module so the training loop and export need no generics.
#[derive(Module, Debug)]
pub enum Classifier {
    /// LeNet-5.
    Lenet(LeNet5),
    /// The shallow net.
    Shallow(ShallowNet),
    /// The 24-layer CNN.
    Cnn(Cnn),
}

impl Classifier {
    /// `[batch, 1, 32, 32]` images in `[0, 1]` → `[batch, classes]` logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::Lenet(m) => m.forward(images),
            Classifier::Shallow(m) => m.forward(images),
            Classifier::Cnn(m) => m.forward(images),
        }
    }
}

/// One layer of a model card: module path (as in the checkpoint and ONNX initializers), the
/// operation, and the output feature-map size without the batch axis (`[channels, height,
/// width]` or `[features]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCard {
    /// Module path, e.g. `conv1`; for parameter-free layers a descriptive name, e.g. `relu1`.
    pub name: String,
    /// Operation, e.g. `Conv 5×5, 6 filters`.
    pub op: String,
    /// Output size per example.
    pub output: Vec<usize>,
    /// Computed from the same input as the layer before it, not from that layer's output (a
    /// second head, e.g. the VAE's log σ² beside μ); diagrams draw it beside that layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub beside_previous: bool,
}

/// What the report says about a model: its name, why it is designed so, and its layers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Display name, e.g. `LeNet-5`.
    pub title: String,
    /// The design rationale, in Markdown.
    pub rationale: String,
    /// Layers in forward order, from the input to the logits.
    pub layers: Vec<LayerCard>,
}

pub(crate) fn layer(name: &str, op: &str, output: &[usize]) -> LayerCard {
    LayerCard { name: name.into(), op: op.into(), output: output.to_vec(), beside_previous: false }
}

/// `[batch, c, h, w]` → `[batch, c·h·w]` with the batch axis kept symbolic on export.
pub(crate) fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [batch, c, h, w] = x.dims();
    x.reshape([batch, c * h * w])
}
