#![doc = include_str!("../README.md")]

pub mod checkpoint;
mod error;
mod executor;
pub mod inspect;
mod model;
pub mod naming;
mod ops;
pub mod resnet;
pub mod taps;
mod tract;
mod validate;

pub use error::{OnnxError, Result};
pub use executor::{
    DifferentiableGraph, DifferentiableModel, FeatureLayout, GradientAt, GraphInput, HostTensor, HostValue,
    LogitGradient,
};
pub use inspect::{Dim, Layer, LayerKind, ModelSummary, TensorInfo, inspect};
pub use ops::supported_ops;
pub use taps::{LayerSelection, Tap, TapOutput, TapRunner, select_taps};
pub use tract::{BatchAxis, TractModel};
