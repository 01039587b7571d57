//! `netlens explain` without the command line: load inputs for a model, run the chosen
//! methods, compare them, and write one PNG per image plus `explanations.json`
//! ([`netlens_fetch::runs::Explanations`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use netlens_fetch::imagenet::{IMAGENET_NUM_CLASSES, imagenet_class_names};
use netlens_fetch::runs::{
    DeletionInsertion, DeviceName, ExplainMethod, ExplainSettings, Explanations, FaithfulnessSettings, GradCam,
    ImageExplanation, InvalidSetting, MethodCurves, RandomOrderAuc, RunFolder, ShapleyEstimator, write_json,
};
use netlens_fetch::{DataSource, Images, Preprocess, Split};
use netlens_onnx::{BatchAxis, DifferentiableModel, TractModel};
use serde::{Deserialize, Serialize};

use super::compare::{CurveKind, curve, evidence_location, object_region, order_by_map, random_order_curve, spearman};
use super::figure::{DisplayImage, Panel, render, write_png};
use super::{
    Baseline, BaselineKind, CamWeighting, Classifier, GradCamParams, IntegratedGradientsParams, Map, Rule,
    ShapleyParams, Target, argmax, baseline_image,
};
use crate::error::{AnalyzeError, Result};

/// One image to explain.
#[derive(Clone, Debug)]
pub struct InputImage {
    /// A short name for file names and titles (`cat_dog`, `test-17`).
    pub name: String,
    /// The model input `[channels, height, width]` (already normalised for the model).
    pub pixels: Vec<f32>,
    /// The same image for display, `[channels, height, width]` in [0, 1].
    pub display: Vec<f32>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// The true class, when known (images of a labelled data set).
    pub label: Option<usize>,
    /// The class to explain for this image, overriding the configuration's [`Target`]
    /// (e.g. one photo explained once for the cat and once for the dog in it).
    pub target: Option<usize>,
}

impl InputImage {
    /// An image of `[channels, height, width]` pixels in `[0, 1]` (as loaded, before
    /// normalisation), normalised for the model by `preprocess`.
    pub fn new(
        name: String,
        display: Vec<f32>,
        shape: [usize; 3],
        preprocess: &Preprocess,
        label: Option<usize>,
    ) -> Self {
        let mut pixels = display.clone();
        preprocess.normalize(&mut pixels, shape[0]);
        InputImage { name, pixels, display, shape, label, target: None }
    }
}

/// Reads an image file for a model whose input is `shape` (`[channels, height, width]`) with
/// `preprocess` ([`Preprocess::geometry_u8`], then [`Preprocess::normalize`]).
///
/// # Errors
/// [`AnalyzeError::Fetch`] if the file is not a readable image; [`AnalyzeError::ShapeMismatch`]
/// naming the file when the preprocessing does not give the model's shape.
pub fn load_image(path: &Path, shape: [usize; 3], preprocess: &Preprocess) -> Result<InputImage> {
    let (planes, chw) = netlens_fetch::read_image_u8(path)?;
    let (display, got) = preprocess.geometry_u8(&planes, chw);
    check_shape(&path.display().to_string(), got, shape)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    Ok(InputImage::new(name, display, shape, preprocess, None))
}

fn check_shape(what: &str, got: [usize; 3], shape: [usize; 3]) -> Result<()> {
    if got == shape {
        return Ok(());
    }
    let [c, h, w] = shape;
    let advice = if got[0] == c {
        "give --preprocess with a resize, e.g. `unit`, to convert them".to_string()
    } else if c == 1 || c == 3 {
        format!("give --preprocess with channels = {c}, e.g. `unit`, to convert them")
    } else {
        format!("netlens converts images to 1 (grey) or 3 (RGB) channels only; this model takes {c}")
    };
    Err(AnalyzeError::ShapeMismatch {
        what: what.into(),
        expected: format!("images of the model's input size {c}×{h}×{w} after preprocessing ({advice})"),
        found: format!("{}×{}×{}", got[0], got[1], got[2]),
    })
}

/// The examples at `indices` of a data source (every one when `indices` is empty), brought to
/// the model's `shape` by `preprocess`, named after their files (or `test-<index>`), with their
/// labels when the source is labelled.
///
/// # Errors
/// [`AnalyzeError::IndexOutOfRange`] for an index past the end, [`AnalyzeError::ShapeMismatch`]
/// when the preprocessing does not give `shape`; the source's decoding errors.
pub fn source_images(
    source: &DataSource,
    indices: &[usize],
    shape: [usize; 3],
    preprocess: &Preprocess,
) -> Result<Vec<InputImage>> {
    let what = source.path().display().to_string();
    let all: Vec<usize> = if indices.is_empty() { (0..source.len()).collect() } else { indices.to_vec() };
    if let Some(&i) = all.iter().find(|&&i| i >= source.len()) {
        return Err(AnalyzeError::IndexOutOfRange { index: i, count: source.len(), what });
    }
    let data = source.load(&all, preprocess)?;
    let [_, c, h, w] = data.images.shape;
    check_shape(&what, [c, h, w], shape)?;
    Ok(all
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let label = source.labelled().then_some(data.labels[k] as usize);
            InputImage::new(source.name(i), data.images.image(k).to_vec(), shape, preprocess, label)
        })
        .collect())
}

