//! `netlens features`: embed intermediate-layer features of an ONNX model with PCA and t-SNE.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens_analyze::features::sampling::DEFAULT_PER_CLASS;
use netlens_analyze::features::tsne::TsneParams;
use netlens_analyze::features::{FeatureOptions, study_to_dir};
use netlens_fetch::runs::{EmbeddingMethod, FeatureSummary};

use super::progress::Terminal;

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
    /// The data: a folder or file, its layout found on disk — the course .npy layout
    /// (`X_test.npy`, `Y_test.npy`), Fashion-MNIST IDX files, an image folder
    /// (`ROOT/CLASS/*.{png,jpg,jpeg,bmp,webp}`, classes sorted as torchvision's ImageFolder;
    /// `ROOT/test/` or `ROOT/val/` when present), a `.npz` with `x` and `y`, or CIFAR-10's
    /// binary batches (`test_batch.bin`). Files of an image folder that are not images are
    /// skipped with a warning.
    #[arg(long, value_name = "DIR|FILE")]
    pub data: PathBuf,
    /// Keep only these classes (names or indices, comma-separated), e.g. `cat,dog` or `0,3`.
    #[arg(long, value_name = "a,b,c", value_delimiter = ',')]
    pub classes: Vec<String>,
    /// How images become the model's input: `imagenet` (RGB, resize shorter side 256,
    /// centre crop 224, ImageNet mean/std), `unit` (the model's channels and size, pixels in
    /// [0, 1]), `none` (pixels in [0, 1] as stored; the data must fit the model) or a TOML
    /// file (`resize`, `crop`, `scale`, `mean`, `std`, `channels`, `channel_order`).
    /// [default: what the model records in its ONNX metadata, else `imagenet` for 3×224×224
    /// inputs and `unit` otherwise]
    #[arg(long, value_name = "imagenet|unit|none|FILE.toml")]
    pub preprocess: Option<String>,
    /// `auto` (first and last conv, first hidden FC, final layer) or comma-separated layer
    /// names from `netlens inspect` (readable or ONNX tensor names).
    #[arg(long, default_value = "auto", value_name = "auto|a,b,c")]
    pub layers: String,
    /// Embedding methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [EmbeddingMethod::Pca, EmbeddingMethod::Tsne])]
    pub methods: Vec<EmbeddingMethod>,
    /// Embedding dimensions: 2, or 3 for a projected 3-D scatter.
    #[arg(long, default_value_t = TsneParams::default().dims, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u8).range(2..=3), usize::from))]
    pub dims: usize,
    /// Test images per class: on the course's data at least 15 of all 10 classes (n ≥ 150);
    /// on other data up to this many of each class.
    #[arg(long, default_value_t = DEFAULT_PER_CLASS)]
    pub per_class: usize,
    /// t-SNE perplexity (effective neighbours), at least 2; needs n − 1 ≥ 3 · perplexity.
    #[arg(long, default_value_t = TsneParams::default().perplexity)]
    pub perplexity: f64,
    /// t-SNE gradient-descent iterations.
    #[arg(long, default_value_t = TsneParams::default().iterations)]
    pub iterations: usize,
    /// Seed of the sample and of t-SNE's initial embedding.
    #[arg(long, default_value_t = TsneParams::default().seed)]
    pub seed: u64,
    /// Images per tract run.
    #[arg(long, default_value_t = FeatureOptions::default().batch_size)]
    pub batch_size: usize,
    /// Also write each layer's t-SNE input (`<layer>_tsne_input.npy`), e.g. for `bench/tsne.py`.
    #[arg(long)]
    pub save_tsne_input: bool,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `netlens features`.
pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let options = FeatureOptions {
        layers: args.layers,
        methods: args.methods,
        dims: args.dims,
        per_class: args.per_class,
        perplexity: args.perplexity,
        iterations: args.iterations,
        seed: args.seed,
        batch_size: args.batch_size,
        save_tsne_input: args.save_tsne_input,
        classes: args.classes,
        preprocess: args.preprocess,
    };
    let mut terminal = Terminal::default();
    let (summary, _) = study_to_dir(&args.model, &args.data, &options, &args.out, |p| {
        netlens::pipeline::Reporter::features(&mut terminal, p)
    })
    .with_context(|| format!("studying the features of {} on {}", args.model.display(), args.data.display()))?;
    print_scores(&summary);
    println!("wrote {}", args.out.display());
    Ok(())
}

fn print_scores(summary: &FeatureSummary) {
    println!(
        "{:<16} {:<8} {:>9} {:>10} {:<6} {:>10} {:>10} {:>8}",
        "layer", "op", "features", "5-NN feat", "method", "silhouette", "5-NN emb", "seconds"
    );
    for s in &summary.layers {
        for e in &s.embeddings {
            println!(
                "{:<16} {:<8} {:>9} {:>10.3} {:<6} {:>10.3} {:>10.3} {:>8.2}",
                s.layer, s.op, s.features, s.knn_accuracy, e.method, e.silhouette, e.knn_accuracy, e.seconds
            );
        }
    }
}
