#![doc = include_str!("../README.md")]

mod error;
mod executor;
pub mod inspect;
mod model;
pub mod naming;
mod ops;
pub mod resnet;
pub mod taps;
mod tract;

pub use error::{OnnxError, Result};
pub use executor::{DifferentiableModel, GradientAt, HostTensor, LogitGradient};
pub use inspect::{Dim, Layer, LayerKind, ModelSummary, TensorInfo, inspect};
pub use ops::SUPPORTED_OPS;
pub use taps::{LayerSelection, Tap, TapOutput, TapRunner, select_taps};
pub use tract::{BatchAxis, TractModel};
