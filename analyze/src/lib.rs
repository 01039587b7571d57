//! netlens-analyze: what is computed from runs — feature embeddings, explanations, VAE figures,
//! and the report. It sees models only as ONNX files.

mod error;

pub use error::{AnalyzeError, Result};
