//! netlens-onnx: everything about running an ONNX file.
//!
//! - [`inspect`](mod@inspect): the layer table ([`ModelSummary`]: readable names, ops, shapes with a symbolic
//!   batch axis, parameter counts).
//! - [`taps`]: run a model with tract and collect intermediate outputs ([`TapRunner`]), with
//!   layers chosen by name or automatically ([`select_taps`]).
//! - [`DifferentiableModel`]: the same graph evaluated with burn autodiff (parsed with onnx-ir),
//!   for the gradient of a class logit at the input or any named tensor.
//! - [`naming`]: give exported graphs names for people (`conv1`, `fc2`, input `image`, output `logits`).
//! - [`resnet`]: torchvision BasicBlock ResNet `.pth` (ResNet-18/34, any width) → burn → ONNX.

mod error;
mod executor;
pub mod inspect;
mod model;
pub mod naming;
mod ops;
pub mod resnet;
pub mod taps;

pub use error::{OnnxError, Result};
pub use executor::{DifferentiableModel, GradientAt, HostTensor, LogitGradient};
pub use inspect::{Dim, Layer, LayerKind, ModelSummary, TensorInfo, inspect};
pub use ops::SUPPORTED_OPS;
pub use taps::{LayerSelection, Tap, TapOutput, TapRole, TapRunner, select_taps};
