//! Intermediate-layer features: class-balanced samples, PCA and t-SNE embeddings, separation
//! scores, and the per-layer study that ties them together.
//!
//! - [`sampling::balanced_sample`]: seeded, `per_class` examples of every class.
//! - [`pca::Pca`]: exact PCA with shares of the *total* variance.
//! - [`tsne::tsne`]: t-SNE (bhtsne, every core above 500 samples) after PCA to 50 dimensions, on a big-stack thread.
//! - [`scores`]: silhouette and leave-one-out k-NN accuracy.
//! - [`study_layer`]: all of it for one tapped layer, with SVG/`.npy`/CSV outputs;
//!   [`study_to_dir`]: the whole `netlens features` (sample, taps, every layer, `summary.json`).

pub mod pca;
mod run;
pub mod sampling;
pub mod scores;
mod study;
pub mod tsne;

pub use run::{FeatureOptions, FeatureProgress, study_to_dir};
pub use study::{
    EmbedParams, EmbeddingMethod, EmbeddingRecord, LayerRecord, LayerStudy, Sample, feature_matrix, file_stem,
    study_layer,
};
