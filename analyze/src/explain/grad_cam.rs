//! Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", arXiv:1610.02391).
//!
//! For the class score `y^c` (the pre-softmax logit) and a convolutional feature map
//! `A ∈ R^{K×H×W}` (K channels of H×W), the channel weights are the spatially averaged
//! gradients `α_k = (1/HW) Σ_ij ∂y^c/∂A_kij`, and the map is `L = ReLU(Σ_k α_k A_k)` at the
//! layer's resolution, bilinearly upsampled (half-pixel centres, as PyTorch and captum) to the
//! input size.
//!
//! HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
//! convolutional neural networks", arXiv:2011.08891) takes the same layer and gradients but
//! multiplies them element-wise: `L = ReLU(Σ_k ∂y^c/∂A_k ⊙ A_k)`. Where the feature map reaches
//! the logit through a position-dependent linear layer (flatten, then dense) rather than global
//! average pooling, the mean gradient of Grad-CAM mixes positions whose gradients cancel;
//! HiResCAM keeps them apart, and before its ReLU its map sums to `y^c − b^c` when only
//! max-pooling, flattening and a linear layer with bias `b` follow the layer (each is
//! positively homogeneous, so Euler's theorem applies).

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
        Ok(self.explain_weighted(model, images, &[CamWeighting::MeanGradient])?.remove(0))
    }

    /// Grad-CAM and/or HiResCAM for each image from one gradient pass: one list per entry of
    /// `weightings`, each with one [`GradCam`] per image.
    ///
    /// # Shapes
    /// As [`GradCamParams::explain`].
    ///
    /// # Errors
    /// As [`GradCamParams::explain`].
    pub fn explain_weighted(
        &self,
        model: &DifferentiableModel,
        images: &Images,
        weightings: &[CamWeighting],
    ) -> Result<Vec<Vec<GradCam>>> {
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
        let chw: Vec<(Vec<f32>, Vec<f32>)> = (0..images.shape[0])
            .map(|b| {
                let chw = |v: &[f32]| layout.to_chw(&v[b * per..(b + 1) * per], one).expect("layout checked above");
                (chw(&g.activation.data), chw(&g.gradient.data))
            })
            .collect();
        Ok(weightings
            .iter()
            .map(|&weighting| {
                chw.iter()
                    .enumerate()
                    .map(|(b, (a, d))| {
                        let layer_map = match weighting {
                            CamWeighting::MeanGradient => cam(a, d, k, h, w, self.0.relu),
                            CamWeighting::Elementwise => hires_cam(a, d, k, h, w, self.0.relu),
                        };
                        let map = Map { height: ih, width: iw, data: resize_bilinear(&layer_map.data, h, w, ih, iw) };
                        GradCam {
                            layer: layer.clone(),
                            target: targets[b],
                            logit: g.logits.data[b * classes + targets[b]],
                            layer_map,
                            map,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

/// How a class-activation map weighs the layer's activations by its gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CamWeighting {
    /// Grad-CAM: each channel by the spatial mean of its gradient.
    MeanGradient,
    /// HiResCAM: each activation by the gradient at the same position.
    Elementwise,
}

/// `ReLU(Σ_k ∂y/∂A_k ⊙ A_k)`, HiResCAM (Draelos & Carin 2020, eq. 3), for one image.
///
/// # Shapes
/// `activation`, `gradient`: `[K, H, W]`; returns `[H, W]`.
pub fn hires_cam(activation: &[f32], gradient: &[f32], k: usize, h: usize, w: usize, relu: bool) -> Map {
    let plane = h * w;
    let mut out = vec![0f64; plane];
    for c in 0..k {
        let range = c * plane..(c + 1) * plane;
        for ((o, &a), &g) in out.iter_mut().zip(&activation[range.clone()]).zip(&gradient[range]) {
            *o += a as f64 * g as f64;
        }
    }
    let data = out.into_iter().map(|v| if relu { v.max(0.0) as f32 } else { v as f32 }).collect();
    Map { height: h, width: w, data }
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
    use super::{cam, hires_cam};

    #[test]
    fn cam_weights_channels_by_mean_gradient_and_clips_negatives() {
        // Two channels of 1×2: α = (1, −1) → Σ α_k A_k = (1·[2, 0]) + (−1·[1, 3]) = [1, −3] → ReLU [1, 0].
        let a = [2.0, 0.0, 1.0, 3.0];
        let g = [0.5, 1.5, -1.0, -1.0];
        assert_eq!(cam(&a, &g, 2, 1, 2, true).data, vec![1.0, 0.0]);
        assert_eq!(cam(&a, &g, 2, 1, 2, false).data, vec![1.0, -3.0]);
    }

    #[test]
    fn hires_cam_weights_each_position_by_its_own_gradient() {
        // Position 0: 2·0.5 + 1·(−1) = 0; position 1: 0·1.5 + 3·(−1) = −3 → ReLU [0, 0].
        // Grad-CAM on the same input gives [1, 0]: the mean gradient credits position 0 with
        // channel 0's gradient at position 1.
        let a = [2.0, 0.0, 1.0, 3.0];
        let g = [0.5, 1.5, -1.0, -1.0];
        assert_eq!(hires_cam(&a, &g, 2, 1, 2, false).data, vec![0.0, -3.0]);
        assert_eq!(hires_cam(&a, &g, 2, 1, 2, true).data, vec![0.0, 0.0]);
        let g = [1.0, 2.0, 0.5, -1.0];
        assert_eq!(hires_cam(&a, &g, 2, 1, 2, true).data, vec![2.5, 0.0]);
    }
}
