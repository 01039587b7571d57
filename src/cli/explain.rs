//! `netlens explain`: Grad-CAM, Integrated Gradients and Shapley values for any ONNX image
//! classifier.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use netlens_analyze::explain::pipeline::{
    ExplainConfig, Faithfulness, InputImage, Methods, Normalisation, explain_to_dir, load_image,
};
use netlens_analyze::explain::{Baseline, GradCam, IntegratedGradients, Rule, ShapleySampler, Target};
use netlens_fetch::imagenet::{IMAGENET_MEAN, IMAGENET_STD, imagenet_class_names};
use netlens_fetch::{Split, load_split};
use netlens_onnx::DifferentiableModel;

/// Explain a classifier's predictions with Grad-CAM, Integrated Gradients and Shapley values.
///
/// Gradients come from evaluating the ONNX graph with burn autodiff (no Python); Shapley values
/// from batched forward passes on tract. For each image it writes `OUT/<name>.png` (the image
/// and one panel per method, class names in the titles) and, for all images,
/// `OUT/explanations.json` with the raw maps, logits and scores (IG completeness error,
/// Shapley standard errors and efficiency gap, rank correlations between the maps, and with
/// `--faithfulness` the deletion/insertion curves and AUCs against a random order).
///
/// Images from files are converted to the model's channels (RGB → grey by luma) and resized
/// to its input size (bilinear); models with 1,000 classes and 3×224×224 inputs get
/// torchvision's ImageNet transform and class names. Images from `--data` must already have
/// the model's size: otherwise it is an error naming both shapes.
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
    /// A data set folder in the course layout (`X_test.npy`, `Y_test.npy`); use with `--index`.
    #[arg(long, value_name = "DIR", requires = "index")]
    pub data: Option<PathBuf>,
    /// Indices into the test split of `--data`, e.g. `0,1,2`.
    #[arg(long, value_name = "I", num_args = 1.., value_delimiter = ',')]
    pub index: Vec<usize>,
    /// Methods to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "gradcam,ig,shapley")]
    pub methods: Vec<MethodArg>,
    /// The class to explain: `auto` (the predicted class) or a class index.
    #[arg(long, default_value = "auto")]
    pub target: String,
    /// Grad-CAM layer: `auto` (the last convolutional feature map) or an ONNX tensor name as
    /// `netlens inspect` lists it (e.g. `/relu2/Relu_output_0`).
    #[arg(long, default_value = "auto")]
    pub layer: String,
    /// Output folder.
    #[arg(long, default_value = "reports/explain")]
    pub out: PathBuf,
    /// Integrated Gradients: number of path points.
    #[arg(long, default_value_t = 64)]
    pub steps: usize,
    /// Integrated Gradients: the quadrature rule.
    #[arg(long, value_enum, default_value_t = RuleArg::Trapezoid)]
    pub rule: RuleArg,
    /// The baseline image x′ that stands for absent pixels, shared by every method: where
    /// Integrated Gradients starts, what replaces Shapley's absent patches, and what the
    /// deletion/insertion curves put in place of removed pixels. `blurred` (the default) also
    /// removes the evidence of dark pixels, which `zeros` (black for [0, 1] images, the mean
    /// colour after ImageNet normalisation) cannot.
    #[arg(long, value_enum, default_value_t = BaselineArg::Blurred)]
    pub baseline: BaselineArg,
    /// Standard deviation in pixels of the `blurred` baseline; `auto` = a sixth of the model
    /// input's larger side (5.3 at 32×32, 37 at 224×224).
    #[arg(long, default_value = "auto")]
    pub blur_sigma: String,
    /// Shapley: the image is cut into GRID × GRID patches (the players).
    #[arg(long, default_value_t = 4)]
    pub grid: usize,
    /// Shapley: number of sampled orders (even; antithetic pairs).
    #[arg(long, default_value_t = 200)]
    pub permutations: usize,
    /// Also compute deletion/insertion curves (RISE) and their AUC against a random order.
    #[arg(long)]
    pub faithfulness: bool,
    /// Points on each deletion/insertion curve.
    #[arg(long, default_value_t = 20)]
    pub curve_steps: usize,
    /// Random seed (Shapley orders, noise baseline, random deletion orders).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Class names for the titles, one per line in logit order [default: ImageNet's for
    /// 1000-class models; Fashion-MNIST's for --data or a netlens run folder's model.onnx].
    #[arg(long, value_name = "FILE")]
    pub class_names: Option<PathBuf>,
}

