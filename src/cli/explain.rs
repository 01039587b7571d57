//! `netlens explain`: Grad-CAM, HiResCAM, Integrated Gradients and Shapley values for any ONNX image
//! classifier.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens_analyze::explain::pipeline::{ExplainInputs, ExplainOptions};
use netlens_fetch::runs::{
    BaselineKind, DeviceName, ExplainMethod, ExplainSettings, FaithfulnessSettings, IntegratedGradientsSettings, Rule,
    ShapleyEstimator, ShapleySettings, Target,
};

/// Explain a classifier's predictions with Grad-CAM, HiResCAM, Integrated Gradients and Shapley values.
///
/// Gradients come from evaluating the ONNX graph with burn autodiff (no Python); Shapley values
/// from batched forward passes (tract on small images, see `--device`). For each image it writes `OUT/<name>.png` (the image
/// and one panel per method, class names in the titles) and, for all images,
/// `OUT/explanations.json` with the raw maps, logits and scores (IG completeness error,
/// Shapley standard errors and efficiency gap, rank correlations between the maps, and with
/// `--faithfulness` the deletion/insertion curves and AUCs against a random order).
///
/// Every image, from a file or from `--data`, goes through one preprocessing (`--preprocess`,
/// printed): by default what the model records in its ONNX metadata (netlens's exports and
/// `netlens fetch resnet34 --from` conversions do), else torchvision's ImageNet transform for
/// 3×224×224 inputs and the model's channels and size with pixels in [0, 1] otherwise.
/// With more than one image, `OUT/contact_sheet.png` holds all the figures.
///
/// Example: `netlens explain runs/cnn/model.onnx --data ../shared/data/fashion-mnist-small
/// --index 0,1,2 --methods gradcam,ig,shapley --out reports/explain`
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The ONNX classifier (input `[batch, channels, height, width]`, output logits).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Image files (PNG or JPEG) to explain.
    #[arg(long = "image", value_name = "FILE", num_args = 1.., required_unless_present = "data", conflicts_with = "data")]
    pub images: Vec<PathBuf>,
    /// Data to explain: a folder of images (with or without one subfolder per class), or any
    /// layout `netlens features --data` reads (course .npy, IDX, .npz, CIFAR-10 batches).
    /// Every image, or those of `--index`.
    #[arg(long, value_name = "DIR|FILE")]
    pub data: Option<PathBuf>,
    /// How images become the model's input: `imagenet`, `unit`, `none` or a TOML file (see
    /// `netlens features --help`) [default: from the model's metadata, else its input shape].
    #[arg(long, value_name = "imagenet|unit|none|FILE.toml")]
    pub preprocess: Option<String>,
    /// Indices into `--data` (its test split; files in sorted order), e.g. `0,1,2`
    /// [default: every image].
    #[arg(long, value_name = "I", num_args = 1.., value_delimiter = ',')]
    pub index: Vec<usize>,
    /// Methods to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ExplainMethod::ALL)]
    pub methods: Vec<ExplainMethod>,
    /// The class to explain: `auto` (the predicted class) or a class index.
    #[arg(long, default_value = "auto")]
    pub target: Target,
    /// Grad-CAM layer: `auto` (the last convolutional feature map) or an ONNX tensor name as
    /// `netlens inspect` lists it (e.g. `/relu2/Relu_output_0`).
    #[arg(long, default_value = "auto")]
    pub layer: String,
    /// Output folder.
    #[arg(long, default_value = "reports/explain")]
    pub out: PathBuf,
    /// Integrated Gradients: number of path points.
    #[arg(long, default_value_t = IntegratedGradientsSettings::DEFAULT_STEPS)]
    pub steps: usize,
    /// Integrated Gradients: the quadrature rule.
    #[arg(long, value_enum, default_value_t = Rule::Trapezoid)]
    pub rule: Rule,
    /// The baseline image x′ that stands for absent pixels, shared by every method: where
    /// Integrated Gradients starts, what replaces Shapley's absent patches, and what the
    /// deletion/insertion curves put in place of removed pixels. `blurred` (the default) also
    /// removes the evidence of dark pixels, which `zeros` (black for [0, 1] images, the mean
    /// colour after ImageNet normalisation) cannot.
    #[arg(long, value_enum, default_value_t = BaselineKind::Blurred)]
    pub baseline: BaselineKind,
    /// Standard deviation in pixels of the `blurred` baseline; `auto` = a sixth of the model
    /// input's larger side (5.3 at 32×32, 37 at 224×224).
    #[arg(long, default_value = "auto", value_parser = parse_sigma)]
    pub blur_sigma: Sigma,
    /// Shapley: the image is cut into GRID × GRID patches (the players).
    #[arg(long, default_value_t = ShapleySettings::DEFAULT_GRID)]
    pub grid: usize,
    /// Shapley: number of sampled orders (even; antithetic pairs). `kernel` spends the model
    /// calls this many orders would take (n − 1 each, for n patches) on coalition pairs;
    /// `exact` ignores it.
    #[arg(long, default_value_t = ShapleySettings::DEFAULT_PERMUTATIONS)]
    pub permutations: usize,
    /// Shapley: `permutation` (orders in antithetic pairs, Castro et al. 2009), `kernel`
    /// (unbiased KernelSHAP with paired sampling, Covert & Lee 2021) or `exact` (all 2^n
    /// coalitions, up to 20 patches).
    #[arg(long, value_enum, default_value_t = ShapleyEstimator::Permutation)]
    pub shapley_estimator: ShapleyEstimator,
    /// Also compute deletion/insertion curves (RISE) and their AUC against a random order.
    #[arg(long)]
    pub faithfulness: bool,
    /// Points on each deletion/insertion curve.
    #[arg(long, default_value_t = FaithfulnessSettings::DEFAULT_STEPS)]
    pub curve_steps: usize,
    /// Random seed (Shapley orders, noise baseline, random deletion orders).
    #[arg(long, default_value_t = ExplainSettings::DEFAULT_SEED)]
    pub seed: u64,
    /// burn device of the gradient methods (Grad-CAM, HiResCAM, IG): flex (pure-Rust CPU,
    /// always built); cpu, wgpu and cuda need the cargo feature of the same name. Shapley values
    /// and deletion curves run their forward passes on tract (CPU) for images under 64×64 pixels
    /// and on this device from 64×64 up, or where tract cannot run the model or its logits differ
    /// from this device's (`sampling_engine` in explanations.json says which ran).
    #[arg(long, value_enum, default_value_t = DeviceName::Flex)]
    pub device: DeviceName,
    /// Class names for the titles, one per line in logit order [default: ImageNet's for
    /// 1000-class models; the data set's for --data; Fashion-MNIST's for a netlens run
    /// folder's model.onnx].
    #[arg(long, value_name = "FILE")]
    pub class_names: Option<PathBuf>,
}

