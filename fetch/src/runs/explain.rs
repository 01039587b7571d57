//! Explanations of a classifier's predictions, saved as `explanations.json`: the settings of
//! each method, and per image the logits, the raw maps (Grad-CAM, Integrated Gradients,
//! Shapley values), their rank correlations and their deletion/insertion curves.
//!
//! The methods are computed by `netlens-analyze`; their results are plain data and live here,
//! so that the writer and every reader share one definition.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::InvalidSetting;

/// A 2-D map of one image, row-major `[height, width]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Map {
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
    /// Values, row-major.
    pub data: Vec<f32>,
}

impl Map {
    /// The sum over channels of an attribution `[channels, height, width]`.
    ///
    /// # Panics
    /// If `data` holds fewer than `channels · height · width` values.
    pub fn channel_sum(data: &[f32], channels: usize, height: usize, width: usize) -> Map {
        let plane = height * width;
        let mut out = vec![0f32; plane];
        for c in 0..channels {
            for (o, v) in out.iter_mut().zip(&data[c * plane..(c + 1) * plane]) {
                *o += v;
            }
        }
        Map { height, width, data: out }
    }

    /// Whether no value is above zero (a Grad-CAM map with no positive evidence).
    pub fn is_all_nonpositive(&self) -> bool {
        self.data.iter().all(|&v| v <= 0.0)
    }
}

/// Which class an explanation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The predicted class (argmax of the logits).
    #[default]
    Predicted,
    /// A given class index.
    Class(usize),
}

impl std::str::FromStr for Target {
    type Err = InvalidSetting;

    /// `auto` (or `predicted`) or a class index.
    fn from_str(s: &str) -> Result<Self, InvalidSetting> {
        match s.trim() {
            "auto" | "predicted" => Ok(Target::Predicted),
            other => other
                .parse()
                .map(Target::Class)
                .map_err(|_| InvalidSetting::new("target", s, "expected `auto` or a class index")),
        }
    }
}

/// The baseline image `x′` that stands for "absent" pixels in every method: where Integrated
/// Gradients starts, what replaces Shapley's absent patches, and what the deletion/insertion
/// curves put in place of removed pixels. The default is the image blurred by a Gaussian of σ =
/// a sixth of its larger side.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Baseline {
    /// All zeros in the model's input scale (black for `[0, 1]` pixels; the mean colour after
    /// ImageNet normalisation).
    Zeros,
    /// The image blurred by a Gaussian of standard deviation `sigma` pixels (per channel;
    /// weights renormalised at the borders); `None`: a sixth of the image's larger side (5.3
    /// pixels at 32×32, 37 at 224×224), strong enough to erase edges and texture at any size.
    Blurred {
        /// Standard deviation in pixels, > 0.
        sigma: Option<f32>,
    },
    /// Uniform noise between the image's minimum and maximum value, seeded.
    UniformNoise {
        /// Random seed.
        seed: u64,
    },
}

impl Default for Baseline {
    /// The blurred image, σ = a sixth of its larger side. On dark-background images (Fashion-MNIST)
    /// zeroing a dark pixel changes nothing, so a zero baseline cannot see evidence in dark pixels;
    /// blurring removes fine structure everywhere.
    fn default() -> Self {
        Baseline::Blurred { sigma: None }
    }
}

impl Baseline {
    /// The baseline `kind` with `blur_sigma` pixels for a blurred one (`None`: a sixth of the
    /// image's larger side) and `seed` for noise.
    pub fn from_kind(kind: BaselineKind, blur_sigma: Option<f32>, seed: u64) -> Baseline {
        match kind {
            BaselineKind::Zeros => Baseline::Zeros,
            BaselineKind::Blurred => Baseline::Blurred { sigma: blur_sigma },
            BaselineKind::Noise => Baseline::UniformNoise { seed },
        }
    }

    /// The same baseline with an automatic blur σ made concrete for images of `height × width`.
    pub fn resolved(self, height: usize, width: usize) -> Baseline {
        match self {
            Baseline::Blurred { sigma: None } => Baseline::Blurred { sigma: Some(height.max(width) as f32 / 6.0) },
            other => other,
        }
    }

