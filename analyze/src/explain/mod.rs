//! Explanations of an image classifier's prediction, computed on any ONNX model netlens loads.
//!
//! - [`GradCam`] (Selvaraju et al., arXiv:1610.02391): class-weighted feature maps of a
//!   convolutional layer, from gradients on burn ([`netlens_onnx::DifferentiableModel`]); and
//!   HiResCAM (Draelos & Carin, arXiv:2011.08891) from the same gradients, weighted per position.
//! - [`IntegratedGradients`] (Sundararajan et al., arXiv:1703.01365): path integral of input
//!   gradients from a baseline, with its completeness error.
//! - [`ShapleyParams`] (Shapley 1953; Castro et al. 2009 sampling): Shapley values of image
//!   patches, by permutation sampling over forward passes only (any [`Classifier`], tract or
//!   burn), exact efficiency per permutation, antithetic pairs, a standard error per player.
//! - [`Baseline`]: the one reference image `x′` for absent pixels, shared by IG, Shapley and
//!   the deletion / insertion curves.
//! - [`compare`]: rank correlation between maps, and deletion / insertion curves with their
//!   AUC (Petsiuk et al., RISE, arXiv:1806.07421) against a random order, and where each map
//!   puts its evidence on the image's object ([`compare::evidence_location`]).

pub mod baseline;
pub mod compare;
pub mod figure;
pub mod grad_cam;
pub mod integrated_gradients;
pub mod pipeline;
pub mod shapley;

use netlens_fetch::Images;
use netlens_onnx::{DifferentiableModel, HostTensor, TractModel};

use crate::error::{AnalyzeError, Result};

pub use baseline::{Baseline, BaselineKind, baseline_image};
pub use grad_cam::{CamWeighting, GradCam, GradCamParams, GradCamSettings};
pub use integrated_gradients::{IntegratedGradients, IntegratedGradientsParams, IntegratedGradientsSettings, Rule};
pub use netlens_fetch::runs::{Map, Target};
pub use shapley::{ShapleyParams, ShapleySettings, ShapleyValues};

/// Anything that maps images to pre-softmax logits: the forward pass the sampling methods
/// (Shapley values, deletion curves) call many times.
pub trait Classifier {
    /// Logits `[batch, classes]` for images `[batch, channels, height, width]`.
    ///
    /// # Errors
    /// The model's own errors (input shape, evaluation).
    fn logits(&self, images: &Images) -> Result<HostTensor>;
}

impl Classifier for DifferentiableModel {
    fn logits(&self, images: &Images) -> Result<HostTensor> {
        Ok(self.forward(images)?)
    }
}

/// A model run with tract (fast, no gradients), rows split across the cores: the forward pass
/// of Shapley sampling and the deletion/insertion curves.
impl Classifier for TractModel {
    fn logits(&self, images: &Images) -> Result<HostTensor> {
        let mut outputs = self.run(&images.data, images.len())?;
        if outputs.is_empty() {
            return Err(AnalyzeError::ShapeMismatch {
                what: self.path().display().to_string(),
                expected: "a logits output".into(),
                found: "no output".into(),
            });
        }
        let first = outputs.swap_remove(0);
        let batch = images.len();
        let classes = first.data.len() / batch.max(1);
        Ok(HostTensor { shape: vec![batch, classes], data: first.data })
    }
}

/// Resolves `target` for each image from the logits `[batch, classes]`.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for a class outside `0..classes`.
pub fn resolve_targets(logits: &HostTensor, target: Target) -> Result<Vec<usize>> {
    let classes = logits.shape[1];
    match target {
        Target::Class(c) if c >= classes => Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
            name: "target".into(),
            value: c.to_string(),
            reason: format!("the model has {classes} classes (0..{classes})"),
        })),
        Target::Class(c) => Ok(vec![c; logits.shape[0]]),
        Target::Predicted => Ok(logits.data.chunks(classes).map(argmax).collect()),
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// A single image `[1, channels, height, width]` out of a batch.
pub(crate) fn one_image(images: &Images, i: usize) -> Images {
    let mut shape = images.shape;
    shape[0] = 1;
    Images { data: images.image(i).to_vec(), shape }
}

#[cfg(test)]
mod reference_tests;
