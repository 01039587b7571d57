//! A classifier run: its configuration, per-epoch history and model card.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{InvalidSetting, check_schedule};

/// Which network `netlens train` trains. All take `[batch, 1, 32, 32]` images with pixels in
/// `[0, 1]` and return `[batch, 10]` pre-softmax logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling.
    Lenet,
    /// Our shallow net derived from LeNet-5 (the course's 3–7 layer variant).
    Shallow,
    /// Our CNN of conv, BatchNorm, ReLU, max-pool and fully connected layers (the course's
    /// 12–35 layer variant).
    Cnn,
}

impl Architecture {
    /// All architectures, in the order the report presents them.
    pub const ALL: [Architecture; 3] = [Architecture::Lenet, Architecture::Shallow, Architecture::Cnn];

    /// The course's bounds on the number of layers, counting every convolution, BatchNorm,
    /// activation, pooling and fully connected layer (the course lists these types among a
    /// network's layers; `../shared/docs/course-project.md`, main task): 12–35 for the designed
    /// network, 3–7 for the shallow one; `None` for LeNet-5, the reference.
    pub fn course_layer_limit(self) -> Option<(usize, usize)> {
        match self {
            Architecture::Cnn => Some((12, 35)),
            Architecture::Shallow => Some((3, 7)),
            Architecture::Lenet => None,
        }
    }

    /// The name for figure titles and text (`LeNet-5`, `Shallow net`, `CNN`).
    pub fn title(self) -> &'static str {
        match self {
            Architecture::Lenet => "LeNet-5",
            Architecture::Shallow => "Shallow net",
            Architecture::Cnn => "CNN",
        }
    }

    /// The lowercase name used on the command line and in run folders (`lenet`).
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Lenet => "lenet",
            Architecture::Shallow => "shallow",
            Architecture::Cnn => "cnn",
        }
    }

    /// Default epochs: what each network needs on the course's small Fashion-MNIST set to pass
    /// its accuracy target with the default schedule (measured; see the README).
    pub fn default_epochs(self) -> usize {
        match self {
            Architecture::Lenet => 30,
            Architecture::Shallow => 15,
            Architecture::Cnn => 15,
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Architecture {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, InvalidSetting> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| InvalidSetting::new("architecture", s, "expected lenet, shallow or cnn"))
    }
}

/// The burn device a run computes on, chosen at run time. `flex` (pure-Rust CPU) is always
/// built; the others need the cargo feature of the same name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum DeviceName {
    /// burn's pure-Rust CPU backend (always built).
    #[default]
    Flex,
    /// CubeCL's CPU backend (cargo feature `cpu`).
    Cpu,
    /// Vulkan, Metal or DX12 through wgpu (cargo feature `wgpu`).
    Wgpu,
    /// NVIDIA CUDA (cargo feature `cuda`).
    Cuda,
}

impl DeviceName {
    /// Every device name, as `--device` accepts them.
    pub const ALL: [DeviceName; 4] = [DeviceName::Flex, DeviceName::Cpu, DeviceName::Wgpu, DeviceName::Cuda];

    /// The lowercase name (`flex`).
    pub fn name(self) -> &'static str {
        match self {
            DeviceName::Flex => "flex",
            DeviceName::Cpu => "cpu",
            DeviceName::Wgpu => "wgpu",
            DeviceName::Cuda => "cuda",
        }
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceName {
    type Err = InvalidSetting;

    fn from_str(s: &str) -> Result<Self, InvalidSetting> {
        DeviceName::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| InvalidSetting::new("device", s, "expected flex, cpu, wgpu or cuda"))
    }
}

/// Hyper-parameters and provenance of a classifier run, saved as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Which network.
    pub architecture: Architecture,
    /// Total number of epochs. Default [`Architecture::default_epochs`].
    pub epochs: usize,
    /// Examples per mini-batch. Default [`TrainConfig::DEFAULT_BATCH_SIZE`].
    pub batch_size: usize,
    /// Adam's peak learning rate (β₁ = 0.9, β₂ = 0.999, ε = 1e-5, no weight decay: burn's
    /// defaults), decayed to 0 over the run by a cosine schedule, step by step. Default
    /// [`TrainConfig::DEFAULT_LEARNING_RATE`].
    pub learning_rate: f64,
    /// Seeds weight initialisation and the per-epoch shuffling. Default [`DEFAULT_SEED`].
    pub seed: u64,
    /// The burn device. Default `flex`.
    pub device: DeviceName,
    /// The data folder, as given.
    pub data: String,
    /// Train on the first `n` training images only (every test image is still evaluated);
    /// `None`: all of them. For short runs, e.g. a benchmark on a slow device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_limit: Option<usize>,
}

/// The seed of every training run unless one is given.
pub const DEFAULT_SEED: u64 = 0;

