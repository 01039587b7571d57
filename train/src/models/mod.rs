//! The classifiers netlens trains: LeNet-5, a shallow net of our own, and a 12–35 layer CNN of
//! our own (the course's two variants). All take `[batch, 1, 32, 32]` images with pixels in
//! `[0, 1]` and return `[batch, 10]` pre-softmax logits.

mod cnn;
mod lenet;
mod shallow;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub use cnn::{Cnn, CnnConfig};
pub use lenet::{LeNet5, LeNet5Config};
pub use shallow::{ShallowNet, ShallowNetConfig};

pub use netlens_fetch::runs::{Architecture, LayerCard, ModelCard};

/// A fresh, randomly initialised model of `architecture` for `num_classes` classes on `device`.
pub fn init(architecture: Architecture, num_classes: usize, device: &Device) -> Classifier {
    match architecture {
        Architecture::Lenet => Classifier::Lenet(LeNet5Config::new(num_classes).init(device)),
        Architecture::Shallow => Classifier::Shallow(ShallowNetConfig::new(num_classes).init(device)),
        Architecture::Cnn => Classifier::Cnn(CnnConfig::new(num_classes).init(device)),
    }
}

/// The layer list of `architecture` with feature-map sizes and the reasons for the design
/// (feeds the report).
pub fn card(architecture: Architecture) -> ModelCard {
    match architecture {
        Architecture::Lenet => lenet::card(),
        Architecture::Shallow => shallow::card(),
        Architecture::Cnn => cnn::card(),
    }
}

/// Any of the three classifiers, as one module so the training loop and export need no generics.
// One value per run: the size difference between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
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

pub(crate) fn layer(name: &str, op: &str, output: &[usize]) -> LayerCard {
    LayerCard::new(name, op, output)
}

/// `[batch, c, h, w]` → `[batch, c·h·w]` with the batch axis kept symbolic on export.
pub(crate) fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [batch, c, h, w] = x.dims();
    x.reshape([batch, c * h * w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_card_meets_the_course_layer_limit_by_the_one_counting_rule() {
        for architecture in Architecture::ALL {
            let card = card(architecture);
            // Every layer of the card but the input: conv, BatchNorm, ReLU, pooling, FC.
            let layers = card.layers.iter().filter(|l| l.op != "image").count();
            match architecture.course_layer_limit() {
                Some((lo, hi)) => assert!((lo..=hi).contains(&layers), "{}: {layers} layers", card.title),
                None => assert_eq!(layers, 11, "LeNet-5: 2 conv, 2 pool, 3 FC, 4 ReLU"),
            }
            assert!(
                card.title.contains(&format!("{layers} layers")) || architecture == Architecture::Lenet,
                "{}",
                card.title
            );
        }
    }
}