/// `--blur-sigma`: `auto` or a positive number of pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sigma(Option<f32>);

fn parse_sigma(s: &str) -> Result<Sigma, String> {
    if s == "auto" {
        return Ok(Sigma(None));
    }
    s.parse()
        .ok()
        .filter(|v: &f32| v.is_finite() && *v > 0.0)
        .map(|v| Sigma(Some(v)))
        .ok_or_else(|| format!("expected `auto` or a positive number of pixels, found `{s}`"))
}

impl ExplainArgs {
    fn options(&self) -> ExplainOptions {
        ExplainOptions {
            methods: self.methods.clone(),
            target: self.target,
            layer: (self.layer != "auto").then(|| self.layer.clone()),
            steps: self.steps,
            rule: self.rule,
            baseline: self.baseline,
            blur_sigma: self.blur_sigma.0,
            grid: self.grid,
            permutations: self.permutations,
            shapley_estimator: self.shapley_estimator,
            faithfulness: self.faithfulness.then_some(FaithfulnessSettings {
                steps: self.curve_steps,
                seed: self.seed,
                ..FaithfulnessSettings::default()
            }),
            seed: self.seed,
            preprocess: self.preprocess.clone(),
            device: self.device,
        }
    }
}

/// Runs `netlens explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let inputs = match &args.data {
        Some(dir) => ExplainInputs::Dataset { dir: dir.clone(), indices: args.index.clone() },
        None => ExplainInputs::Files(args.images.clone()),
    };
    super::announce_device(args.device)?;
    let options = args.options();
    let written = netlens::pipeline::steps::explain_on_device(
        &args.model,
        &inputs,
        &options,
        args.class_names.as_deref(),
        &args.out,
        |line| eprintln!("{line}"),
    )
    .with_context(|| format!("explaining with {}", args.model.display()))?;
    for p in written.figures.iter().chain(&written.contact_sheet) {
        println!("{}", p.display());
    }
    println!("{}", written.json.display());
    Ok(())
}