impl TrainConfig {
    /// Default examples per mini-batch.
    pub const DEFAULT_BATCH_SIZE: usize = 32;
    /// Default peak learning rate: with a constant 1e-3 LeNet-5 reached 0.773 at best in 20
    /// epochs on the small set; 3e-3 with cosine decay reaches 0.793 (see the README).
    pub const DEFAULT_LEARNING_RATE: f64 = 3e-3;

    /// The defaults listed on each field, for `architecture` and the data folder `data`.
    pub fn new(architecture: Architecture, data: impl Into<String>) -> Self {
        TrainConfig {
            architecture,
            epochs: architecture.default_epochs(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            learning_rate: Self::DEFAULT_LEARNING_RATE,
            seed: DEFAULT_SEED,
            device: DeviceName::Flex,
            data: data.into(),
            train_limit: None,
        }
    }

    /// Checks the hyper-parameters.
    ///
    /// # Errors
    /// [`InvalidSetting`] as [`check_schedule`].
    pub fn check(&self) -> Result<(), InvalidSetting> {
        check_schedule(self.epochs, self.batch_size, self.learning_rate)
    }
}

/// Metrics after one epoch. Losses are mean cross-entropy per example (nats); accuracies are
/// fractions in `[0, 1]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (training-mode BatchNorm).
    pub train_loss: f64,
    /// Fraction of training examples classified correctly during the epoch.
    pub train_accuracy: f64,
    /// Mean cross-entropy on the test set after the epoch (evaluation mode).
    pub test_loss: f64,
    /// Test accuracy after the epoch.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

/// What every epoch record of a [`History`] has.
pub trait EpochRecord {
    /// 1-based epoch number.
    fn epoch(&self) -> usize;
    /// Wall-clock seconds of the epoch, evaluation included.
    fn seconds(&self) -> f64;
}

impl EpochRecord for EpochMetrics {
    fn epoch(&self) -> usize {
        self.epoch
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }
}

/// All epochs of a run so far, saved as `history.json`: [`EpochMetrics`] for a classifier,
/// [`crate::runs::VaeEpochMetrics`] for the VAE ([`crate::runs::VaeHistory`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History<M = EpochMetrics> {
    /// The architecture's name (`lenet`, `shallow`, `cnn`, `vae`).
    pub architecture: String,
    /// One entry per finished epoch, in order.
    pub epochs: Vec<M>,
}

impl<M> History<M> {
    /// A history of no epochs yet.
    pub fn new(architecture: impl Into<String>) -> Self {
        History { architecture: architecture.into(), epochs: Vec::new() }
    }
}

impl<M: EpochRecord> History<M> {
    /// Total wall-clock seconds of the recorded epochs.
    pub fn seconds(&self) -> f64 {
        self.epochs.iter().map(EpochRecord::seconds).sum()
    }
}

impl History<EpochMetrics> {
    /// The epoch with the highest test accuracy (the first on ties), if any.
    pub fn best(&self) -> Option<&EpochMetrics> {
        self.epochs.iter().fold(None, |best: Option<&EpochMetrics>, e| match best {
            Some(b) if b.test_accuracy >= e.test_accuracy => Some(b),
            _ => Some(e),
        })
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

impl LayerCard {
    /// A layer computed from the previous layer's output.
    pub fn new(name: &str, op: &str, output: &[usize]) -> Self {
        LayerCard { name: name.into(), op: op.into(), output: output.to_vec(), beside_previous: false }
    }
}

/// What the report says about a model: its name, why it is designed so, and its layers;
/// saved as `model_card.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Display name, e.g. `LeNet-5`.
    pub title: String,
    /// The design rationale, in Markdown.
    pub rationale: String,
    /// Layers in forward order, from the input to the logits.
    pub layers: Vec<LayerCard>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_reads_back_as_written_and_names_parse() {
        let c = TrainConfig::new(Architecture::Cnn, "data");
        let text = serde_json::to_string(&c).unwrap();
        assert!(text.contains(r#""architecture":"cnn""#) && text.contains(r#""device":"flex""#), "{text}");
        assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), c);
        assert_eq!("shallow".parse::<Architecture>().unwrap(), Architecture::Shallow);
        assert!("resnet".parse::<Architecture>().unwrap_err().to_string().contains("lenet, shallow or cnn"));
        assert_eq!("wgpu".parse::<DeviceName>().unwrap(), DeviceName::Wgpu);
    }

    #[test]
    fn the_best_epoch_is_the_first_with_the_highest_test_accuracy() {
        let e = |epoch, test_accuracy| EpochMetrics {
            epoch,
            train_loss: 1.0,
            train_accuracy: 0.5,
            test_loss: 1.0,
            test_accuracy,
            seconds: 2.0,
        };
        let h = History { architecture: "lenet".into(), epochs: vec![e(1, 0.5), e(2, 0.7), e(3, 0.7), e(4, 0.6)] };
        assert_eq!(h.best().unwrap().epoch, 2);
        assert_eq!(h.seconds(), 8.0);
        assert!(History::<EpochMetrics>::new("lenet").best().is_none());
    }
}