    /// Validates the parameters.
    ///
    /// # Errors
    /// [`InvalidSetting`] for a blur σ that is not positive and finite.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if let Baseline::Blurred { sigma: Some(sigma) } = *self
            && !(sigma.is_finite() && sigma > 0.0)
        {
            return Err(InvalidSetting::new("sigma", sigma, "the blur's standard deviation must be positive"));
        }
        Ok(())
    }

    /// One line for reports, e.g. `the image blurred by a Gaussian of σ = 5.3 pixels`.
    pub fn describe(&self) -> String {
        match *self {
            Baseline::Zeros => "all zeros (in the model's input scale)".into(),
            Baseline::Blurred { sigma: Some(sigma) } => {
                format!("the image blurred by a Gaussian of σ = {sigma:.1} pixels")
            }
            Baseline::Blurred { sigma: None } => {
                "the image blurred by a Gaussian of σ = a sixth of its larger side".into()
            }
            Baseline::UniformNoise { seed } => format!("uniform noise over the image's value range (seed {seed})"),
        }
    }
}

/// The kind of baseline, as a user chooses it on the command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    /// All zeros (black for [0, 1] images, the mean colour for ImageNet-normalised ones).
    Zeros,
    /// The image blurred (removes the evidence of dark pixels too, which zeros cannot).
    #[default]
    Blurred,
    /// Uniform noise over the image's value range.
    Noise,
}

/// The quadrature rule of Integrated Gradients' path integral.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Trapezoid on `m` points including both ends.
    #[default]
    Trapezoid,
    /// Left Riemann sum.
    RiemannLeft,
    /// Right Riemann sum.
    RiemannRight,
    /// Midpoint Riemann sum.
    RiemannMiddle,
}

impl Rule {
    /// The points `α_s` and weights `w_s` for `m` steps.
    pub fn points(self, m: usize) -> Vec<(f64, f64)> {
        let mf = m as f64;
        (0..m)
            .map(|s| {
                let s_f = s as f64;
                match self {
                    Rule::Trapezoid => {
                        let w = if s == 0 || s == m - 1 { 0.5 } else { 1.0 } / (mf - 1.0);
                        (s_f / (mf - 1.0), w)
                    }
                    Rule::RiemannLeft => (s_f / mf, 1.0 / mf),
                    Rule::RiemannRight => ((s_f + 1.0) / mf, 1.0 / mf),
                    Rule::RiemannMiddle => ((s_f + 0.5) / mf, 1.0 / mf),
                }
            })
            .collect()
    }

    /// `trapezoid`, `riemann left`, … for prose.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Trapezoid => "trapezoid",
            Rule::RiemannLeft => "left Riemann",
            Rule::RiemannRight => "right Riemann",
            Rule::RiemannMiddle => "midpoint Riemann",
        }
    }
}

/// An explanation method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ExplainMethod {
    /// Grad-CAM (Selvaraju et al. 2017).
    #[cfg_attr(feature = "clap", value(name = "gradcam"))]
    GradCam,
    /// HiResCAM (Draelos & Carin 2020, arXiv:2011.08891): Grad-CAM's layer and gradients, with
    /// each position's gradient multiplying the activation there instead of the channel's mean
    /// gradient.
    #[cfg_attr(feature = "clap", value(name = "hirescam"))]
    HiResCam,
    /// Integrated Gradients (Sundararajan et al. 2017).
    #[cfg_attr(feature = "clap", value(name = "ig"))]
    IntegratedGradients,
    /// Shapley values of image patches (estimator: --shapley-estimator).
    #[cfg_attr(feature = "clap", value(name = "shapley"))]
    Shapley,
}

impl ExplainMethod {
    /// All methods, in the order figures and tables show them.
    pub const ALL: [ExplainMethod; 4] =
        [ExplainMethod::GradCam, ExplainMethod::HiResCam, ExplainMethod::IntegratedGradients, ExplainMethod::Shapley];

    /// The key in `explanations.json` (`grad_cam`, `hires_cam`, `integrated_gradients`,
    /// `shapley`).
    pub fn key(self) -> &'static str {
        match self {
            ExplainMethod::GradCam => "grad_cam",
            ExplainMethod::HiResCam => "hires_cam",
            ExplainMethod::IntegratedGradients => "integrated_gradients",
            ExplainMethod::Shapley => "shapley",
        }
    }

    /// The name for people (`Grad-CAM`).
    pub fn title(self) -> &'static str {
        match self {
            ExplainMethod::GradCam => "Grad-CAM",
            ExplainMethod::HiResCam => "HiResCAM",
            ExplainMethod::IntegratedGradients => "IG",
            ExplainMethod::Shapley => "Shapley",
        }
    }
}

