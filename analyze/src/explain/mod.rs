//! Explanations of an image classifier's prediction, computed on any ONNX model netlens loads.
//!
//! - [`GradCam`] (Selvaraju et al., arXiv:1610.02391): class-weighted feature maps of a
//!   convolutional layer, from gradients on burn ([`netlens_onnx::DifferentiableModel`]).
//! - [`IntegratedGradients`] (Sundararajan et al., arXiv:1703.01365): path integral of input
//!   gradients from a baseline, with its completeness error.
//! - [`ShapleySampler`] (Shapley 1953; Castro et al. 2009 sampling): Shapley values of image
//!   patches, by permutation sampling over forward passes only (any [`Classifier`], tract or
//!   burn), exact efficiency per permutation, antithetic pairs, a standard error per player.
//! - [`Baseline`]: the one reference image `x′` for absent pixels, shared by IG, Shapley and
//!   the deletion / insertion curves.
//! - [`compare`]: rank correlation between maps, and deletion / insertion curves with their
//!   AUC (Petsiuk et al., RISE, arXiv:1806.07421) against a random order.

pub mod baseline;
pub mod compare;
pub mod figure;
pub mod grad_cam;
pub mod integrated_gradients;
pub mod pipeline;
pub mod shapley;

use netlens_fetch::Images;
use netlens_onnx::{DifferentiableModel, HostTensor};

use crate::error::{AnalyzeError, Result};

pub use baseline::Baseline;
pub use grad_cam::{GradCam, GradCamParams};
pub use integrated_gradients::{IntegratedGradients, IntegratedGradientsParams, Rule};
pub use shapley::{ShapleyParams, ShapleySampler, ShapleyValues};

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

/// A model run with tract (fast, no gradients): the forward pass for Shapley sampling.
pub struct TractClassifier {
    plan: std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>,
    path: std::path::PathBuf,
}

impl TractClassifier {
    /// Loads and optimises `path` with tract, the input set to `[batch, channels, height,
    /// width]` with a symbolic batch axis and the given `[channels, height, width]`.
    ///
    /// # Errors
    /// [`AnalyzeError::Tract`] when tract cannot load, type or optimise the model.
    pub fn load(path: &std::path::Path, chw: [usize; 3]) -> Result<Self> {
        use tract_onnx::prelude::*;
        let fail = |e: TractError| AnalyzeError::Tract { path: path.into(), reason: format!("{e:#}") };
        let mut model = tract_onnx::onnx().model_for_path(path).map_err(fail)?;
        let mut shape: TVec<TDim> = tvec![model.symbols.sym("batch").to_dim()];
        shape.extend(chw.iter().map(|&d| d.to_dim()));
        model.set_input_fact(0, f32::fact(shape).into()).map_err(fail)?;
        let plan = model.into_optimized().map_err(fail)?.into_runnable().map_err(fail)?;
        Ok(Self { plan, path: path.into() })
    }
}

impl TractClassifier {
    /// Logits of one chunk of the batch.
    fn run_chunk(&self, images: &Images) -> Result<HostTensor> {
        use tract_onnx::prelude::*;
        let fail = |e: TractError| AnalyzeError::Tract { path: self.path.clone(), reason: format!("{e:#}") };
        let input = Tensor::from_shape(&images.shape, &images.data).map_err(fail)?;
        let out = self.plan.run(tvec![input.into_tvalue()]).map_err(fail)?;
        let out = out[0].cast_to::<f32>().map_err(fail)?;
        let shape = out.shape().to_vec();
        let batch = shape.first().copied().unwrap_or(1);
        let data: Vec<f32> = out.to_plain_array_view::<f32>().map_err(fail)?.iter().copied().collect();
        Ok(HostTensor { shape: vec![batch, data.len() / batch.max(1)], data })
    }
}

impl Classifier for TractClassifier {
    /// Runs the batch in as many chunks as there are cores, one thread each (tract itself runs
    /// a plan on one thread); the logits are concatenated in batch order.
    fn logits(&self, images: &Images) -> Result<HostTensor> {
        let batch = images.shape[0];
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batch);
        if threads <= 1 {
            return self.run_chunk(images);
        }
        let per = batch.div_ceil(threads);
        let chunks: Vec<Images> =
            (0..batch).step_by(per).map(|s| images.select(&(s..(s + per).min(batch)).collect::<Vec<_>>())).collect();
        let results: Vec<Result<HostTensor>> = std::thread::scope(|scope| {
            chunks
                .iter()
                .map(|c| scope.spawn(|| self.run_chunk(c)))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        let mut data = Vec::new();
        let mut classes = 0;
        for r in results {
            let t = r?;
            classes = t.shape[1];
            data.extend(t.data);
        }
        Ok(HostTensor { shape: vec![batch, classes], data })
    }
}

/// Which class an explanation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The predicted class (argmax of the logits).
    #[default]
    Predicted,
    /// A given class index.
    Class(usize),
}

/// Resolves `target` for each image from the logits `[batch, classes]`.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for a class outside `0..classes`.
pub fn resolve_targets(logits: &HostTensor, target: Target) -> Result<Vec<usize>> {
    let classes = logits.shape[1];
    match target {
        Target::Class(c) if c >= classes => Err(AnalyzeError::InvalidParam {
            name: "target".into(),
            value: c.to_string(),
            reason: format!("the model has {classes} classes (0..{classes})"),
        }),
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

/// A 2-D map of one image, row-major `[height, width]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
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
}

#[cfg(test)]
mod reference_tests;
