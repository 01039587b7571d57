//! A VAE run: its configuration, per-epoch history, held-out split, interpolations and the
//! figures of individual faces (attribute edits, face pairs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::classifier::{DEFAULT_SEED, DeviceName, EpochRecord, History};
use super::{InvalidSetting, check_schedule};

/// How the decoder upsamples before each convolution (×2 per stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Upsample {
    /// Nearest neighbour (ONNX Resize `nearest`, `asymmetric`, `floor`; for ×2 every output pixel
    /// copies one input pixel, as in PyTorch's `nearest`). Odena et al. found it the best choice.
    Nearest,
    /// Bilinear with half-pixel centres (`align_corners = false`, as PyTorch's default and ONNX
    /// Resize `half_pixel`), not burn's default `align_corners = true`.
    Bilinear,
}

/// The reconstruction term of the VAE loss, summed over an image's channels × height × width
/// pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Reconstruction {
    /// Σ (x̂ − x)²: a Gaussian decoder with fixed variance ½, up to a constant.
    Mse,
    /// Σ −[x log x̂ + (1 − x) log(1 − x̂)]: a Bernoulli (continuous-valued) decoder, computed
    /// from the logits for numerical stability.
    Bce,
}

/// Side of the VAE's smallest feature map: the encoder halves the image down to it.
const BOTTOM_SIZE: usize = 4;

/// Shape of the VAE network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeConfig {
    /// Dimension of the latent z (and of μ and log σ²). Default 64.
    pub latent: usize,
    /// Side of the square RGB input in pixels: 32 (the course's small LFW), 64, 128, …
    /// (`4 · 2^k`, k ≥ 3). Default 32.
    pub image_size: usize,
    /// The decoder's upsampling. Default [`Upsample::Nearest`].
    pub upsample: Upsample,
}

impl Default for VaeConfig {
    fn default() -> Self {
        VaeConfig { latent: 64, image_size: 32, upsample: Upsample::Nearest }
    }
}

impl VaeConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    /// [`InvalidSetting`] for a zero latent size or an image size that is not `4 · 2^k` with
    /// k ≥ 3 (32, 64, 128, …).
    pub fn check(&self) -> Result<(), InvalidSetting> {
        if self.latent == 0 {
            return Err(InvalidSetting::new("latent", self.latent, "must be at least 1"));
        }
        let s = self.image_size;
        if s < 32 || !s.is_multiple_of(BOTTOM_SIZE) || !(s / BOTTOM_SIZE).is_power_of_two() {
            return Err(InvalidSetting::new("image size", s, "must be 32, 64, 128, … (4 · 2^k with k ≥ 3)"));
        }
        Ok(())
    }

    /// Number of stride-2 encoder stages (= upsampling decoder stages): log₂(image_size / 4).
    pub fn stages(&self) -> usize {
        (self.image_size / BOTTOM_SIZE).trailing_zeros() as usize
    }

    /// Side of the smallest feature map (4).
    pub fn bottom_size(&self) -> usize {
        BOTTOM_SIZE
    }
}

/// Hyper-parameters and provenance of a VAE run, saved as `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaeTrainConfig {
    /// Shape of the network.
    pub model: VaeConfig,
    /// The reconstruction term. Default [`Reconstruction::Mse`].
    pub reconstruction: Reconstruction,
    /// Weight β of the KL term (1 = the plain VAE; Higgins et al. 2017 for β ≠ 1). Default
    /// [`VaeTrainConfig::DEFAULT_BETA`].
    pub beta: f64,
    /// Total number of epochs. Default [`VaeTrainConfig::DEFAULT_EPOCHS`].
    pub epochs: usize,
    /// Images per mini-batch. Default 32.
    pub batch_size: usize,
    /// Adam's peak learning rate (β₁ 0.9, β₂ 0.999: burn's defaults), decayed to 0 over the
    /// run by a cosine schedule, step by step (Loshchilov & Hutter, SGDR, arXiv:1608.03983,
    /// without restarts). Default 1e-3.
    pub learning_rate: f64,
    /// Seeds weight initialisation, the held-out split, shuffling and ε. Default 0.
    pub seed: u64,
    /// Fraction of the images held out for evaluation, in (0, 1). Default 0.1.
    pub heldout_fraction: f64,
    /// The burn device. Default `flex`.
    pub device: DeviceName,
    /// The data folder, as given.
    pub data: String,
}

