//! `netlens features`: embed intermediate-layer features of an ONNX model with PCA and t-SNE.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use netlens_analyze::features::sampling::{DEFAULT_PER_CLASS, balanced_sample};
use netlens_analyze::features::tsne::TsneParams;
use netlens_analyze::features::{EmbedParams, LayerStudy, Method, study_layer};
use netlens_fetch::{Dataset, Split, load_split};
use netlens_onnx::{LayerSelection, TapOutput, TapRunner, select_taps};
use serde_json::json;

use super::progress_bar;

/// Embedding methods on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Principal component analysis (shares of the total variance on the axes).
    Pca,
    /// t-SNE (Barnes–Hut, θ = 0.5), after PCA to 50 dimensions for wider features.
    Tsne,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Pca => Method::Pca,
            MethodArg::Tsne => Method::Tsne,
        }
    }
}

/// Embed the features of chosen layers with PCA and t-SNE, and score how classes separate.
///
/// Runs the model with tract on a class-balanced, seeded sample of the test split, taps the
/// chosen layers, and writes to OUT, per layer and method: `<layer>_<method>.svg` (scatter
/// coloured by class), `.npy` (`[n, dims]` float32) and `.csv` (index, label, class,
/// coordinates); and `summary.json` with, per layer, the 5-NN leave-one-out accuracy in the
/// feature space and, per embedding, the silhouette score, the 5-NN accuracy and (PCA) each
/// component's share of the total variance.
///
/// Example: `netlens features runs/lenet/model.onnx --data ../shared/data/fashion-mnist-small
/// --layers auto --methods pca,tsne --out reports/lenet/features`
#[derive(Args, Debug)]
pub struct FeaturesArgs {
    /// The ONNX image classifier (input `[batch, channels, height, width]`, pixels in [0, 1]).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Data folder with the test split (course .npy layout or Fashion-MNIST IDX files).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// `auto` (first and last conv, first hidden FC, final layer) or comma-separated layer
    /// names from `netlens inspect` (readable or ONNX tensor names).
    #[arg(long, default_value = "auto", value_name = "auto|a,b,c")]
    pub layers: String,
    /// Embedding methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [MethodArg::Pca, MethodArg::Tsne])]
    pub methods: Vec<MethodArg>,
    /// Embedding dimensions: 2, or 3 for a projected 3-D scatter.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub dims: u8,
    /// Test images per class (at least 15; all classes are used).
    #[arg(long, default_value_t = DEFAULT_PER_CLASS)]
    pub per_class: usize,
    /// t-SNE perplexity (effective neighbours); needs n − 1 ≥ 3 · perplexity.
    #[arg(long, default_value_t = 30.0)]
    pub perplexity: f64,
    /// t-SNE gradient-descent iterations.
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    /// Seed of the sample and of t-SNE's initial embedding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per tract run.
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    /// Also write each layer's t-SNE input (`<layer>_tsne_input.npy`), e.g. for `bench/tsne.py`.
    #[arg(long)]
    pub save_tsne_input: bool,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl FeaturesArgs {
    fn embed_params(&self) -> EmbedParams {
        EmbedParams {
            methods: self.methods.iter().map(|&m| m.into()).collect(),
            tsne: TsneParams {
                dims: self.dims as usize,
                perplexity: self.perplexity,
                iterations: self.iterations,
                seed: self.seed,
            },
            save_tsne_input: self.save_tsne_input,
        }
    }
}

/// Runs `netlens features`.
pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let summary = netlens_onnx::inspect(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let selection: LayerSelection = args.layers.parse()?;
    let taps = select_taps(&summary, &selection)?;
    let test = load_split(&args.data, Split::Test)
        .with_context(|| format!("loading the test split of {}", args.data.display()))?;
    let indices = balanced_sample(&test.labels, &test.class_names, args.per_class, args.seed)?;
    let sample = test.select(&indices);
    let params = args.embed_params();
    params.check(sample.len())?;
    let runner = TapRunner::new(&args.model, taps)?;
    let outputs = tap(&runner, &sample, args.batch_size)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let studies = study(&outputs, &sample, &indices, &params, &args)?;
    write_summary(&args, &sample, &studies)?;
    print_scores(&studies);
    println!("wrote {}", args.out.display());
    Ok(())
}

fn tap(runner: &TapRunner, sample: &Dataset, batch_size: usize) -> anyhow::Result<Vec<TapOutput>> {
    let bar = progress_bar(sample.len() as u64, "tract");
    let outputs = runner.run(&sample.images, batch_size.max(1), |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    Ok(outputs)
}

fn study(
    outputs: &[TapOutput],
    sample: &Dataset,
    indices: &[usize],
    params: &EmbedParams,
    args: &FeaturesArgs,
) -> anyhow::Result<Vec<LayerStudy>> {
    let bar = progress_bar((outputs.len() * params.methods.len()) as u64, "embed");
    let s = netlens_analyze::features::Sample { labels: &sample.labels, indices, class_names: &sample.class_names };
    let mut studies = Vec::with_capacity(outputs.len());
    for output in outputs {
        let layer = output.tap.layer.clone();
        let study = study_layer(output, &s, params, &args.out, |m| {
            bar.set_message(format!("{layer} {}", m.name()));
            bar.inc(1);
        })
        .with_context(|| format!("layer `{layer}`"))?;
        studies.push(study);
    }
    bar.finish_and_clear();
    Ok(studies)
}

fn write_summary(args: &FeaturesArgs, sample: &Dataset, studies: &[LayerStudy]) -> anyhow::Result<()> {
    let summary = json!({
        "model": args.model,
        "data": args.data,
        "split": "test",
        "samples": sample.len(),
        "per_class": args.per_class,
        "seed": args.seed,
        "dims": args.dims,
        "perplexity": args.perplexity,
        "iterations": args.iterations,
        "knn_k": netlens_analyze::features::scores::KNN_K,
        "class_names": sample.class_names,
        "layers": studies,
    });
    let path = args.out.join("summary.json");
    netlens_fetch::write_atomically(&path, serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(())
}

fn print_scores(studies: &[LayerStudy]) {
    println!(
        "{:<16} {:<8} {:>9} {:>10} {:<6} {:>10} {:>10} {:>8}",
        "layer", "op", "features", "5-NN feat", "method", "silhouette", "5-NN emb", "seconds"
    );
    for s in studies {
        for e in &s.embeddings {
            println!(
                "{:<16} {:<8} {:>9} {:>10.3} {:<6} {:>10.3} {:>10.3} {:>8.2}",
                s.layer,
                s.op,
                s.features,
                s.knn_accuracy,
                e.method.name(),
                e.silhouette,
                e.knn_accuracy,
                e.seconds
            );
        }
    }
}
