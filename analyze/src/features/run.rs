//! `netlens features` without the command line: sample the test split, tap the layers with
//! tract, study each layer and write `summary.json` ([`FeatureSummary`]).

use std::path::Path;

use netlens_fetch::runs::{EmbeddingMethod, FeatureSummary, write_json};
use netlens_fetch::{Split, load_split};
use netlens_onnx::{LayerSelection, TapRunner, select_taps};
use serde::{Deserialize, Serialize};

use super::sampling::{DEFAULT_PER_CLASS, balanced_sample};
use super::scores::KNN_K;
use super::study::{EmbedParams, LayerStudy, Sample, study_layer};
use super::tsne::{TsneParams, theta_for};
use crate::error::Result;

/// The choices of a feature study, as the command line and a `netlens run` plan give them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureOptions {
    /// `auto` (first and last conv, first hidden FC, final layer) or comma-separated layer
    /// names as `netlens inspect` lists them (readable or ONNX tensor names).
    pub layers: String,
    /// Embedding methods, in order.
    pub methods: Vec<EmbeddingMethod>,
    /// Embedding dimensions: 2 or 3.
    pub dims: usize,
    /// Test images per class (at least 15; every class is used).
    pub per_class: usize,
    /// t-SNE perplexity (effective neighbours); needs n − 1 ≥ 3 · perplexity.
    pub perplexity: f64,
    /// t-SNE gradient-descent iterations.
    pub iterations: usize,
    /// Seed of the sample and of t-SNE's initial embedding.
    pub seed: u64,
    /// Images per tract run (memory, not results).
    pub batch_size: usize,
    /// Also write each layer's t-SNE input (`<layer>_tsne_input.npy`), e.g. for benchmarks.
    pub save_tsne_input: bool,
}

impl Default for FeatureOptions {
    /// `auto` layers, PCA and t-SNE in 2-D, 30 images per class, perplexity 30, 1,000
    /// iterations, seed 0, 50 images per tract run.
    fn default() -> Self {
        let tsne = TsneParams::default();
        FeatureOptions {
            layers: "auto".into(),
            methods: vec![EmbeddingMethod::Pca, EmbeddingMethod::Tsne],
            dims: tsne.dims,
            per_class: DEFAULT_PER_CLASS,
            perplexity: tsne.perplexity,
            iterations: tsne.iterations,
            seed: tsne.seed,
            batch_size: 50,
            save_tsne_input: false,
        }
    }
}

impl FeatureOptions {
    fn embed_params(&self) -> EmbedParams {
        EmbedParams {
            methods: self.methods.clone(),
            tsne: TsneParams {
                dims: self.dims,
                perplexity: self.perplexity,
                iterations: self.iterations,
                seed: self.seed,
            },
            save_tsne_input: self.save_tsne_input,
        }
    }
}

/// Where a feature study is.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureProgress<'a> {
    /// `done` of `total` images have run through the model.
    Tapped { done: usize, total: usize },
    /// The next embedding (`index` of `total`, 0-based) is of `layer` by `method`.
    Embedding { layer: &'a str, method: EmbeddingMethod, index: usize, total: usize },
}

/// A model's name for figure titles: the run folder's name for a netlens run's `model.onnx`
/// (`runs/cnn/model.onnx` → `cnn`), else the file's stem (`resnet34.onnx` → `resnet34`).
fn model_name(model: &Path) -> String {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match model.parent().and_then(Path::file_name) {
        Some(folder) if stem == "model" => folder.to_string_lossy().into_owned(),
        _ => stem,
    }
}

/// Studies the features of the model at `model` on a class-balanced sample of the test split
/// in `data`: taps the layers of `options`, embeds each with each method, writes the figures,
/// arrays and CSV files into `out` and, last and atomically, `out/summary.json`. Returns the
/// summary and the studied layers (with their points).
///
/// # Errors
/// Model, data, parameter and I/O errors, each naming the file, layer or setting; settings are
/// checked before `out` is made.
pub fn study_to_dir(
    model: &Path,
    data: &Path,
    options: &FeatureOptions,
    out: &Path,
    mut progress: impl FnMut(FeatureProgress<'_>),
) -> Result<(FeatureSummary, Vec<LayerStudy>)> {
    let summary = netlens_onnx::inspect(model)?;
    let selection: LayerSelection = match options.layers.parse() {
        Ok(selection) => selection,
        Err(never) => match never {},
    };
    let taps = select_taps(&summary, &selection)?;
    let test = load_split(data, Split::Test)?;
    let indices = balanced_sample(&test.labels, &test.class_names, options.per_class, options.seed)?;
    let sample = test.select(&indices);
    let params = options.embed_params();
    params.check(sample.len())?;
    let runner = TapRunner::new(model, taps)?;
    let total = sample.len();
    let outputs = runner
        .run(&sample.images, options.batch_size.max(1), |done| progress(FeatureProgress::Tapped { done, total }))?;
    std::fs::create_dir_all(out).map_err(|source| crate::error::AnalyzeError::Io { path: out.into(), source })?;
    let name = model_name(model);
    let s = Sample { labels: &sample.labels, indices: &indices, class_names: &sample.class_names, model_name: &name };
    // Every layer is checked before the first figure is drawn.
    for output in &outputs {
        super::study::check_features(output, &s)?;
    }
    let steps = outputs.len() * params.methods.len();
    let mut studies = Vec::with_capacity(outputs.len());
    for output in &outputs {
        let layer = output.tap.layer.clone();
        let done = studies.len() * params.methods.len();
        let mut k = 0;
        let study = study_layer(output, &s, &params, out, |method| {
            progress(FeatureProgress::Embedding { layer: &layer, method, index: done + k, total: steps });
            k += 1;
        })?;
        studies.push(study);
    }
    let record = FeatureSummary {
        model: model.into(),
        data: data.into(),
        split: "test".into(),
        samples: sample.len(),
        per_class: options.per_class,
        seed: options.seed,
        dims: options.dims,
        perplexity: options.perplexity,
        iterations: options.iterations,
        theta: options.methods.contains(&EmbeddingMethod::Tsne).then(|| theta_for(sample.len())),
        knn_k: KNN_K,
        class_names: sample.class_names.clone(),
        layers: studies.iter().map(|s| s.record.clone()).collect(),
    };
    write_json(&out.join(netlens_fetch::runs::FEATURE_SUMMARY), &record)?;
    Ok((record, studies))
}
