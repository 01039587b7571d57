//! A feature study (`netlens features`), saved as `features/summary.json`: the sample, the
//! settings, and per tapped layer its separation scores in the feature space and in each
//! embedding.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An embedding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingMethod {
    /// Principal component analysis (shares of the total variance on the axes).
    Pca,
    /// t-SNE (van der Maaten & Hinton 2008), after PCA to 50 dimensions for wider features.
    Tsne,
}

impl EmbeddingMethod {
    /// `pca` or `tsne`, as in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EmbeddingMethod::Pca => "pca",
            EmbeddingMethod::Tsne => "tsne",
        }
    }

    /// `PCA` or `t-SNE`, for titles.
    pub fn title(self) -> &'static str {
        match self {
            EmbeddingMethod::Pca => "PCA",
            EmbeddingMethod::Tsne => "t-SNE",
        }
    }
}

impl fmt::Display for EmbeddingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a layer was tapped (for figure titles and the report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerRole {
    /// A convolutional layer.
    Convolution,
    /// A hidden fully connected layer.
    FullyConnected,
    /// The layer producing the model's (first) output.
    Final,
    /// Any other layer the user named.
    Other,
}

/// One embedding of one layer, with its separation scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRecord {
    /// How it was made.
    pub method: EmbeddingMethod,
    /// Width of the method's input (t-SNE: after PCA to at most 50).
    pub input_dims: usize,
    /// Wall-clock time of the method itself, seconds (t-SNE: excluding the PCA to 50).
    pub seconds: f64,
    /// Mean silhouette of the classes in the embedding, in `[−1, 1]`.
    pub silhouette: f64,
    /// Leave-one-out k-NN accuracy in the embedding, in `[0, 1]`.
    pub knn_accuracy: f64,
    /// PCA only: each component's share of the *total* variance of the layer's features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance_share: Option<Vec<f64>>,
    /// Files written: figure (SVG), coordinates (`.npy` float32 `[n, dims]`), CSV.
    pub files: Vec<PathBuf>,
}

/// All embeddings of one tapped layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Readable layer name (`conv1`).
    pub layer: String,
    /// Original ONNX tensor name (`/conv1/Conv_output_0`).
    pub tensor: String,
    /// ONNX op producing it.
    pub op: String,
    /// Why the layer was chosen.
    pub role: LayerRole,
    /// One sample's output shape, e.g. `[6, 28, 28]`.
    pub sample_shape: Vec<usize>,
    /// Features per sample (flattened).
    pub features: usize,
    /// Leave-one-out k-NN accuracy in the original feature space, in `[0, 1]`.
    pub knn_accuracy: f64,
    /// One per method, in the order they ran.
    pub embeddings: Vec<EmbeddingRecord>,
}

impl LayerRecord {
    /// The embedding made by `method`, if it ran.
    pub fn embedding(&self, method: EmbeddingMethod) -> Option<&EmbeddingRecord> {
        self.embeddings.iter().find(|e| e.method == method)
    }
}

/// `summary.json` of a feature study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// The ONNX model, as given.
    pub model: PathBuf,
    /// The data folder, as given.
    pub data: PathBuf,
    /// The split sampled (`test`).
    pub split: String,
    /// Number of samples `n`.
    pub samples: usize,
    /// Samples per class.
    pub per_class: usize,
    /// Seed of the sample and of t-SNE's initial embedding.
    pub seed: u64,
    /// Embedding dimensions (2 or 3).
    pub dims: usize,
    /// t-SNE perplexity.
    pub perplexity: f64,
    /// t-SNE iterations.
    pub iterations: usize,
    /// t-SNE's Barnes–Hut θ (0 = exact); absent in files of older versions.
    #[serde(default)]
    pub theta: Option<f64>,
    /// k of the k-NN accuracies.
    pub knn_k: usize,
    /// Class names in label order.
    pub class_names: Vec<String>,
    /// Samples of each class, in label order (fewer than `per_class` where a class of a
    /// non-course data set has fewer); empty in files of older versions.
    #[serde(default)]
    pub class_counts: Vec<usize>,
    /// The layout the data was read from; absent in files of older versions.
    #[serde(default)]
    pub data_format: Option<crate::DataFormat>,
    /// The preprocessing that made the model's inputs; absent in files of older versions
    /// (which fed the data's `[0, 1]` pixels as they were).
    #[serde(default)]
    pub preprocess: Option<crate::Preprocess>,
    /// One record per tapped layer, in graph order of the selection.
    pub layers: Vec<LayerRecord>,
}