impl fmt::Display for ExplainMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Grad-CAM settings (Selvaraju et al., arXiv:1610.02391).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradCamSettings {
    /// The feature map, by its ONNX tensor name; `None` for the last convolutional feature map.
    pub layer: Option<String>,
    /// The explained class.
    pub target: Target,
    /// Whether the final ReLU is applied (the paper's choice).
    pub relu: bool,
}

impl Default for GradCamSettings {
    /// The last convolutional feature map, the predicted class, ReLU applied.
    fn default() -> Self {
        GradCamSettings { layer: None, target: Target::Predicted, relu: true }
    }
}

/// Integrated Gradients settings (Sundararajan et al., arXiv:1703.01365).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegratedGradientsSettings {
    /// Number of path points `m` (≥ 2 for the trapezoid rule, ≥ 1 otherwise).
    pub steps: usize,
    /// The baseline `x′`.
    pub baseline: Baseline,
    /// The quadrature rule.
    pub rule: Rule,
    /// Path points per backward pass (memory, not results).
    pub batch_size: usize,
    /// The explained class.
    pub target: Target,
}

impl IntegratedGradientsSettings {
    /// Default number of path points.
    pub const DEFAULT_STEPS: usize = 64;
}

impl Default for IntegratedGradientsSettings {
    /// 64 steps, the default [`Baseline`], the trapezoid rule, 32 path points per backward
    /// pass, the predicted class.
    fn default() -> Self {
        IntegratedGradientsSettings {
            steps: Self::DEFAULT_STEPS,
            baseline: Baseline::default(),
            rule: Rule::Trapezoid,
            batch_size: 32,
            target: Target::Predicted,
        }
    }
}

/// How Shapley values are computed from the game's coalition values `v(S)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum ShapleyEstimator {
    /// Mean marginal contribution over sampled orders, in antithetic pairs (Castro, Gómez &
    /// Tejada 2009): `n − 1` model calls per order.
    #[default]
    Permutation,
    /// Unbiased KernelSHAP with paired sampling (Covert & Lee 2021, "Improving KernelSHAP",
    /// AISTATS, §3–4): the Shapley values as the efficiency-constrained weighted least-squares
    /// fit of `v`, with coalitions drawn from the Shapley kernel, each with its complement.
    Kernel,
    /// Every one of the `2ⁿ` coalitions (up to 20 players): exact, for small grids and as the
    /// reference the sampling estimators are measured against.
    Exact,
}

/// Settings of the Shapley-value estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapleySettings {
    /// Grid rows and columns: the image is cut into `grid[0] × grid[1]` patches (the players).
    pub grid: [usize; 2],
    /// The estimator; older files have none: [`ShapleyEstimator::Permutation`].
    #[serde(default)]
    pub estimator: ShapleyEstimator,
    /// The sampling budget, in orders (even with antithetic pairs): `permutation` samples this
    /// many; `kernel` spends as many model calls, `permutations · (n − 1)`, on coalition pairs;
    /// `exact` ignores it.
    pub permutations: usize,
    /// Whether orders come in antithetic pairs (an order and its reverse).
    pub antithetic: bool,
    /// What absent patches become.
    pub baseline: Baseline,
    /// Coalitions per forward pass (speed, not results).
    pub batch_size: usize,
    /// Seed of the sampled orders.
    pub seed: u64,
}

impl ShapleySettings {
    /// Default grid side (4 × 4 patches).
    pub const DEFAULT_GRID: usize = 4;
    /// Default number of orders.
    pub const DEFAULT_PERMUTATIONS: usize = 200;

    /// The coalition pairs the kernel estimator draws: the model calls of `permutations` orders
    /// (`n − 1` each, for `n` patches), two per pair, and at least two pairs.
    pub fn kernel_pairs(&self) -> usize {
        (self.permutations * (self.grid[0] * self.grid[1]).saturating_sub(1) / 2).max(2)
    }
}

