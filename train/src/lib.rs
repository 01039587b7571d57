#![doc = include_str!("../README.md")]

mod device;
mod error;
mod export;
pub mod models;
mod run;
mod trainer;
pub mod vae;

pub use burn::module::Module;
pub use device::{describe_device, device_by_name};
pub use error::{Result, TrainError};
pub use export::export_onnx;
pub use models::{Architecture, Classifier, LayerCard, ModelCard};
pub use netlens_fetch::runs::{DeviceName, EpochMetrics, History, TrainConfig};
pub use run::RunDir;
pub use trainer::{Evaluation, INPUT_SIZE, NUM_CLASSES, Progress, Start, TrainData, evaluate, load_model, train};
