//! netlens-train: the networks netlens trains (burn 0.22), their training loop and ONNX export.
//!
//! - [`Architecture`] / [`Classifier`]: LeNet-5, the shallow net and the 27-layer CNN, each with
//!   a [`ModelCard`] (layers, feature-map sizes, design rationale) for the report.
//! - [`train`] with a [`TrainConfig`]: Adam on cross-entropy, [`History`] after every epoch,
//!   checkpoints in a [`RunDir`], exact [`Start::Resume`].
//! - [`export_onnx`]: ONNX with a symbolic batch axis.
//! - [`device_by_name`]: `flex` always; `cpu`, `wgpu`, `cuda` behind cargo features.

mod device;
mod error;
mod export;
mod history;
pub mod models;
pub use burn::module::Module;
mod run;
mod trainer;
pub mod vae;

pub use device::{DEVICE_NAMES, device_by_name};
pub use error::{Result, TrainError};
pub use export::export_onnx;
pub use history::{EpochMetrics, History};
pub use models::{Architecture, Classifier, LayerCard, ModelCard};
pub use run::RunDir;
pub use trainer::{
    Evaluation, INPUT_SIZE, NUM_CLASSES, Start, TrainConfig, TrainData, TrainProgress, default_epochs, evaluate,
    load_model, train,
};