impl VaeTrainConfig {
    /// Default number of epochs: enough for the default run on the course's `lfw-small` to
    /// reach a held-out MSE per pixel ≤ 0.025 (measured; see the README).
    pub const DEFAULT_EPOCHS: usize = 50;
    /// Default weight β of the KL term. With the per-image summed squared error as
    /// reconstruction term, β = 1 leaves the latent nearly unused on `lfw-small` (50 epochs: KL
    /// 20 nats, held-out MSE per pixel 0.0246, near-average reconstructions); β = 0.1 keeps 92
    /// nats and reaches 0.0173 with recognisable hair, skin and background colours (measured
    /// 2026-11-29).
    pub const DEFAULT_BETA: f64 = 0.1;
    /// Default images per mini-batch.
    pub const DEFAULT_BATCH_SIZE: usize = 32;
    /// Default peak learning rate.
    pub const DEFAULT_LEARNING_RATE: f64 = 1e-3;
    /// Default held-out fraction.
    pub const DEFAULT_HELDOUT_FRACTION: f64 = 0.1;

    /// The defaults listed on each field, for the data folder `data`.
    pub fn new(data: impl Into<String>) -> Self {
        VaeTrainConfig {
            model: VaeConfig::default(),
            reconstruction: Reconstruction::Mse,
            beta: Self::DEFAULT_BETA,
            epochs: Self::DEFAULT_EPOCHS,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            learning_rate: Self::DEFAULT_LEARNING_RATE,
            seed: DEFAULT_SEED,
            heldout_fraction: Self::DEFAULT_HELDOUT_FRACTION,
            device: DeviceName::Flex,
            data: data.into(),
        }
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`InvalidSetting`] naming the first one out of range.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        self.model.check()?;
        check_schedule(self.epochs, self.batch_size, self.learning_rate)?;
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(InvalidSetting::new("beta", self.beta, "must be a number ≥ 0"));
        }
        if !(self.heldout_fraction > 0.0 && self.heldout_fraction < 1.0) {
            return Err(InvalidSetting::new("held-out fraction", self.heldout_fraction, "must be in (0, 1)"));
        }
        Ok(())
    }
}

/// Metrics after one epoch. Loss terms are per image (reconstruction summed over its pixels, KL
/// in nats), averaged over images; `*_loss` = reconstruction + β · KL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeEpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean reconstruction term over the epoch's training batches (z sampled).
    pub train_reconstruction: f64,
    /// Mean KL term over the epoch's training batches.
    pub train_kl: f64,
    /// Mean training objective (reconstruction + β · KL).
    pub train_loss: f64,
    /// Mean reconstruction term on the held-out faces after the epoch, decoded from z = μ.
    pub heldout_reconstruction: f64,
    /// Mean KL term on the held-out faces.
    pub heldout_kl: f64,
    /// Held-out objective (reconstruction + β · KL).
    pub heldout_loss: f64,
    /// Held-out mean squared error per pixel value (pixels in `[0, 1]`), decoded from μ.
    pub heldout_mse: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

impl EpochRecord for VaeEpochMetrics {
    fn epoch(&self) -> usize {
        self.epoch
    }

    fn seconds(&self) -> f64 {
        self.seconds
    }
}

/// All epochs of a VAE run so far, saved as `history.json` (architecture `vae`).
pub type VaeHistory = History<VaeEpochMetrics>;

/// Which images train and which are held out; saved as `split.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldoutSplit {
    /// Indices into the data's images used for training, ascending.
    pub train: Vec<usize>,
    /// Indices of the held-out images, ascending.
    pub heldout: Vec<usize>,
}

/// How well simple models reconstruct the same held-out faces as the VAE, per pixel value
/// (pixels in [0, 1]): what the VAE's reconstruction error is to be read against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionBaselines {
    /// Mean squared error of predicting every held-out face by the mean training face.
    pub mean_face_mse: f64,
    /// Mean squared error of PCA with [`ReconstructionBaselines::pca_components`] components
    /// (as many as the VAE's latent dimensions), fit on the training faces: x̂ = x̄ + (x − x̄) Wᵀ W.
    pub pca_mse: f64,
    /// The PCA's number of components.
    pub pca_components: usize,
    /// The VAE's own held-out error (decoded from μ, the exported ONNX graphs).
    pub vae_mse: f64,
}

