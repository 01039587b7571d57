//! `netlens features` without the command line: sample the test split, tap the layers with
//! tract, study each layer and write `summary.json` ([`FeatureSummary`]).

use std::path::Path;

use netlens_fetch::runs::{EmbeddingMethod, FeatureSummary, InvalidSetting, write_json};
use netlens_fetch::{DataSource, Split};
use netlens_onnx::{Dim, LayerSelection, ModelSummary, TapRunner, select_taps};
use serde::{Deserialize, Serialize};

use super::sampling::{DEFAULT_PER_CLASS, SamplingRule, balanced_sample};
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
    /// Test images per class: on the course's data at least 15 of every class (n ≥ 150);
    /// on other data up to this many of each class (a smaller class gives all it has).
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
    /// Classes to keep (names or indices), in this order; empty: all.
    #[serde(default)]
    pub classes: Vec<String>,
    /// `imagenet`, `unit`, `none` or a TOML file; `None`: what the model records, else a
    /// guess from its input shape (see [`crate::model_input::model_preprocess`]).
    #[serde(default)]
    pub preprocess: Option<String>,
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
            classes: vec![],
            preprocess: None,
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
    /// Something the user should see before the work starts: the preprocessing assumed, a
    /// skipped file, a class smaller than asked.
    Note(&'a str),
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
    let preprocess = crate::model_input::model_preprocess(
        model,
        input_chw(&summary),
        &summary.metadata,
        options.preprocess.as_deref(),
    )?;
    progress(FeatureProgress::Note(&format!("preprocessing {}", preprocess.describe())));
    let (source, indices) = sample_source(data, options, &mut progress)?;
    let sample = source.load(&indices, &preprocess)?;
    let class_counts =
        (0..sample.class_names.len()).map(|c| sample.labels.iter().filter(|&&l| l as usize == c).count()).collect();
    let mut params = options.embed_params();
    // The default perplexity needs n − 1 ≥ 90 images; a smaller sample (a few classes of a user's
    // folder) gets the largest perplexity it allows, said in the progress, instead of an error.
    // A perplexity the user chose is checked as given.
    let most = (sample.len() as f64 - 1.0) / 3.0;
    let lowered = options.perplexity == TsneParams::default().perplexity
        && most < options.perplexity
        && params.methods.contains(&EmbeddingMethod::Tsne);
    if lowered && most < super::tsne::MIN_PERPLEXITY {
        let reason = format!(
            "t-SNE needs n − 1 ≥ 3 · perplexity and a perplexity of at least {}, so at least 7 images; the sample \
             has {}: give more images (--per-class, --classes) or leave t-SNE out (--methods pca)",
            super::tsne::MIN_PERPLEXITY,
            sample.len()
        );
        return Err(netlens_fetch::runs::InvalidSetting::new("perplexity", "30 (the default)", &reason).into());
    }
    if lowered {
        params.tsne.perplexity = most.floor();
        progress(FeatureProgress::Note(&format!(
            "t-SNE perplexity lowered from the default {} to {} for {} images (t-SNE needs n − 1 ≥ 3 · perplexity)",
            options.perplexity,
            params.tsne.perplexity,
            sample.len()
        )));
    }
    params.check(sample.len())?;
    let runner = TapRunner::new(model, taps)?;
    let total = sample.len();
    let inputs = crate::model_input::normalized(&sample.images, &preprocess);
    let outputs =
        runner.run(&inputs, options.batch_size.max(1), |done| progress(FeatureProgress::Tapped { done, total }))?;
    std::fs::create_dir_all(out).map_err(|source| crate::error::AnalyzeError::Io { path: out.into(), source })?;
    let name = model_name(model);
    let s = Sample { labels: &sample.labels, indices: &indices, class_names: &sample.class_names, model_name: &name };
    // Every layer is checked before the first figure is drawn.
    for output in &outputs {
        super::study::check_features(output, &s)?;
        if super::study::features_are_constant(output) {
            progress(FeatureProgress::Note(&format!(
                "layer `{}` gives every image the same features (a dead or constant layer): its PCA and t-SNE \
                 maps have no structure to show, and any spread in them is noise",
                output.tap.layer
            )));
        }
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
        perplexity: params.tsne.perplexity,
        iterations: options.iterations,
        theta: options.methods.contains(&EmbeddingMethod::Tsne).then(|| theta_for(sample.len())),
        knn_k: KNN_K,
        class_names: sample.class_names.clone(),
        class_counts,
        data_format: Some(source.format()),
        preprocess: Some(preprocess),
        layers: studies.iter().map(|s| s.record.clone()).collect(),
    };
    write_json(&out.join(netlens_fetch::runs::FEATURE_SUMMARY), &record)?;
    Ok((record, studies))
}

/// The model's input `[channels, height, width]` when every axis after the batch is fixed.
pub(crate) fn input_chw(summary: &ModelSummary) -> Option<[usize; 3]> {
    let shape = summary.input.shape.as_ref()?;
    match shape.get(1..)? {
        [Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)] => Some([*c, *h, *w]),
        _ => None,
    }
}

/// Opens the test split of `data`, keeps `options.classes` and draws the class-balanced
/// sample: the course's rule on the course's data with all its classes, up to `per_class` of
/// each class otherwise. Skipped files and short classes are noted.
fn sample_source(
    data: &Path,
    options: &FeatureOptions,
    progress: &mut impl FnMut(FeatureProgress<'_>),
) -> Result<(DataSource, Vec<usize>)> {
    let mut source = DataSource::open(data, Split::Test)?;
    if !options.classes.is_empty() {
        source = source.keep_classes(&options.classes)?;
    }
    for warning in source.warnings() {
        progress(FeatureProgress::Note(&format!("warning: {warning}")));
    }
    if !source.labelled() {
        let reason = "features need labelled images: put them in one folder per class (ROOT/CLASS/*.png)";
        return Err(InvalidSetting::new("data", data.display(), reason).into());
    }
    let rule = if source.format().is_course() && options.classes.is_empty() {
        SamplingRule::Course
    } else {
        SamplingRule::UpTo
    };
    let indices = balanced_sample(source.labels(), source.class_names(), options.per_class, options.seed, rule)?;
    for (c, name) in source.class_names().iter().enumerate() {
        let n = indices.iter().filter(|&&i| source.labels()[i] as usize == c).count();
        if n < options.per_class {
            progress(FeatureProgress::Note(&format!(
                "class `{name}` has {n} images, fewer than --per-class {}: all are used",
                options.per_class
            )));
        }
    }
    Ok((source, indices))
}
