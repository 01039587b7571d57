//! netlens-onnx: everything about running an ONNX file.
//!
//! - [`naming`]: give exported graphs names for people (`conv1`, `fc2`, input `image`, output `logits`).

mod error;
pub mod naming;

pub use error::{OnnxError, Result};