/// One interpolation strip: its ends as given (`female`, `3,8`, `male:medoid`) and the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interpolation {
    /// End A (α = 1).
    pub a: String,
    /// End B (α = 0).
    pub b: String,
    /// Weights α of z₁, ascending.
    pub alphas: Vec<f64>,
}

/// The strips of a VAE run, saved as `interp/interpolation.json`: strip file stem
/// (`interpolation_female_male`) → its ends and weights.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Interpolations(pub BTreeMap<String, Interpolation>);

/// One face of the training data drawn in a figure of individual faces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceRef {
    /// Index into the data's images (`X_train.npy`), 0-based.
    pub index: usize,
    /// The group of the groups file it was drawn from (`male`); absent without a groups file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Whether the VAE's `split.json` held it out of training; absent when no split was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout: Option<bool>,
}

/// Where a latent lies along an attribute vector d = μ̄_A − μ̄_B: the projection of
/// (μ − μ̄_B) on d divided by |d|², so 0 is group B's mean latent and 1 group A's (values
/// outside [0, 1] lie beyond a mean).
pub type AttributeFraction = f64;

/// One face of group B moved toward group A: decoded z = μ(x) + α d, d = μ̄_A − μ̄_B with the
/// face left out of both means (White 2016, "Sampling Generative Networks", arXiv:1609.04468;
/// Larsen et al. 2016).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceEdit {
    /// The face edited.
    pub face: FaceRef,
    /// |d|, in latent units (the Euclidean length of the difference of the two mean μ).
    pub distance: f64,
    /// The face's own μ(x) along d ([`AttributeFraction`]).
    pub input_fraction: AttributeFraction,
    /// Each decoded edit re-encoded (its μ) along d, for α = 0, then each of
    /// [`FaceInterpolations::alphas`], then α = 1.
    pub fractions: Vec<AttributeFraction>,
    /// Root mean square difference per pixel value (pixels in [0, 1]) between the decoded edit
    /// at α = 1 and at α = 0 (the face's reconstruction).
    pub rms_change: f64,
    /// Share of that change (of its sum of squares) in the central quarter of the image — the
    /// middle half of the rows and of the columns, where an LFW crop has the face; 0.25 for a
    /// change spread evenly. Absent (0) in files of older versions.
    #[serde(default)]
    pub centre_share: f64,
}

/// The faces of one group moved toward the other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EditDirection {
    /// Group A, the faces are moved toward (`female`).
    pub toward: String,
    /// Group B, the faces come from (`male`).
    pub away: String,
    /// One per row of the figure, top to bottom.
    pub faces: Vec<FaceEdit>,
}

/// The path between two group means, decoded z = μ̄_B + α (μ̄_A − μ̄_B) = α μ̄_A + (1 − α) μ̄_B
/// with every member in both means: the course's interpolation between two groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanPath {
    /// Group A (α = 1).
    pub toward: String,
    /// Group B (α = 0).
    pub away: String,
    /// Faces in A and in B.
    pub sizes: [usize; 2],
    /// Each decoded face re-encoded along d ([`AttributeFraction`]), α as in
    /// [`FaceEdit::fractions`].
    pub fractions: Vec<AttributeFraction>,
    /// Root mean square difference per pixel value between the decoded means.
    pub rms_change: f64,
}

/// One attribute-edit figure (`edit_female_male.png`): the path between the two group means in
/// its first row, then the faces of each direction, one per row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeFigure {
    /// File name of the PNG in `interp/`; beside it a `.npy` of the decoded faces, float32
    /// `(rows × (2 + alphas), 3, H, W)`, row by row, α ascending from 0 to 1.
    pub figure: String,
    /// The first row.
    pub means: MeanPath,
    /// The rows below it, direction by direction.
    pub directions: Vec<EditDirection>,
}

/// One row of the face-pairs figure: decoded z = α μ(x_A) + (1 − α) μ(x_B) between two faces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacePair {
    /// End A (α = 1).
    pub a: FaceRef,
    /// End B (α = 0).
    pub b: FaceRef,
    /// |μ(x_A) − μ(x_B)|, in latent units (comparable with [`FaceEdit::distance`]).
    pub latent_distance: f64,
    /// Root mean square difference per pixel value between the two decoded ends.
    pub rms_ends: f64,
    /// The same between each decoded face and the next, left to right (`alphas + 1` values).
    pub steps: Vec<f64>,
}