/// Between a photo's stem and the class index in the names of
/// [`ExplainInputs::FileForClasses`] images (`cat_dog-class-282`).
pub const CLASS_SEPARATOR: &str = "-class-";

/// The photo an explained image was made from: the stem before [`CLASS_SEPARATOR`] for an
/// image explained for a given class, else the whole name.
pub fn photo_of(name: &str) -> &str {
    name.split_once(CLASS_SEPARATOR).map_or(name, |(photo, _)| photo)
}

/// What to explain: image files, or test images of a labelled data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExplainInputs {
    /// PNG or JPEG files, converted and resized for the model.
    Files(Vec<PathBuf>),
    /// One PNG or JPEG file explained once for each of the classes (as the course's cat-and-dog
    /// figure, after Selvaraju et al. 2017, Fig. 1): the images are named
    /// `<stem>`[`CLASS_SEPARATOR`]`<k>` (see [`photo_of`]).
    FileForClasses {
        /// The photo.
        file: PathBuf,
        /// The classes to explain, each in its own figure.
        classes: Vec<usize>,
    },
    /// Images of the data at `dir` (any layout [`DataSource::open`] reads, an image folder
    /// with or without class folders included), by index into its test split.
    Dataset {
        /// The data folder or file.
        dir: PathBuf,
        /// Indices into its test split; empty: every image.
        indices: Vec<usize>,
    },
}

/// The choices of an explanation run, as the command line and a `netlens run` plan give them
/// (serialisable); [`ExplainOptions::config`] turns them into an [`ExplainConfig`] for a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainOptions {
    /// Methods to run, in figure order.
    pub methods: Vec<ExplainMethod>,
    /// The class to explain.
    pub target: Target,
    /// Grad-CAM's feature map by ONNX tensor name; `None`: the last convolutional feature map.
    pub layer: Option<String>,
    /// Integrated Gradients: number of path points.
    pub steps: usize,
    /// Integrated Gradients: the quadrature rule.
    pub rule: Rule,
    /// The baseline image of every method.
    pub baseline: BaselineKind,
    /// Standard deviation in pixels of the blurred baseline; `None`: a sixth of the model
    /// input's larger side.
    pub blur_sigma: Option<f32>,
    /// Shapley: the image is cut into `grid × grid` patches (the players).
    pub grid: usize,
    /// Shapley: number of sampled orders (even; antithetic pairs), the budget of both sampling
    /// estimators.
    pub permutations: usize,
    /// Shapley: the estimator.
    #[serde(default)]
    pub shapley_estimator: ShapleyEstimator,
    /// Deletion/insertion curves (RISE) and their AUC against random orders; `None` to skip.
    pub faithfulness: Option<FaithfulnessSettings>,
    /// Seed of the sampled parts (Shapley orders, the noise baseline, random deletion orders).
    pub seed: u64,
    /// `imagenet`, `unit`, `none` or a TOML file; `None`: what the model records, else a
    /// guess from its input shape (see [`crate::model_input::model_preprocess`]).
    #[serde(default)]
    pub preprocess: Option<String>,
    /// The burn device the gradient methods (Grad-CAM, HiResCAM, Integrated Gradients) run on,
    /// and the sampling methods on images of at least 64×64 pixels (on smaller ones they run on
    /// tract; see [`SAMPLER_EXECUTOR_MIN_PIXELS`]). The caller turns it into a device
    /// (`netlens_train::device_by_name`) and passes that to [`explain`].
    #[serde(default)]
    pub device: DeviceName,
}

impl Default for ExplainOptions {
    /// Every method ([`ExplainMethod::ALL`]) for the predicted class; the library defaults of each method; a
    /// blurred baseline; no deletion/insertion curves; seed 42.
    fn default() -> Self {
        ExplainOptions {
            methods: ExplainMethod::ALL.to_vec(),
            target: Target::Predicted,
            layer: None,
            steps: netlens_fetch::runs::IntegratedGradientsSettings::DEFAULT_STEPS,
            rule: Rule::Trapezoid,
            baseline: BaselineKind::default(),
            blur_sigma: None,
            grid: netlens_fetch::runs::ShapleySettings::DEFAULT_GRID,
            permutations: netlens_fetch::runs::ShapleySettings::DEFAULT_PERMUTATIONS,
            shapley_estimator: ShapleyEstimator::Permutation,
            faithfulness: None,
            seed: ExplainSettings::DEFAULT_SEED,
            preprocess: None,
            device: DeviceName::Flex,
        }
    }
}

impl ExplainOptions {
    /// Checks every setting as [`Self::config`] does.
    ///
    /// # Errors
    /// As [`Self::config`].
    pub fn check(&self) -> Result<()> {
        self.config(vec![], Device::flex()).map(drop)
    }