impl Default for ShapleySettings {
    /// A 4 × 4 grid, 200 orders in antithetic pairs, the default [`Baseline`], 256 coalitions
    /// per forward pass, seed [`ExplainSettings::DEFAULT_SEED`].
    fn default() -> Self {
        ShapleySettings {
            grid: [Self::DEFAULT_GRID; 2],
            estimator: ShapleyEstimator::Permutation,
            permutations: Self::DEFAULT_PERMUTATIONS,
            antithetic: true,
            baseline: Baseline::default(),
            batch_size: 256,
            seed: ExplainSettings::DEFAULT_SEED,
        }
    }
}

/// Deletion/insertion curve settings (Petsiuk et al., RISE, arXiv:1806.07421).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaithfulnessSettings {
    /// Points on each curve after the first.
    pub steps: usize,
    /// Random orders averaged for the reference AUC.
    pub random_draws: usize,
    /// Seed of the random orders.
    pub seed: u64,
}

impl FaithfulnessSettings {
    /// Default points per curve.
    pub const DEFAULT_STEPS: usize = 20;
}

impl Default for FaithfulnessSettings {
    fn default() -> Self {
        FaithfulnessSettings { steps: Self::DEFAULT_STEPS, random_draws: 3, seed: ExplainSettings::DEFAULT_SEED }
    }
}

/// The settings of every method that ran (`None`: the method did not run).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExplainSettings {
    /// Grad-CAM.
    pub grad_cam: Option<GradCamSettings>,
    /// HiResCAM (the same layer and target setting as Grad-CAM's); absent in files of older
    /// versions.
    #[serde(default)]
    pub hires_cam: Option<GradCamSettings>,
    /// Integrated Gradients.
    pub integrated_gradients: Option<IntegratedGradientsSettings>,
    /// Shapley values.
    pub shapley: Option<ShapleySettings>,
    /// Deletion/insertion curves.
    pub faithfulness: Option<FaithfulnessSettings>,
}

impl ExplainSettings {
    /// The seed of every sampled part of an explanation unless one is given.
    pub const DEFAULT_SEED: u64 = 42;

    /// The seed of the sampled parts (Shapley orders, else the random deletion orders).
    pub fn seed(&self) -> Option<u64> {
        self.shapley.as_ref().map(|s| s.seed).or(self.faithfulness.map(|f| f.seed))
    }
}

/// Grad-CAM (or HiResCAM) of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradCam {
    /// The ONNX tensor the map was computed at (e.g. `/relu2/Relu_output_0`).
    pub layer: String,
    /// The explained class.
    pub target: usize,
    /// Its logit `y^c`.
    pub logit: f32,
    /// `L` at the layer's resolution `[H, W]`, ≥ 0 (with the ReLU).
    pub layer_map: Map,
    /// `L` bilinearly upsampled to the input's `[height, width]`.
    pub map: Map,
}

impl GradCam {
    /// Whether the map is zero everywhere: the class-weighted sum of the layer's channels is
    /// negative at every location, so the ReLU left no positive evidence (and no ranking).
    pub fn is_empty(&self) -> bool {
        self.map.data.iter().all(|&v| v <= 0.0)
    }
}

/// Integrated Gradients of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegratedGradients {
    /// The explained class.
    pub target: usize,
    /// `F(x)`, the target logit at the image.
    pub logit: f32,
    /// `F(x′)`, the target logit at the baseline.
    pub baseline_logit: f32,
    /// `IG`, `[channels, height, width]`, in logit units.
    pub attributions: Vec<f32>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
    /// `|Σ_i IG_i − (F(x) − F(x′))|`, in logit units.
    pub completeness_error: f32,
}

impl IntegratedGradients {
    /// The completeness error as a share of `|F(x) − F(x′)|`; `None` when that difference is
    /// below 1e-6 (the share is meaningless then).
    pub fn relative_completeness_error(&self) -> Option<f64> {
        let change = (self.logit as f64 - self.baseline_logit as f64).abs();
        (change > 1e-6).then(|| self.completeness_error as f64 / change)
    }
}