/// The face-pairs figure (`pairs.png`): one pair of individual faces per row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairFigure {
    /// File name of the PNG in `interp/`; beside it a `.npy` as [`AttributeFigure::figure`]'s.
    pub figure: String,
    /// The rows, top to bottom.
    pub pairs: Vec<FacePair>,
}

/// The figures of individual faces a VAE run draws, saved as `interp/faces.json`: one
/// attribute-edit figure per pair of groups and one figure of face pairs. No face is drawn
/// twice across them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceInterpolations {
    /// The weights α strictly between 0 and 1 (the course's 0.2, 0.4, 0.6, 0.8), ascending;
    /// every row is also drawn at α = 0 and α = 1.
    pub alphas: Vec<f64>,
    /// The groups file the groups come from, as given.
    pub groups_file: Option<String>,
    /// One per pair of groups (female/male, older/younger), in that order.
    pub attributes: Vec<AttributeFigure>,
    /// The face pairs, when any could be drawn.
    pub pairs: Option<PairFigure>,
}

impl FaceInterpolations {
    /// Every face drawn, in figure order: the edited faces, then both ends of each pair.
    pub fn faces(&self) -> Vec<&FaceRef> {
        let edited = self.attributes.iter().flat_map(|a| a.directions.iter().flat_map(|d| d.faces.iter()));
        let paired = self.pairs.iter().flat_map(|p| p.pairs.iter().flat_map(|p| [&p.b, &p.a]));
        edited.map(|e| &e.face).chain(paired).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vae_settings_outside_their_range_are_named() {
        let mut c = VaeTrainConfig::new("faces");
        assert!(c.check().is_ok());
        c.model.image_size = 48;
        assert_eq!(c.check().unwrap_err().name, "image size");
        c.model.image_size = 64;
        assert_eq!(c.model.stages(), 4);
        c.beta = -1.0;
        assert_eq!(c.check().unwrap_err().name, "beta");
        c.beta = 1.0;
        c.heldout_fraction = 1.0;
        assert_eq!(c.check().unwrap_err().name, "held-out fraction");
    }

    #[test]
    fn face_figures_list_every_face_drawn_and_read_back() {
        let face = |index: usize, group: &str| FaceRef { index, group: Some(group.into()), heldout: Some(index == 3) };
        let edit = FaceEdit {
            face: face(3, "male"),
            distance: 4.0,
            input_fraction: 0.1,
            fractions: vec![0.1, 0.5, 1.0],
            rms_change: 0.12,
            centre_share: 0.2,
        };
        let record = FaceInterpolations {
            alphas: vec![0.5],
            groups_file: Some("groups.json".into()),
            attributes: vec![AttributeFigure {
                figure: "edit_female_male.png".into(),
                means: MeanPath {
                    toward: "female".into(),
                    away: "male".into(),
                    sizes: [14, 23],
                    fractions: vec![0.0, 0.5, 1.0],
                    rms_change: 0.14,
                },
                directions: vec![EditDirection { toward: "female".into(), away: "male".into(), faces: vec![edit] }],
            }],
            pairs: Some(PairFigure {
                figure: "pairs.png".into(),
                pairs: vec![FacePair {
                    a: face(18, "female"),
                    b: face(15, "male"),
                    latent_distance: 10.0,
                    rms_ends: 0.3,
                    steps: vec![0.15, 0.16],
                }],
            }),
        };
        let indices: Vec<usize> = record.faces().iter().map(|f| f.index).collect();
        assert_eq!(indices, [3, 15, 18]);
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<FaceInterpolations>(&text).unwrap(), record);
        // Without a groups file or a split, a face is just its index.
        let bare = serde_json::to_string(&FaceRef { index: 1, group: None, heldout: None }).unwrap();
        assert_eq!(bare, r#"{"index":1}"#);
    }

    #[test]
    fn interpolations_are_keyed_by_strip() {
        let text = r#"{"interpolation_female_male": {"a": "female", "b": "male", "alphas": [0.2, 0.8]}}"#;
        let i: Interpolations = serde_json::from_str(text).unwrap();
        assert_eq!(i.0["interpolation_female_male"].alphas, [0.2, 0.8]);
    }
}