/// An explanation method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Grad-CAM (Selvaraju et al. 2017).
    Gradcam,
    /// Integrated Gradients (Sundararajan et al. 2017).
    Ig,
    /// Shapley values of image patches by permutation sampling.
    Shapley,
}

/// Integrated Gradients quadrature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    Trapezoid,
    RiemannLeft,
    RiemannRight,
    RiemannMiddle,
}

/// The baseline image of every method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BaselineArg {
    Zeros,
    Blurred,
    Noise,
}

fn parse_target(s: &str) -> anyhow::Result<Target> {
    if s == "auto" {
        return Ok(Target::Predicted);
    }
    s.parse().map(Target::Class).with_context(|| format!("--target: expected `auto` or a class index, found `{s}`"))
}

/// Runs `netlens explain`.
pub fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let model = DifferentiableModel::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let dims = model.input_shape().to_vec();
    let Some(shape) = dims[1..].iter().copied().collect::<Option<Vec<usize>>>() else {
        bail!("{}: the input shape {dims:?} needs known channels, height and width", args.model.display());
    };
    let shape = [shape[0], shape[1], shape[2]];
    let classes = model.num_classes().unwrap_or(0);
    let imagenet = classes == 1000 && shape == [3, 224, 224];
    let norm = if imagenet { Normalisation::ImageNet } else { Normalisation::UnitRange };
    let (images, mut class_names) = inputs(&args, shape, norm)?;
    if let Some(file) = &args.class_names {
        class_names = read_class_names(file, classes)?;
    } else if imagenet {
        class_names = imagenet_class_names().into_iter().map(String::from).collect();
    } else if class_names.is_empty() && classes == 10 && is_netlens_classifier_run(&args.model) {
        // netlens trains its classifiers on the course's Fashion-MNIST layout.
        class_names = netlens_fetch::fashion_mnist_class_names();
    }
    let cfg = config(&args, shape, class_names)?;
    let written = explain_to_dir(&args.model, &images, &cfg, &args.out, |line| eprintln!("{line}"))
        .with_context(|| format!("explaining with {}", args.model.display()))?;
    for p in &written.figures {
        println!("{}", p.display());
    }
    println!("{}", written.json.display());
    Ok(())
}

/// `--class-names`: one name per non-empty line, as many as the model has classes.
fn read_class_names(file: &Path, classes: usize) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading --class-names {}", file.display()))?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if classes > 0 && names.len() != classes {
        bail!(
            "{}: expected {classes} class names (one per line, the model has {classes} logits), found {}",
            file.display(),
            names.len()
        );
    }
    Ok(names)
}

/// Whether `model` is the `model.onnx` of a `netlens train` run folder (its `config.json` names
/// an architecture).
fn is_netlens_classifier_run(model: &Path) -> bool {
    let config = model.with_file_name("config.json");
    std::fs::read_to_string(config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|c| c.get("architecture").is_some())
}

/// The baseline of `--baseline` and `--blur-sigma` for inputs of `[channels, height, width]`.
fn baseline(args: &ExplainArgs, [_, h, w]: [usize; 3]) -> anyhow::Result<Baseline> {
    let baseline = match args.baseline {
        BaselineArg::Zeros => Baseline::Zeros,
        BaselineArg::Blurred if args.blur_sigma == "auto" => Baseline::blurred_for(h, w),
        BaselineArg::Blurred => {
            let sigma = args.blur_sigma.parse().ok().filter(|s: &f32| s.is_finite() && *s > 0.0);
            let sigma = sigma.with_context(|| {
                format!("--blur-sigma: expected `auto` or a positive number of pixels, found `{}`", args.blur_sigma)
            })?;
            Baseline::Blurred { sigma }
        }
        BaselineArg::Noise => Baseline::UniformNoise { seed: args.seed },
    };
    Ok(baseline)
}