/// Shapley values of one image's patches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShapleyValues {
    /// The explained class.
    pub target: usize,
    /// Grid rows and columns; player `p` is cell `(p / cols, p % cols)`.
    pub grid: [usize; 2],
    /// `φ_p` per player, in logit units, row-major over the grid.
    pub values: Vec<f64>,
    /// Standard error of each `φ_p` (over orders, antithetic pairs or coalition pairs; 0 for
    /// the exact values).
    pub std_errors: Vec<f64>,
    /// `v(N)`: the target logit of the full image.
    pub full_logit: f64,
    /// `v(∅)`: the target logit of the baseline image.
    pub empty_logit: f64,
    /// `|Σ_p φ_p − (v(N) − v(∅))|`.
    pub efficiency_gap: f64,
    /// Number of orders sampled (the budget in orders, for the kernel estimator).
    pub permutations: usize,
    /// Forward passes of the model it took, `v(∅)` and `v(N)` included (0 in files written
    /// before it was recorded).
    #[serde(default)]
    pub model_calls: usize,
}

/// The patch (player) owning each pixel of `[height, width]`, row-major, for a `[rows, cols]`
/// grid: cell `(y·rows/height, x·cols/width)`, numbered row-major over the grid.
pub fn patch_of_pixel([rows, cols]: [usize; 2], height: usize, width: usize) -> Vec<usize> {
    (0..height * width).map(|i| (i / width * rows / height) * cols + (i % width) * cols / width).collect()
}

impl ShapleyValues {
    /// Each pixel of `[height, width]` carries its patch's value.
    pub fn pixel_map(&self, height: usize, width: usize) -> Map {
        let data = patch_of_pixel(self.grid, height, width).into_iter().map(|p| self.values[p] as f32).collect();
        Map { height, width, data }
    }
}

/// A deletion or insertion curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Fraction of pixels deleted (or inserted), `0, 1/steps, …, 1`.
    pub fractions: Vec<f64>,
    /// Softmax probability of the target class at each fraction.
    pub probabilities: Vec<f64>,
    /// Trapezoid area under the curve, in [0, 1].
    pub auc: f64,
}

/// One method's deletion and insertion curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodCurves {
    /// Pixels removed in the map's order.
    pub deletion: Curve,
    /// Pixels restored in the map's order.
    pub insertion: Curve,
}

/// The reference: AUCs of random pixel orders, averaged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RandomOrderAuc {
    /// Mean deletion AUC.
    pub deletion_auc: f64,
    /// Mean insertion AUC.
    pub insertion_auc: f64,
    /// Random orders averaged.
    pub draws: usize,
    /// The mean deletion curve of those orders (its AUC is `deletion_auc`); absent in files of
    /// older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<Curve>,
    /// The mean insertion curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insertion: Option<Curve>,
}

/// Deletion/insertion curves of every method of one image, and the random reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletionInsertion {
    /// Method key ([`ExplainMethod::key`]) → its curves.
    #[serde(flatten)]
    pub methods: BTreeMap<String, MethodCurves>,
    /// The random-order reference.
    pub random: RandomOrderAuc,
}

/// Everything computed for one image; [`Default`] is a record with no method run yet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageExplanation {
    /// A short name (`cat_dog`, `test-17`), also the figure's file stem.
    pub name: String,
    /// The model input's `[channels, height, width]`.
    pub shape: [usize; 3],
    /// The true class, when the image came with a label.
    #[serde(default)]
    pub label: Option<usize>,
    /// Its name.
    #[serde(default)]
    pub label_name: Option<String>,
    /// The predicted class (argmax of the logits).
    pub predicted: usize,
    /// Its name.
    pub predicted_name: String,
    /// The explained class.
    pub target: usize,
    /// Its name.
    pub target_name: String,
    /// Pre-softmax class scores `[classes]`.
    pub logits: Vec<f32>,
    /// Grad-CAM, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grad_cam: Option<GradCam>,
    /// HiResCAM, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hires_cam: Option<GradCam>,
    /// Integrated Gradients, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrated_gradients: Option<IntegratedGradients>,
    /// Shapley values, when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shapley: Option<ShapleyValues>,
    /// Spearman ρ between each pair of maps at input resolution, keyed `a~b` by method key;
    /// `None` where ρ is undefined (a constant map).
    #[serde(default)]
    pub rank_correlation: BTreeMap<String, Option<f64>>,
    /// Deletion/insertion curves, when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_insertion: Option<DeletionInsertion>,
    /// The image's object, when it stands out from a plain background (see [`ObjectRegion`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRegion>,
    /// Where each method's map puts its evidence on that object, keyed by method key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, EvidenceLocation>,
}

