//! netlens-analyze: what is computed from runs — feature embeddings, explanations, VAE figures,
//! and the report. It sees models only as ONNX files.

pub mod curves;
mod error;
pub mod explain;
pub mod features;
pub mod figures;
pub mod report;
pub mod vae;

pub use error::{AnalyzeError, Result};
