//! A convolutional variational autoencoder (Kingma & Welling 2014) for RGB faces: model
//! ([`Vae`], [`VaeConfig`]), loss ([`Reconstruction`], β · KL), training with a seeded 10 %
//! held-out split, checkpoints and exact resume in a [`crate::RunDir`] ([`train_vae`]), and export
//! of the encoder (image → μ, log σ²) and the decoder (z → image) as two ONNX files
//! ([`export_vae`]).
//!
//! A VAE run folder holds, besides the [`crate::RunDir`] files (`config.json` = [`VaeTrainConfig`],
//! `history.json` = [`VaeHistory`], `model_card.json`, `checkpoint/`):
//!
//! | file | content |
//! | --- | --- |
//! | `split.json` | [`HoldoutSplit`]: indices of the training and held-out images |
//! | `heldout_reconstructions.npy` | float32 `(N_heldout, 3, size, size)`: the final model's reconstructions (from μ) of the held-out images, in split order |
//! | `encoder.onnx`, `decoder.onnx` | written by the `netlens vae` command from [`export_vae`] |

mod export;
mod history;
mod loss;
mod model;
mod trainer;

pub use export::export_vae;
pub use history::{VaeEpochMetrics, VaeHistory};
pub use loss::{LossTerms, Reconstruction, kl_divergence, loss_terms, reconstruction};
pub use model::{IMAGE_CHANNELS, Upsample, Vae, VaeConfig, VaeDecoder, VaeEncoder, VaeOutput, reparameterize};
pub use trainer::{
    DECODER_ONNX, DEFAULT_BETA, DEFAULT_VAE_EPOCHS, ENCODER_ONNX, HELDOUT_RECONSTRUCTIONS, HoldoutSplit, SPLIT_FILE,
    VaeEvaluation, VaeProgress, VaeTrainConfig, evaluate_vae, holdout_split, load_vae, train_vae,
};