/// The object of an image on a plain background (a Fashion-MNIST garment on black): the pixels
/// that differ from the background colour, the median of the image's border pixels, by more
/// than [`ObjectRegion::THRESHOLD`] of the value range in some channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectRegion {
    /// Share of the image's pixels on the object, in (0, 1).
    pub area: f64,
    /// The object's bounding box in pixels: `[top, left, bottom, right]`, bottom and right
    /// exclusive.
    pub bbox: [usize; 4],
}

impl ObjectRegion {
    /// A pixel belongs to the object when it differs from the background by more than this
    /// share of the display range `[0, 1]`.
    pub const THRESHOLD: f32 = 0.1;
}

/// Where one map puts its evidence (its positive values) relative to the image's object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceLocation {
    /// Share of the map's positive mass on object pixels, in [0, 1]; compare with the object's
    /// [`ObjectRegion::area`], the share a map blind to the object would put there.
    pub on_object: f64,
    /// Share of the map's positive mass on the background within
    /// [`EvidenceLocation::OUTLINE_PIXELS`] pixels of the object (its outline seen from
    /// outside); absent (0) in files of older versions.
    #[serde(default)]
    pub around_object: f64,
    /// Of the map's top decile of pixels (the 10% with the largest positive values), the
    /// share in each third of the object's bounding box, top to bottom; the three sum to the
    /// share inside the box.
    pub rows: [f64; 3],
    /// The same, in each third from left to right.
    pub cols: [f64; 3],
}

impl EvidenceLocation {
    /// The width of the band around the object that [`EvidenceLocation::around_object`]
    /// measures, in pixels (a pixel is in the band when some object pixel lies within this
    /// many rows and columns of it).
    pub const OUTLINE_PIXELS: usize = 2;

    /// Where the top decile lies in words: `upper`, `middle`, `lower` when one third of the
    /// box's rows holds at least half of it, with `left`, `centre`, `right` likewise for the
    /// columns; `outside its box` when under half of it lies in the object's bounding
    /// box, else `spread` when no third holds half.
    pub fn describe(&self) -> String {
        let pick = |shares: &[f64; 3], names: [&'static str; 3]| {
            let (k, v) = shares.iter().enumerate().fold((0, f64::MIN), |b, (k, &v)| if v > b.1 { (k, v) } else { b });
            (v >= 0.5).then_some(names[k])
        };
        match (pick(&self.rows, ["upper", "middle", "lower"]), pick(&self.cols, ["left", "centre", "right"])) {
            (Some(r), Some(c)) => format!("{r} {c}"),
            (Some(r), None) => format!("{r} third"),
            (None, Some(c)) => format!("{c} third"),
            (None, None) if self.rows.iter().sum::<f64>() < 0.5 => "outside its box".into(),
            (None, None) => "spread".into(),
        }
    }
}

impl ImageExplanation {
    /// The softmax probability of the predicted class (computed in f64).
    pub fn top_probability(&self) -> f64 {
        let m = self.logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = self.logits.iter().map(|&l| (l as f64 - m).exp()).sum();
        1.0 / z
    }

    /// ρ between methods `a` and `b`, in either order of the key.
    pub fn rank_correlation(&self, a: ExplainMethod, b: ExplainMethod) -> Option<f64> {
        let key = |x: ExplainMethod, y: ExplainMethod| format!("{}~{}", x.key(), y.key());
        self.rank_correlation.get(&key(a, b)).or_else(|| self.rank_correlation.get(&key(b, a))).copied().flatten()
    }
}

/// The baseline as recorded: its parameters and a description for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    /// The baseline.
    pub baseline: Baseline,
    /// [`Baseline::describe`].
    pub description: String,
}

