//! Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", arXiv:1610.02391).
//!
//! For the class score `y^c` (the pre-softmax logit) and a convolutional feature map
//! `A ∈ R^{K×H×W}` (K channels of H×W), the channel weights are the spatially averaged
//! gradients `α_k = (1/HW) Σ_ij ∂y^c/∂A_kij`, and the map is `L = ReLU(Σ_k α_k A_k)` at the
//! layer's resolution, bilinearly upsampled (half-pixel centres, as PyTorch and captum) to the
//! input size.

use netlens_fetch::Images;
use netlens_fetch::resize::resize_bilinear;
use netlens_fetch::runs::InvalidSetting;
use netlens_onnx::{DifferentiableModel, FeatureLayout, GradientAt};

use super::{Map, Target, resolve_targets};
use crate::error::Result;

pub use netlens_fetch::runs::{GradCam, GradCamSettings};

/// Parameters of Grad-CAM: a builder over the recorded [`GradCamSettings`]. Defaults: the last
/// feature map ([`DifferentiableModel::grad_cam_layer`]: a CNN's last convolutional map, a
/// transformer's last-block token map), the predicted
/// class, ReLU applied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradCamParams(GradCamSettings);

impl From<GradCamSettings> for GradCamParams {
    fn from(settings: GradCamSettings) -> Self {
        GradCamParams(settings)
    }
}

impl GradCamParams {
    /// The settings, as `explanations.json` records them.
    pub fn settings(&self) -> &GradCamSettings {
        &self.0
    }

    /// The feature map, by its ONNX tensor name; `None` for `auto`.
    pub fn layer(mut self, layer: Option<String>) -> Self {
        self.0.layer = layer;
        self
    }

    /// The class to explain.
    pub fn target(mut self, target: Target) -> Self {
        self.0.target = target;
        self
    }

    /// Whether to apply the final ReLU (the paper's choice; default true).
    pub fn relu(mut self, relu: bool) -> Self {
        self.0.relu = relu;
        self
    }

    /// The layer these parameters resolve to on `model`.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`](crate::AnalyzeError::InvalidParam) when `auto` finds no convolution, or the named tensor is
    /// not 4-D `[batch, channels, height, width]`; an unknown name is reported by the model
    /// with the available names.
    pub fn resolve_layer(&self, model: &DifferentiableModel) -> Result<String> {
        let layer = match &self.0.layer {
            Some(l) => l.clone(),
            None => model.grad_cam_layer().ok_or_else(|| {
                InvalidSetting::new(
                    "layer",
                    "auto",
                    "the model has no Conv output with a feature map of at least 2×2; name a 4-D feature map or a \
                     token map",
                )
            })?,
        };
        if let Some((op, shape)) = model.tensor_info(&layer) {
            let Some(layout) = model.feature_layout(&layer) else {
                let reason = format!(
                    "Grad-CAM needs a feature map [batch, channels, height, width] (or a transformer's token map); \
                     this {op} output has shape {shape:?}"
                );
                return Err(InvalidSetting::new("layer", &layer, &reason).into());
            };
            let dims: Vec<usize> = shape[1..].iter().map(|d| d.unwrap_or(0)).collect();
            if let Some([_, h, w]) = layout.chw(&dims)
                && (h <= 1 || w <= 1)
            {
                let reason = format!(
                    "its feature map is {h}×{w}: with one position along an axis the map cannot show where along \
                     it the evidence is (upsampled, it would be a uniform band); name an earlier layer"
                );
                return Err(InvalidSetting::new("layer", &layer, &reason).into());
            }
        }
        Ok(layer)
    }

    /// Grad-CAM for each image.
    ///
    /// # Shapes
    /// `images`: `[batch, channels, height, width]` in the model's input scale; one
    /// [`GradCam`] per image.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`](crate::AnalyzeError::InvalidParam) for a bad layer or target; the model's errors (input
    /// shape, unknown layer naming the available ones).
    pub fn explain(&self, model: &DifferentiableModel, images: &Images) -> Result<Vec<GradCam>> {
        let layer = self.resolve_layer(model)?;
        // A fixed class needs no forward pass of its own (the gradient pass checks it against
        // the classes); the predicted class does.
        let targets = match self.0.target {
            Target::Class(k) => vec![k; images.shape[0]],
            target => resolve_targets(&model.forward(images)?, target)?,
        };
        let g = model.gradient(images, &targets, GradientAt::Tensor(&layer))?;
        let one = &g.activation.shape[1..];
        let layout = model.feature_layout(&layer).unwrap_or(FeatureLayout::ChannelsFirst);
        let Some([k, h, w]) = layout.chw(one) else {
            let reason = format!(
                "Grad-CAM needs a feature map [batch, channels, height, width], found shape {:?}",
                g.activation.shape
            );
            return Err(InvalidSetting::new("layer", &layer, &reason).into());
        };
        let (ih, iw) = (images.shape[2], images.shape[3]);
        let classes = g.logits.shape[1];
        let per: usize = one.iter().product();
        Ok((0..images.shape[0])
            .map(|b| {
                let chw = |v: &[f32]| layout.to_chw(&v[b * per..(b + 1) * per], one).expect("layout checked above");
                let (a, d) = (chw(&g.activation.data), chw(&g.gradient.data));
                let layer_map = cam(&a, &d, k, h, w, self.0.relu);
                let map = Map { height: ih, width: iw, data: resize_bilinear(&layer_map.data, h, w, ih, iw) };
                GradCam {
                    layer: layer.clone(),
                    target: targets[b],
                    logit: g.logits.data[b * classes + targets[b]],
                    layer_map,
                    map,
                }
            })
            .collect())
    }
}

/// `ReLU(Σ_k α_k A_k)` with `α_k` the mean of `∂y/∂A_k`, for one image.
///
/// # Shapes
/// `activation`, `gradient`: `[K, H, W]`; returns `[H, W]`.
pub fn cam(activation: &[f32], gradient: &[f32], k: usize, h: usize, w: usize, relu: bool) -> Map {
    let plane = h * w;
    let mut out = vec![0f32; plane];
    for c in 0..k {
        let grad = &gradient[c * plane..(c + 1) * plane];
        let alpha = grad.iter().map(|&g| g as f64).sum::<f64>() / plane as f64;
        for (o, &a) in out.iter_mut().zip(&activation[c * plane..(c + 1) * plane]) {
            *o += (alpha * a as f64) as f32;
        }
    }
    if relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    Map { height: h, width: w, data: out }
}

#[cfg(test)]
mod tests {
    use super::cam;

    #[test]
    fn cam_weights_channels_by_mean_gradient_and_clips_negatives() {
        // Two channels of 1×2: α = (1, −1) → Σ α_k A_k = (1·[2, 0]) + (−1·[1, 3]) = [1, −3] → ReLU [1, 0].
        let a = [2.0, 0.0, 1.0, 3.0];
        let g = [0.5, 1.5, -1.0, -1.0];
        assert_eq!(cam(&a, &g, 2, 1, 2, true).data, vec![1.0, 0.0]);
        assert_eq!(cam(&a, &g, 2, 1, 2, false).data, vec![1.0, -3.0]);
    }
}