fn config(args: &ExplainArgs, shape: [usize; 3], class_names: Vec<String>) -> anyhow::Result<ExplainConfig> {
    let target = parse_target(&args.target)?;
    let layer = (args.layer != "auto").then(|| args.layer.clone());
    let baseline = baseline(args, shape)?;
    let rule = match args.rule {
        RuleArg::Trapezoid => Rule::Trapezoid,
        RuleArg::RiemannLeft => Rule::RiemannLeft,
        RuleArg::RiemannRight => Rule::RiemannRight,
        RuleArg::RiemannMiddle => Rule::RiemannMiddle,
    };
    let integrated_gradients = IntegratedGradients::params().steps(args.steps).rule(rule).baseline(baseline);
    integrated_gradients.check()?;
    Ok(ExplainConfig {
        methods: Methods {
            grad_cam: args.methods.contains(&MethodArg::Gradcam),
            integrated_gradients: args.methods.contains(&MethodArg::Ig),
            shapley: args.methods.contains(&MethodArg::Shapley),
        },
        target,
        grad_cam: GradCam::params().layer(layer),
        integrated_gradients,
        shapley: ShapleySampler::params().grid(args.grid, args.grid).permutations(args.permutations).seed(args.seed),
        faithfulness: args.faithfulness.then_some(Faithfulness {
            steps: args.curve_steps,
            random_draws: 3,
            seed: args.seed,
        }),
        baseline,
        class_names,
    })
}

/// The images to explain and the data set's class names (empty for files).
fn inputs(
    args: &ExplainArgs,
    shape: [usize; 3],
    norm: Normalisation,
) -> anyhow::Result<(Vec<InputImage>, Vec<String>)> {
    let Some(dir) = &args.data else {
        let images = args
            .images
            .iter()
            .map(|p| {
                let image = load_image(p, shape, norm).with_context(|| format!("reading {}", p.display()))?;
                // Say what was done to the file, so a converted input is never a surprise.
                if let Ok((w, h)) = image::image_dimensions(p) {
                    let [c, mh, mw] = shape;
                    let how = if norm == Normalisation::ImageNet {
                        "ImageNet preprocessing: resize 256, centre crop 224, normalise"
                    } else {
                        "converted and resized"
                    };
                    eprintln!("{}: {w}×{h} → {c}×{mh}×{mw} for the model ({how})", p.display());
                }
                Ok(image)
            })
            .collect::<anyhow::Result<_>>()?;
        return Ok((images, vec![]));
    };
    let data = load_split(dir, Split::Test).with_context(|| format!("loading {}", dir.display()))?;
    let [_, c, h, w] = data.images.shape;
    if [c, h, w] != shape {
        bail!(
            "{}: the test images are {c}×{h}×{w} but {} takes {}×{}×{} inputs; --data images are used as they are (use --image files, which are converted and resized, or a model for this data)",
            dir.display(),
            args.model.display(),
            shape[0],
            shape[1],
            shape[2]
        );
    }
    let mut images = Vec::with_capacity(args.index.len());
    for &i in &args.index {
        if i >= data.len() {
            bail!("--index {i} is outside the test split of {} ({} images)", dir.display(), data.len());
        }
        let display = data.images.image(i).to_vec();
        let pixels = match norm {
            Normalisation::UnitRange => display.clone(),
            Normalisation::ImageNet => display
                .iter()
                .enumerate()
                .map(|(k, &v)| (v - IMAGENET_MEAN[k / (h * w) % 3]) / IMAGENET_STD[k / (h * w) % 3])
                .collect(),
        };
        images.push(InputImage { name: format!("test-{i}"), pixels, display, shape: [c, h, w] });
    }
    Ok((images, data.class_names.clone()))
}