/// `explanations.json`: the model, the shared baseline, the settings and every image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanations {
    /// The ONNX file explained, as given.
    pub model: String,
    /// The baseline image `x′` every method shared.
    pub baseline: BaselineRecord,
    /// The settings of the methods that ran.
    pub settings: ExplainSettings,
    /// One entry per image, in input order.
    pub images: Vec<ImageExplanation>,
    /// The preprocessing that made the model's inputs; absent in files of older versions.
    #[serde(default)]
    pub preprocess: Option<crate::Preprocess>,
    /// The contact sheet of all images' figures, when more than one was explained.
    #[serde(default)]
    pub contact_sheet: Option<std::path::PathBuf>,
    /// What ran the forward passes of Shapley values and the deletion/insertion curves: `tract
    /// (CPU)` or the differentiable executor on the gradient methods' device; absent when neither
    /// ran, and in files of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_engine: Option<String>,
}

impl Explanations {
    /// The document for `model` with `baseline`, `settings` and `images`.
    pub fn new(model: String, baseline: Baseline, settings: ExplainSettings, images: Vec<ImageExplanation>) -> Self {
        Explanations {
            model,
            baseline: BaselineRecord { baseline, description: baseline.describe() },
            settings,
            images,
            preprocess: None,
            contact_sheet: None,
            sampling_engine: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_from_the_command_line() {
        assert_eq!("auto".parse::<Target>().unwrap(), Target::Predicted);
        assert_eq!("7".parse::<Target>().unwrap(), Target::Class(7));
        assert!("cat".parse::<Target>().unwrap_err().to_string().contains("class index"));
    }

    #[test]
    fn rules_weigh_to_one_and_baselines_resolve_per_image_size() {
        for rule in [Rule::Trapezoid, Rule::RiemannLeft, Rule::RiemannRight, Rule::RiemannMiddle] {
            let total: f64 = rule.points(9).iter().map(|p| p.1).sum();
            assert!((total - 1.0).abs() < 1e-12, "{rule:?}");
        }
        let auto = Baseline::from_kind(BaselineKind::Blurred, None, 0);
        assert_eq!(auto, Baseline::default());
        assert_eq!(auto.resolved(32, 24), Baseline::Blurred { sigma: Some(32.0 / 6.0) });
        let given = Baseline::from_kind(BaselineKind::Blurred, Some(2.0), 0);
        assert_eq!(given.resolved(32, 32), Baseline::Blurred { sigma: Some(2.0) });
        assert_eq!(Baseline::from_kind(BaselineKind::Noise, None, 9), Baseline::UniformNoise { seed: 9 });
        assert!(Baseline::Blurred { sigma: Some(0.0) }.check().unwrap_err().to_string().contains("positive"));
    }

    #[test]
    fn an_image_record_reads_back_with_undefined_correlations_and_curves() {
        let curve = Curve { fractions: vec![0.0, 1.0], probabilities: vec![0.9, 0.1], auc: 0.5 };
        let mut methods = BTreeMap::new();
        methods.insert("grad_cam".to_string(), MethodCurves { deletion: curve.clone(), insertion: curve });
        let img = ImageExplanation {
            name: "test-0".into(),
            shape: [1, 2, 2],
            label: Some(3),
            label_name: Some("Dress".into()),
            predicted: 1,
            predicted_name: "Trouser".into(),
            target: 1,
            target_name: "Trouser".into(),
            logits: vec![0.0, 2.0],
            grad_cam: None,
            hires_cam: None,
            integrated_gradients: None,
            shapley: None,
            rank_correlation: [("grad_cam~shapley".to_string(), None)].into_iter().collect(),
            deletion_insertion: Some(DeletionInsertion {
                methods,
                random: RandomOrderAuc {
                    deletion_auc: 0.4,
                    insertion_auc: 0.6,
                    draws: 3,
                    deletion: None,
                    insertion: None,
                },
            }),
            object: Some(ObjectRegion { area: 0.5, bbox: [0, 0, 2, 1] }),
            evidence: [(
                "shapley".to_string(),
                EvidenceLocation { on_object: 0.75, around_object: 0.25, rows: [1.0, 0.0, 0.0], cols: [0.0, 0.0, 1.0] },
            )]
            .into_iter()
            .collect(),
        };
        let text = serde_json::to_string(&img).unwrap();
        assert!(
            text.contains(r#""random":{"deletion_auc":0.4"#) && text.contains(r#""grad_cam":{"deletion""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ImageExplanation>(&text).unwrap(), img);
        assert_eq!(img.rank_correlation(ExplainMethod::Shapley, ExplainMethod::GradCam), None);
        assert!((img.top_probability() - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12);
    }
}
