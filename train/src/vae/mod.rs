//! A convolutional variational autoencoder (Kingma & Welling 2014) for RGB faces: model
//! ([`Vae`], [`VaeConfig`]), loss ([`Reconstruction`], β · KL), training with a seeded 10 %
//! held-out split, checkpoints and exact resume in a [`crate::RunDir`] ([`train_vae`]), and export
//! of the encoder (image → μ, log σ²) and the decoder (z → image) as two ONNX files
//! ([`export_vae`]).
//!
//! The files of a VAE run folder are described by the schema in [`netlens_fetch::runs`].

mod export;
mod loss;
mod model;
mod trainer;

pub use export::export_vae;
pub use loss::{LossTerms, Reconstruction, kl_divergence, loss_terms, reconstruction};
pub use model::{IMAGE_CHANNELS, Upsample, Vae, VaeConfig, VaeDecoder, VaeEncoder, VaeOutput, reparameterize};
pub use netlens_fetch::runs::{HoldoutSplit, VaeEpochMetrics, VaeHistory, VaeTrainConfig};
pub use trainer::{VaeEvaluation, evaluate_vae, holdout_split, load_vae, train_vae};
