#![doc = include_str!("../README.md")]

pub mod curves;
mod error;
pub mod explain;
pub mod features;
pub mod figures;
pub mod finite;
pub mod model_input;
pub mod report;
pub mod vae;

pub use error::{AnalyzeError, Result};