    /// The configuration for `class_names` (index = logit; may be empty), with the gradient
    /// methods on `device` (the device of [`Self::device`]).
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for no method, an IG setting out of range or a bad blur σ.
    pub fn config(&self, class_names: Vec<String>, device: Device) -> Result<ExplainConfig> {
        if self.methods.is_empty() {
            return Err(InvalidSetting::new("methods", "", "give gradcam, hirescam, ig, shapley or several").into());
        }
        let baseline = Baseline::from_kind(self.baseline, self.blur_sigma, self.seed);
        baseline.check()?;
        let integrated_gradients =
            IntegratedGradientsParams::default().steps(self.steps).rule(self.rule).baseline(baseline);
        integrated_gradients.check()?;
        let mut methods = self.methods.clone();
        methods.sort_unstable();
        methods.dedup();
        Ok(ExplainConfig {
            methods,
            target: self.target,
            grad_cam: GradCamParams::default().layer(self.layer.clone()),
            integrated_gradients,
            shapley: ShapleyParams::default()
                .grid(self.grid, self.grid)
                .permutations(self.permutations)
                .estimator(self.shapley_estimator)
                .seed(self.seed),
            faithfulness: self.faithfulness,
            baseline,
            class_names,
            device,
        })
    }
}

/// Everything [`explain_to_dir`] needs besides the model and images.
#[derive(Clone, Debug)]
pub struct ExplainConfig {
    /// Methods to run, in [`ExplainMethod::ALL`] order.
    pub methods: Vec<ExplainMethod>,
    /// The class to explain.
    pub target: Target,
    /// Grad-CAM's parameters.
    pub grad_cam: GradCamParams,
    /// Integrated Gradients' parameters.
    pub integrated_gradients: IntegratedGradientsParams,
    /// Shapley's parameters.
    pub shapley: ShapleyParams,
    /// Deletion/insertion curves; `None` to skip them.
    pub faithfulness: Option<FaithfulnessSettings>,
    /// The baseline image `x′` of every method: IG's path start, the pixels of absent Shapley
    /// players, and the removed pixels of the deletion/insertion curves (overrides the
    /// baselines set in `integrated_gradients` and `shapley`).
    pub baseline: Baseline,
    /// Class names, index = logit (may be empty: then `class N`).
    pub class_names: Vec<String>,
    /// The burn device (without autodiff) Grad-CAM, HiResCAM and IG evaluate the graph on.
    pub device: Device,
}

impl ExplainConfig {
    fn runs(&self, method: ExplainMethod) -> bool {
        self.methods.contains(&method)
    }

    /// Whether a method that only needs forward passes runs: Shapley values or the
    /// deletion/insertion curves.
    fn runs_sampling(&self) -> bool {
        self.runs(ExplainMethod::Shapley) || self.faithfulness.is_some()
    }

    /// The settings as recorded, with the baseline made concrete for images of `h × w`.
    fn settings(&self, baseline: Baseline) -> ExplainSettings {
        ExplainSettings {
            grad_cam: self.runs(ExplainMethod::GradCam).then(|| self.grad_cam.settings().clone()),
            hires_cam: self.runs(ExplainMethod::HiResCam).then(|| self.grad_cam.settings().clone()),
            integrated_gradients: self
                .runs(ExplainMethod::IntegratedGradients)
                .then(|| self.integrated_gradients.clone().baseline(baseline).settings().clone()),
            shapley: self
                .runs(ExplainMethod::Shapley)
                .then(|| self.shapley.clone().baseline(baseline).settings().clone()),
            faithfulness: self.faithfulness,
        }
    }
}

fn class_name(names: &[String], c: usize) -> String {
    names.get(c).cloned().unwrap_or_else(|| format!("class {c}"))
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    /// One PNG per image.
    pub figures: Vec<PathBuf>,
    /// The JSON of raw maps and scores.
    pub json: PathBuf,
    /// One summary line per image.
    pub summaries: Vec<String>,
    /// Every figure in one grid, when more than one image was explained.
    pub contact_sheet: Option<PathBuf>,
}

/// File name of the contact sheet of an explanation folder.
pub const CONTACT_SHEET: &str = "contact_sheet.png";

/// Class names for a model's logits: `file` (one per line, as many as the model has classes)
/// when given, else ImageNet's for 1000-class models, else those of the data set, else
/// Fashion-MNIST's for the `model.onnx` of a `netlens train` run folder; empty when unknown.
///
/// # Errors
/// [`AnalyzeError::Io`] when `file` cannot be read, [`AnalyzeError::ShapeMismatch`] when it
/// has another number of names than the model has classes.
pub fn class_names_for(
    model: &Path,
    classes: Option<usize>,
    file: Option<&Path>,
    data_names: &[String],
) -> Result<Vec<String>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).map_err(|source| AnalyzeError::Io { path: file.into(), source })?;
        let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        if let Some(k) = classes
            && names.len() != k
        {
            return Err(AnalyzeError::ShapeMismatch {
                what: file.display().to_string(),
                expected: format!("{k} class names (one per line, the model has {k} logits)"),
                found: format!("{}", names.len()),
            });
        }
        return Ok(names);
    }
    if classes == Some(IMAGENET_NUM_CLASSES) {
        return Ok(imagenet_class_names().into_iter().map(String::from).collect());
    }
    if !data_names.is_empty() {
        return Ok(data_names.to_vec());
    }
    let run = model.parent().map(RunFolder::new);
    if classes == Some(netlens_fetch::FASHION_MNIST_CLASSES.len()) && run.is_some_and(|r| r.train_config().is_ok()) {
        // netlens trains its classifiers on the course's Fashion-MNIST layout.
        return Ok(netlens_fetch::fashion_mnist_class_names());
    }
    Ok(vec![])
}

/// `netlens explain`: explains `inputs` with the model at `model` and writes `out/<name>.png`
/// per image and `out/explanations.json`; `device` is the burn device of `options.device` (the
/// caller resolves it: backends are chosen in `netlens-train`, which this crate does not depend
/// on); `class_names` as [`class_names_for`]; `progress` gets one line per converted file and
/// per explained image.
///
/// # Errors
/// Model, parameter, input and I/O errors; every parameter is checked before `out` is made.
pub fn explain(
    model: &Path,
    inputs: &ExplainInputs,
    options: &ExplainOptions,
    device: &Device,
    class_names: Option<&Path>,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Written> {
    let loaded = DifferentiableModel::load_on(model, device)?;
    let dims = loaded.input_shape().to_vec();
    let Some(chw) = dims.get(1..).and_then(|d| d.iter().copied().collect::<Option<Vec<usize>>>()) else {
        return Err(AnalyzeError::ShapeMismatch {
            what: model.display().to_string(),
            expected: "an image input with known channels, height and width".into(),
            found: format!("{dims:?}"),
        });
    };
    let shape = [chw[0], chw[1], chw[2]];
    let classes = loaded.num_classes();
    let metadata = netlens_onnx::inspect(model).map(|s| s.metadata).unwrap_or_default();
    let preprocess =
        crate::model_input::model_preprocess(model, Some(shape), &metadata, options.preprocess.as_deref())?;
    progress(&format!("preprocessing {}", preprocess.describe()));
    let (images, data_names) = match inputs {
        ExplainInputs::Files(files) => {
            let images = files
                .iter()
                .map(|p| {
                    let image = load_image(p, shape, &preprocess)?;
                    if let Ok((w, h)) = image::image_dimensions(p) {
                        let [c, mh, mw] = shape;
                        progress(&format!("{}: {w}×{h} → {c}×{mh}×{mw} for the model", p.display()));
                    }
                    Ok(image)
                })
                .collect::<Result<Vec<_>>>()?;
            (images, vec![])
        }
        ExplainInputs::FileForClasses { file, classes } => {
            let image = load_image(file, shape, &preprocess)?;
            let images = classes
                .iter()
                .map(|&k| InputImage {
                    name: format!("{}{CLASS_SEPARATOR}{k}", image.name),
                    target: Some(k),
                    ..image.clone()
                })
                .collect();
            (images, vec![])
        }
        ExplainInputs::Dataset { dir, indices } => {
            let source = DataSource::open(dir, Split::Test)?;
            for warning in source.warnings() {
                progress(&format!("warning: {warning}"));
            }
            let names = if source.labelled() { source.class_names().to_vec() } else { vec![] };
            (source_images(&source, indices, shape, &preprocess)?, names)
        }
    };
    let cfg = options.config(class_names_for(model, classes, class_names, &data_names)?, device.clone())?;
    explain_to_dir_with(model, &images, &cfg, Some(&preprocess), out, progress)
}

/// Runs the methods on each image and writes `out/<name>.png` and `out/explanations.json`.
///
/// # Errors
/// Parameter, model and I/O errors; every parameter is checked before the output folder is
/// made, and the JSON is written last and atomically.
pub fn explain_to_dir(
    model_path: &Path,
    images: &[InputImage],
    cfg: &ExplainConfig,
    out: &Path,
    progress: impl FnMut(&str),
) -> Result<Written> {
    explain_to_dir_with(model_path, images, cfg, None, out, progress)
}

/// Pixels per image (height × width) from which the sampling methods (Shapley values, deletion
/// and insertion curves) run their forward passes on the differentiable executor instead of tract.
/// Measured per image on the `flex` device (release build, 2 cores): a full-width ResNet-34 at 224²
/// took 33 ms on the executor against 43 ms on tract in batches of 49 (captum's PyTorch: 35 ms),
/// and 44 against 63 ms one at a time; at 32² the course's shallow net took 0.3 against 0.2 ms
/// (batches of 64), its 27-layer CNN 0.2 against 0.4 ms.
pub const SAMPLER_EXECUTOR_MIN_PIXELS: usize = 64 * 64;

/// [`explain_to_dir`], recording `preprocess` (how the images were made) in the JSON, and
/// writing `out/contact_sheet.png` (every figure in a grid) when there is more than one image.
///
/// # Errors
/// As [`explain_to_dir`].
pub fn explain_to_dir_with(
    model_path: &Path,
    images: &[InputImage],
    cfg: &ExplainConfig,
    preprocess: Option<&Preprocess>,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Written> {
    let model = DifferentiableModel::load_on(model_path, &cfg.device)?;
    let images = &unique_names(images, &mut progress);
    let chw = images.first().map_or([1, 1, 1], |i| i.shape);
    // The sampling methods (Shapley, deletion/insertion curves) need only forward passes: on small
    // images tract's are the fastest; on large ones the executor (netlens's convolution kernels)
    // is; and where tract cannot run the graph (a pass it cannot optimise, an attribute it would
    // ignore) the executor, which loaded it above, computes the same logits.
    let tract = if chw[1] * chw[2] >= SAMPLER_EXECUTOR_MIN_PIXELS {
        None
    } else {
        match TractModel::load_with_input(model_path, Some(&chw), BatchAxis::Symbolic) {
            Ok(t) => Some(t),
            Err(e) => {
                progress(&format!(
                    "note: tract cannot run this model ({e}); Shapley values and deletion curves use the \
                 differentiable executor's forward pass instead (same logits)"
                ));
                None
            }
        }
    };
    // Two engines reading one file must compute the same logits; where tract's differ from the
    // executor's (which gives the recorded logits and the gradients), tract has misread the graph
    // and would give wrong Shapley values without any error, so the executor samples instead.
    let baseline = cfg.baseline.resolved(chw[1], chw[2]);
    let tract = match tract {
        Some(t) if !cfg.runs_sampling() => Some(t),
        Some(t) => match engines_disagree(&model, &t, images, baseline)? {
            None => Some(t),
            Some(disagreement) => {
                progress(&format!(
                    "note: tract's logits differ from the differentiable executor's ({disagreement}); Shapley \
                     values and deletion curves use the executor's forward pass instead"
                ));
                None
            }
        },
        None => None,
    };
    let sampler: &dyn Classifier = match &tract {
        Some(t) => t,
        None => &model,
    };
    let sampling_engine = match &tract {
        Some(_) => "tract (CPU)".to_string(),
        None => format!("differentiable executor on {}", device_name(&cfg.device)),
    };
    // Every parameter is checked before the output folder is made, so a bad one leaves nothing.
    if cfg.runs(ExplainMethod::GradCam) || cfg.runs(ExplainMethod::HiResCam) {
        cfg.grad_cam.resolve_layer(&model)?;
    }
    if cfg.runs(ExplainMethod::IntegratedGradients) {
        cfg.integrated_gradients.clone().baseline(baseline).check()?;
    }
    if cfg.runs(ExplainMethod::Shapley) {
        cfg.shapley.clone().baseline(baseline).check(chw[1], chw[2])?;
    }
    if let (Target::Class(k), Some(classes)) = (cfg.target, model.num_classes())
        && k >= classes
    {
        return Err(InvalidSetting::new("target", k, &format!("the model has {classes} classes (0..{classes})")).into());
    }
    if cfg.faithfulness.is_some_and(|f| f.steps == 0) {
        return Err(InvalidSetting::new("curve steps", 0, "needs at least 1").into());
    }
    std::fs::create_dir_all(out).map_err(|source| AnalyzeError::Io { path: out.into(), source })?;
    let mut records = Vec::new();
    let mut figures = Vec::new();
    let mut written = Written {
        figures: vec![],
        json: out.join(netlens_fetch::runs::EXPLANATIONS),
        summaries: vec![],
        contact_sheet: None,
    };
    for img in images {
        let (record, panels, summary) = explain_one(&model, sampler, img, cfg, baseline)?;
        let display =
            DisplayImage { data: &img.display, channels: img.shape[0], height: img.shape[1], width: img.shape[2] };
        let path = out.join(format!("{}.png", img.name));
        let figure = render(&display, &panels)?;
        write_png(&path, &figure)?;
        if images.len() > 1 {
            figures.push(figure);
        }
        progress(&summary);
        written.figures.push(path);
        written.summaries.push(summary);
        records.push(record);
    }
    if !figures.is_empty() {
        let sheet = out.join(CONTACT_SHEET);
        write_png(&sheet, &super::figure::contact_sheet(&figures))?;
        written.contact_sheet = Some(sheet);
    }
    let mut doc = Explanations::new(model_path.display().to_string(), baseline, cfg.settings(baseline), records);
    doc.preprocess = preprocess.cloned();
    doc.sampling_engine = cfg.runs_sampling().then_some(sampling_engine);
    doc.contact_sheet = written.contact_sheet.clone();
    write_json(&written.json, &doc)?;
    Ok(written)
}

/// `images` with names that are unique and not the contact sheet's, so no figure overwrites
/// another: a repeated name (`a.png` and `a.jpg`, an index given twice) gets `-2`, `-3`, … and
/// `progress` says so.
fn unique_names(images: &[InputImage], progress: &mut impl FnMut(&str)) -> Vec<InputImage> {
    let sheet = CONTACT_SHEET.trim_end_matches(".png");
    let mut taken: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    if images.len() > 1 {
        taken.insert(sheet.to_string());
    }
    images
        .iter()
        .map(|image| {
            let mut image = image.clone();
            if taken.contains(&image.name) {
                let name =
                    (2..).map(|k| format!("{}-{k}", image.name)).find(|n| !taken.contains(n)).expect("unbounded");
                progress(&format!(
                    "note: more than one image is named `{}`; this one's figure is `{name}.png`",
                    image.name
                ));
                image.name = name;
            }
            taken.insert(image.name.clone());
            image
        })
        .collect()
}

/// The burn backend of `device` as `--device` names it (`flex`, `cpu`, `wgpu`, `cuda`), else
/// burn's own description of it.
fn device_name(device: &Device) -> String {
    let described = format!("{device:?}");
    ["Flex", "Wgpu", "Cuda", "Cpu"]
        .into_iter()
        .find(|backend| described.contains(backend))
        .map_or(described, |backend| backend.to_lowercase())
}

/// Largest disagreement allowed between tract's and the executor's logits, relative to the
/// largest |logit| (floored at 1): both compute in f32, and agree to ~1e-5 on the course's
/// networks and ResNet-34 (`onnx/src/executor/tests.rs` asserts 1e-4).
pub const ENGINE_AGREEMENT_TOLERANCE: f32 = 1e-3;

/// Patch mixtures per image on which `engines_disagree` compares the engines, besides the
/// image and its baseline: a sampling method evaluates such mixtures, not the endpoints alone, and
/// a graph read differently can agree at both endpoints (a branch that only mixtures switch on).
pub const ENGINE_CHECK_MIXTURES: usize = 3;

/// Compares the `sampler`'s logits (tract's) with the executor's on every image, its baseline
/// image and [`ENGINE_CHECK_MIXTURES`] random mixtures of the two (4×4 patches, each from the
/// image or the baseline, seeded); `None` when every logit agrees within
/// [`ENGINE_AGREEMENT_TOLERANCE`], else the first input and class where they differ.
///
/// # Errors
/// Either engine's evaluation errors.
fn engines_disagree(
    model: &DifferentiableModel,
    sampler: &dyn Classifier,
    images: &[InputImage],
    baseline: Baseline,
) -> Result<Option<String>> {
    use rand::{Rng, SeedableRng};
    let Some(first) = images.first() else { return Ok(None) };
    let [c, h, w] = first.shape;
    let (rows, cols) = (4.min(h), 4.min(w));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x656e_6769_6e65);
    let mut labels = vec![];
    let mut data = vec![];
    for image in images {
        let base = baseline_image(&baseline, &image.pixels, image.shape);
        labels.push(format!("image `{}`", image.name));
        data.extend_from_slice(&image.pixels);
        labels.push(format!("the baseline of image `{}`", image.name));
        data.extend_from_slice(&base);
        for m in 0..ENGINE_CHECK_MIXTURES {
            let keep: Vec<bool> = (0..rows * cols).map(|_| rng.random_bool(0.5)).collect();
            labels.push(format!("patch mixture {} of image `{}` and its baseline", m + 1, image.name));
            data.extend((0..c * h * w).map(|i| {
                let (y, x) = ((i / w) % h, i % w);
                if keep[(y * rows / h) * cols + x * cols / w] { image.pixels[i] } else { base[i] }
            }));
        }
    }
    let batch = Images { data, shape: [labels.len(), c, h, w] };
    let (reference, sampled) = (model.forward(&batch)?, sampler.logits(&batch)?);
    let classes = reference.data.len() / labels.len().max(1);
    if sampled.data.len() != reference.data.len() {
        return Ok(Some(format!(
            "{} logits per input on the executor, {} on tract",
            classes,
            sampled.data.len() / labels.len().max(1)
        )));
    }
    for (label, (a, b)) in labels.iter().zip(reference.data.chunks(classes).zip(sampled.data.chunks(classes))) {
        let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        // The worst class; NaN, once met, stays the worst (f32::max would drop it).
        let (class, worst) = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .enumerate()
            .fold((0, 0.0f32), |(k, m), (j, d)| if d.is_nan() || d > m { (j, d) } else { (k, m) });
        if worst.is_nan() || worst > ENGINE_AGREEMENT_TOLERANCE * scale {
            return Ok(Some(format!(
                "on {label}, class {class}'s logit is {} on the executor and {} on tract",
                a[class], b[class]
            )));
        }
    }
    Ok(None)
}

fn explain_one(
    model: &DifferentiableModel,
    sampler: &dyn Classifier,
    img: &InputImage,
    cfg: &ExplainConfig,
    baseline: Baseline,
) -> Result<(ImageExplanation, Vec<Panel>, String)> {
    let [c, h, w] = img.shape;
    let batch = Images { data: img.pixels.clone(), shape: [1, c, h, w] };
    let logits = model.forward(&batch)?;
    crate::finite::ensure_finite(
        || format!("image `{}`: the model's logits", img.name),
        logits.data.iter().map(|&v| f64::from(v)),
        |i| format!("class {i}"),
    )?;
    let target = match img.target {
        Some(k) => super::resolve_targets(&logits, Target::Class(k))?[0],
        None => super::resolve_targets(&logits, cfg.target)?[0],
    };
    let predicted = argmax(&logits.data);
    let name = |k| class_name(&cfg.class_names, k);
    let truth = img.label.map_or_else(|| "True label: unknown".to_string(), |l| format!("True label: {}", name(l)));
    let mut panels = vec![Panel {
        title: vec![
            img.name.clone(),
            truth,
            format!("Predicted: {}", name(predicted)),
            format!("Explained class: {}", name(target)),
        ],
        map: None,
        signed: false,
    }];
    let mut record = ImageExplanation {
        name: img.name.clone(),
        shape: img.shape,
        label: img.label,
        label_name: img.label.map(name),
        predicted,
        predicted_name: name(predicted),
        target,
        target_name: name(target),
        logits: logits.data.clone(),
        ..ImageExplanation::default()
    };
    let mut maps: Vec<(ExplainMethod, Map)> = vec![];
    // Grad-CAM and HiResCAM come from one gradient pass, made before the methods run.
    let cam_methods: Vec<(ExplainMethod, CamWeighting)> =
        [(ExplainMethod::GradCam, CamWeighting::MeanGradient), (ExplainMethod::HiResCam, CamWeighting::Elementwise)]
            .into_iter()
            .filter(|(m, _)| cfg.runs(*m))
            .collect();
    let mut cams: BTreeMap<ExplainMethod, GradCam> = BTreeMap::new();
    if !cam_methods.is_empty() {
        let weightings: Vec<CamWeighting> = cam_methods.iter().map(|(_, w)| *w).collect();
        let computed =
            cfg.grad_cam.clone().target(Target::Class(target)).explain_weighted(model, &batch, &weightings)?;
        cams = cam_methods
            .iter()
            .map(|(m, _)| *m)
            .zip(computed.into_iter().map(|mut per_image| per_image.remove(0)))
            .collect();
    }
    let mut summary = format!("{}: predicted {} ({}), target {}", img.name, predicted, name(predicted), target);
    for &method in &cfg.methods {
        match method {
            ExplainMethod::GradCam | ExplainMethod::HiResCam => {
                let g = cams.remove(&method).expect("every requested CAM was computed above");
                summary += &format!("; {} at {}", method.title(), g.layer);
                // After its ReLU a map with no positive evidence is zero everywhere; say so
                // instead of drawing a colour bar from 0 to nothing.
                let mut title =
                    vec![method.title().into(), format!("layer {}", short(&g.layer)), format!("for {}", name(target))];
                if g.is_empty() {
                    title.push("no positive evidence at this layer".into());
                }
                panels.push(Panel { title, map: Some(g.map.clone()), signed: false });
                maps.push((method, g.map.clone()));
                if method == ExplainMethod::GradCam {
                    record.grad_cam = Some(g);
                } else {
                    record.hires_cam = Some(g);
                }
            }
            ExplainMethod::IntegratedGradients => {
                let ig = cfg
                    .integrated_gradients
                    .clone()
                    .baseline(baseline)
                    .target(Target::Class(target))
                    .explain(model, &batch)?
                    .remove(0);
                summary += &format!("; IG completeness error {:.2e}", ig.completeness_error);
                let map = Map::channel_sum(&ig.attributions, c, h, w);
                panels.push(Panel {
                    title: vec![
                        "Integrated Gradients".into(),
                        format!("completeness gap {:.1e}", ig.completeness_error),
                        format!("for {}", name(target)),
                    ],
                    map: Some(map.clone()),
                    signed: true,
                });
                maps.push((method, map));
                record.integrated_gradients = Some(ig);
            }
            ExplainMethod::Shapley => {
                let s = cfg.shapley.clone().baseline(baseline).explain(sampler, &batch, target)?;
                summary += &format!("; Shapley efficiency gap {:.1e}", s.efficiency_gap);
                let map = s.pixel_map(h, w);
                panels.push(Panel {
                    title: vec![
                        "Shapley values".into(),
                        format!("{}×{} patches", s.grid[0], s.grid[1]),
                        format!("for {}", name(target)),
                    ],
                    map: Some(map.clone()),
                    signed: true,
                });
                maps.push((method, map));
                record.shapley = Some(s);
            }
        }
    }
    for (method, map) in &maps {
        crate::finite::ensure_finite(
            || format!("image `{}`: the {} map", img.name, method.title()),
            map.data.iter().map(|&v| f64::from(v)),
            |i| {
                format!(
                    "pixel (y {}, x {}) of {}×{}",
                    i / map.width.max(1),
                    i % map.width.max(1),
                    map.height,
                    map.width
                )
            },
        )?;
    }
    record.rank_correlation = rank_correlations(&maps);
    if let Some((object, mask)) = object_region(&img.display, img.shape) {
        record.evidence = maps
            .iter()
            .filter_map(|(method, map)| evidence_location(map, &object, &mask).map(|e| (method.key().to_string(), e)))
            .collect();
        record.object = Some(object);
    }
    if let Some(f) = cfg.faithfulness {
        let base = baseline_image(&baseline, &img.pixels, img.shape);
        let (curves, line) = faithfulness(sampler, &batch, target, &maps, f, &base)?;
        record.deletion_insertion = Some(curves);
        summary += &line;
    }
    Ok((record, panels, summary))
}

fn short(layer: &str) -> String {
    layer.trim_start_matches('/').replace("_output_0", "")
}

/// Spearman ρ between each pair of maps at input resolution; `None` where it is undefined.
fn rank_correlations(maps: &[(ExplainMethod, Map)]) -> BTreeMap<String, Option<f64>> {
    let mut out = BTreeMap::new();
    for i in 0..maps.len() {
        for j in i + 1..maps.len() {
            let rho = spearman(&maps[i].1.data, &maps[j].1.data);
            out.insert(format!("{}~{}", maps[i].0.key(), maps[j].0.key()), rho.is_finite().then_some(rho));
        }
    }
    out
}

fn faithfulness(
    model: &dyn Classifier,
    image: &Images,
    target: usize,
    maps: &[(ExplainMethod, Map)],
    f: FaithfulnessSettings,
    baseline: &[f32],
) -> Result<(DeletionInsertion, String)> {
    let mut methods = BTreeMap::new();
    let mut line = String::from("; deletion AUC");
    for (method, map) in maps {
        let order = order_by_map(map);
        let deletion = curve(model, image, target, &order, CurveKind::Deletion, f.steps, baseline)?;
        let insertion = curve(model, image, target, &order, CurveKind::Insertion, f.steps, baseline)?;
        line += &format!(" {method} {:.3}", deletion.auc);
        methods.insert(method.key().to_string(), MethodCurves { deletion, insertion });
    }
    let mean = |kind| random_order_curve(model, image, target, kind, f.steps, baseline, f.random_draws, f.seed);
    let (deletion, insertion) = (mean(CurveKind::Deletion)?, mean(CurveKind::Insertion)?);
    let random = RandomOrderAuc {
        deletion_auc: deletion.auc,
        insertion_auc: insertion.auc,
        draws: f.random_draws,
        deletion: Some(deletion),
        insertion: Some(insertion),
    };
    line += &format!(" random {:.3}", random.deletion_auc);
    Ok((DeletionInsertion { methods, random }, line))
}

#[cfg(test)]
mod tests {
    use netlens_fetch::{Split, load_split};

    use super::*;

    fn shared() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
    }

    /// tract with `shift` added to the first logit: an engine that misreads the graph.
    struct Misread<'a>(&'a TractModel, f32);

    impl Classifier for Misread<'_> {
        fn logits(&self, images: &Images) -> Result<netlens_onnx::HostTensor> {
            let mut logits = self.0.logits(images)?;
            logits.data[0] += self.1;
            Ok(logits)
        }
    }

    /// tract with `shift` added to the first logit of the patch mixtures only (every row of a
    /// batch but each image's first two, the image and its baseline, in [`engines_disagree`]'s
    /// layout): an engine that agrees at both endpoints and nowhere between.
    struct MisreadBetween<'a>(&'a TractModel, f32);

    impl Classifier for MisreadBetween<'_> {
        fn logits(&self, images: &Images) -> Result<netlens_onnx::HostTensor> {
            let mut logits = self.0.logits(images)?;
            let classes = logits.data.len() / images.len();
            for (row, values) in logits.data.chunks_mut(classes).enumerate() {
                if row % (2 + ENGINE_CHECK_MIXTURES) >= 2 {
                    values[0] += self.1;
                }
            }
            Ok(logits)
        }
    }

    #[test]
    fn tract_is_trusted_only_where_its_logits_match_the_executors() {
        let path = shared().join("fixtures/torch-small-cnn.onnx");
        let model = DifferentiableModel::load_on(&path, &Device::flex()).unwrap();
        let tract = TractModel::load_with_input(&path, Some(&[1, 32, 32]), BatchAxis::Symbolic).unwrap();
        let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
        let images: Vec<InputImage> = (0..2)
            .map(|i| InputImage {
                name: format!("test-{i}"),
                pixels: data.images.image(i).to_vec(),
                display: data.images.image(i).to_vec(),
                shape: [1, 32, 32],
                label: None,
                target: None,
            })
            .collect();
        let baseline = Baseline::Zeros;
        assert_eq!(engines_disagree(&model, &tract, &images, baseline).unwrap(), None);
        // A shift far below the logits' scale passes; one of 1 % of it does not, naming the image.
        assert_eq!(engines_disagree(&model, &Misread(&tract, 1e-6), &images, baseline).unwrap(), None);
        let found = engines_disagree(&model, &Misread(&tract, 0.05), &images, baseline).unwrap();
        let found = found.expect("a 0.05 difference in a logit is a disagreement");
        assert!(found.starts_with("on image `test-0`, class 0's logit is"), "{found}");
        let found = engines_disagree(&model, &MisreadBetween(&tract, 0.05), &images, baseline).unwrap();
        let found = found.expect("a difference on the mixtures alone is a disagreement");
        assert!(found.starts_with("on patch mixture 1 of image `test-0`"), "{found}");
        assert_eq!(device_name(&Device::flex()), "flex");
    }
}
