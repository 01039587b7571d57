//! Differentiable execution of ONNX graphs on burn.
//!
//! tract runs ONNX graphs fast but has no gradients. [`DifferentiableGraph`] reads the same
//! file's protobuf and evaluates each node with burn tensor ops on an autodiff device
//! (`flex` by default, any burn device with `load_on`; one file per op family in `crate::ops`), as the ONNX spec
//! defines the op at the model's opset. [`DifferentiableModel`] is an image classifier on top of
//! it: the gradient of any class logit with respect to the input or to any intermediate tensor,
//! named as in the ONNX file (`/relu2/Relu_output_0`).

pub(crate) mod graph;
pub(crate) mod proto;
pub(crate) mod value;

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use netlens_fetch::Images;

pub use graph::{DifferentiableGraph, GraphInput, HostValue};

use crate::error::{OnnxError, Result};
use value::{MAX_RANK, Phys, Value, padded};

/// A float tensor on the host, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The values, row-major.
    pub data: Vec<f32>,
    /// The shape, e.g. `[batch, channels, height, width]`.
    pub shape: Vec<usize>,
}

/// Where [`DifferentiableModel::gradient`] takes the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientAt<'a> {
    /// The model's input image.
    Input,
    /// A tensor of the graph, by its name in the ONNX file (e.g. `/relu2/Relu_output_0`).
    Tensor(&'a str),
}

/// Logits and the gradient of the target logits at one tensor.
#[derive(Clone, Debug)]
pub struct LogitGradient {
    /// Pre-softmax class scores, `[batch, classes]`.
    pub logits: HostTensor,
    /// The tensor the gradient is taken at (the input, or the named activation), e.g.
    /// `[batch, channels, height, width]`.
    pub activation: HostTensor,
    /// `∂ y_b[target_b] / ∂ activation_b` for each image b, same shape as `activation`.
    pub gradient: HostTensor,
}

/// How a feature tensor lays out its channels and positions (for Grad-CAM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureLayout {
    /// `[batch, channels, height, width]`: a convolutional feature map.
    ChannelsFirst,
    /// `[batch, height, width, channels]`: Swin's and ConvNeXt's token maps.
    ChannelsLast,
    /// `[batch, tokens, channels]` with `prefix` class/distillation tokens first and the rest a
    /// `grid[0] × grid[1]` patch grid, row by row (ViT, DeiT).
    Tokens {
        /// Patch-grid rows and columns.
        grid: [usize; 2],
        /// Tokens before the patch tokens.
        prefix: usize,
    },
}

impl FeatureLayout {
    /// `[channels, height, width]` of one image's feature map in this layout of `shape`
    /// (`shape` without the batch axis).
    pub fn chw(self, shape: &[usize]) -> Option<[usize; 3]> {
        match (self, shape) {
            (FeatureLayout::ChannelsFirst, &[c, h, w]) => Some([c, h, w]),
            (FeatureLayout::ChannelsLast, &[h, w, c]) => Some([c, h, w]),
            (FeatureLayout::Tokens { grid, prefix }, &[t, c]) if t == prefix + grid[0] * grid[1] => {
                Some([c, grid[0], grid[1]])
            }
            _ => None,
        }
    }

    /// One image's values (`shape` without the batch axis, row-major) as `[channels, height,
    /// width]`, the prefix tokens dropped.
    pub fn to_chw(self, values: &[f32], shape: &[usize]) -> Option<Vec<f32>> {
        let [c, h, w] = self.chw(shape)?;
        Some(match self {
            FeatureLayout::ChannelsFirst => values.to_vec(),
            FeatureLayout::ChannelsLast => (0..c * h * w).map(|i| values[(i % (h * w)) * c + i / (h * w)]).collect(),
            FeatureLayout::Tokens { prefix, .. } => {
                (0..c * h * w).map(|i| values[(prefix + i % (h * w)) * c + i / (h * w)]).collect()
            }
        })
    }
}

/// The token layout of a `[tokens, channels]` shape: the largest square grid of patches that
/// leaves 0, 1 or 2 tokens in front (class and distillation tokens), at least 2 × 2.
fn token_layout(tokens: usize) -> Option<FeatureLayout> {
    let g = (tokens as f64).sqrt() as usize;
    (g..=g + 1)
        .rev()
        .find(|&g| g * g <= tokens && tokens - g * g <= 2 && g >= 2)
        .map(|g| FeatureLayout::Tokens { grid: [g, g], prefix: tokens - g * g })
}

/// One float tensor of the graph as a dry run saw it.
#[derive(Clone, Debug)]
struct TensorSeen {
    name: String,
    op: String,
    /// Its shape for one image, the batch axis first (`None` when it follows the batch).
    shape: Vec<Option<usize>>,
}

/// An ONNX image classifier evaluated with burn autodiff: one image input
/// `[batch, channels, height, width]`, logits as the first output (`[batch, classes]`, or any
/// shape whose axes after the batch hold the classes, e.g. `[batch, classes, 1, 1]`).
pub struct DifferentiableModel {
    graph: DifferentiableGraph,
    input: GraphInput,
    /// The graph's float tensors in order, from a dry run on one image.
    tensors: Vec<TensorSeen>,
    classes: Option<usize>,
    /// The graph fixes its batch at 1 (e.g. a `Reshape` to `[1, 256]`): images run one by one.
    one_at_a_time: bool,
}

impl std::fmt::Debug for DifferentiableModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DifferentiableModel").field("graph", &self.graph).finish()
    }
}

fn not_onnx(path: &Path, reason: impl Into<String>) -> OnnxError {
    OnnxError::NotOnnx { path: path.into(), reason: reason.into() }
}

impl DifferentiableModel {
    /// Loads an ONNX classifier with one image input and checks that every node can be
    /// evaluated: each op and attribute against the executor's, then one dry run on a blank
    /// image of the declared size (which also finds graphs that only take one image at a time).
    ///
    /// # Errors
    /// [`OnnxError::Io`] if the file cannot be read; [`OnnxError::NotOnnx`] if it is not a valid
    /// model, has no single 4-D image input or takes channels-last images;
    /// [`OnnxError::UnsupportedOp`] naming the first node whose op the executor does not
    /// evaluate; [`OnnxError::Op`] for an attribute or input a node cannot take.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_on(path, &burn::tensor::Device::flex())
    }

    /// [`Self::load`] with the weights and every evaluation on `device` (a burn device without
    /// autodiff: `flex`, or a GPU's `wgpu`/`cuda` device; autodiff is added here). The same graph
    /// on two devices gives the same logits and gradients up to the devices' float rounding.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_on(path: &Path, device: &burn::tensor::Device) -> Result<Self> {
        let graph = DifferentiableGraph::load_on(path, device)?;
        let input = image_input(path, graph.inputs())?;
        let mut model = DifferentiableModel { graph, input, tensors: vec![], classes: None, one_at_a_time: false };
        model.dry_run()?;
        Ok(model)
    }

    /// Runs a blank image through the graph (two when the batch is symbolic, falling back to
    /// one image at a time when the graph fixes its batch) and records every tensor's shape.
    fn dry_run(&mut self) -> Result<()> {
        let Some(chw) = self.input.dims.get(1..).unwrap_or_default().iter().copied().collect::<Option<Vec<usize>>>()
        else {
            return Ok(()); // Spatial size unknown until images come: shapes are learnt then.
        };
        let declared = self.input.dims[0];
        let try_batch = |batch: usize| {
            let mut shape = vec![batch];
            shape.extend(&chw);
            let x = Value::float_from_host(vec![0.0; shape.iter().product()], shape, self.graph.device());
            self.graph.evaluate(vec![(self.input.name.clone(), x)], None, true)
        };
        let (eval, batch) = match declared {
            Some(b) => (try_batch(b)?, b),
            None => match try_batch(2) {
                Ok(e) => (e, 2),
                Err(_) => (try_batch(1)?, 1),
            },
        };
        self.one_at_a_time = batch == 1;
        let logits = eval.outputs.first().ok_or_else(|| not_onnx(self.graph.path(), "the graph has no output"))?;
        let out = logits.shape();
        if !matches!(logits, Value::Float { .. }) || out.len() < 2 || out[0] != batch {
            return Err(not_onnx(
                self.graph.path(),
                format!(
                    "the first output `{}` is {out:?}; expected float logits [batch, classes]",
                    self.graph.output_names()[0]
                ),
            ));
        }
        self.classes = Some(out[1..].iter().product());
        self.tensors = eval
            .shapes
            .into_iter()
            .map(|(name, op, shape)| {
                let shape = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if i == 0 && d == batch && declared.is_none() { None } else { Some(d) })
                    .collect();
                TensorSeen { name, op, shape }
            })
            .collect();
        Ok(())
    }

    /// The file this model was read from.
    pub fn path(&self) -> &Path {
        self.graph.path()
    }

    /// The graph underneath.
    pub fn graph(&self) -> &DifferentiableGraph {
        &self.graph
    }

    /// The name of the image input in the ONNX file.
    pub fn input_name(&self) -> &str {
        &self.input.name
    }

    /// The declared input shape `[batch, channels, height, width]`; `None` for a symbolic axis.
    pub fn input_shape(&self) -> &[Option<usize>] {
        &self.input.dims
    }

    /// Number of classes: the logits' size after the batch axis.
    pub fn num_classes(&self) -> Option<usize> {
        self.classes
    }

    /// Whether the graph takes one image per run (its batch is fixed at 1).
    pub fn one_at_a_time(&self) -> bool {
        self.one_at_a_time
    }

    /// Names (as in the ONNX file) of the float tensors the nodes compute, in graph order.
    pub fn tensor_names(&self) -> Vec<String> {
        self.tensors.iter().map(|t| t.name.clone()).collect()
    }

    /// The op type of the node that computes `tensor`, and the tensor's shape (`None` for the
    /// batch axis).
    pub fn tensor_info(&self, tensor: &str) -> Option<(String, Vec<Option<usize>>)> {
        self.tensors.iter().find(|t| t.name == tensor).map(|t| (t.op.clone(), t.shape.clone()))
    }

    /// Grad-CAM's layer as users of pytorch-grad-cam pick it: for a transformer (two or more
    /// `LayerNormalization`s of token maps after the last `Conv`, which is its patch embedding)
    /// the first `LayerNormalization` of the last block — the third last one, before the last
    /// block's second and the final norm — (ViT/DeiT `blocks[-1].norm1`, Swin
    /// `layers[-1].blocks[-1].norm1`); otherwise [`Self::last_conv_feature_map`].
    pub fn grad_cam_layer(&self) -> Option<String> {
        let nodes = self.graph.nodes();
        let last_conv = nodes.iter().rposition(|n| n.op == "Conv")?;
        let token_norms: Vec<&str> = nodes[last_conv..]
            .iter()
            .filter(|n| n.op == "LayerNormalization")
            .filter_map(|n| n.outputs.first())
            .filter(|o| self.feature_layout(o).is_some_and(|l| l != FeatureLayout::ChannelsFirst))
            .map(String::as_str)
            .collect();
        if token_norms.len() >= 2 {
            return Some(token_norms[token_norms.len().saturating_sub(3)].to_string());
        }
        self.last_conv_feature_map()
    }

    /// How `tensor` lays out channels and positions: `[batch, tokens, channels]` with a square
    /// patch grid, a 4-D `LayerNormalization` output channels-last, other 4-D tensors
    /// channels-first; `None` for other shapes or an unknown tensor.
    pub fn feature_layout(&self, tensor: &str) -> Option<FeatureLayout> {
        let (op, shape) = self.tensor_info(tensor)?;
        let dims: Option<Vec<usize>> = shape.get(1..)?.iter().copied().collect();
        match *dims?.as_slice() {
            [tokens, _] => token_layout(tokens),
            [_, h, w] if op == "LayerNormalization" && h > 1 && w > 1 => Some(FeatureLayout::ChannelsLast),
            [_, _, _] => Some(FeatureLayout::ChannelsFirst),
            _ => None,
        }
    }

    /// Grad-CAM's usual layer in a convolutional network, as users of pytorch-grad-cam pick
    /// it: the output of the last `Conv`, followed forward through the ops that keep the
    /// feature map's size — normalisation, activations (including SiLU's `Sigmoid`·`Mul`),
    /// residual `Add`, `Concat` — and stopping at pooling or flattening: ResNet's last block
    /// output, DenseNet's `norm5` + ReLU, EfficientNet's SiLU, Inception's last concatenation.
    /// A later channels-first map of the same size (ConvNeXt's block output after its
    /// channels-last MLP) is taken when there is one. A `Conv` whose output is 1 × 1 (or 1 in
    /// either axis: DenseNet-style classifiers as a 1×1 convolution after global pooling) is
    /// passed over for the last one with a map.
    pub fn last_conv_feature_map(&self) -> Option<String> {
        const FOLLOWED: &[&str] = &[
            "BatchNormalization",
            "InstanceNormalization",
            "Relu",
            "Clip",
            "LeakyRelu",
            "PRelu",
            "Elu",
            "Selu",
            "Celu",
            "Sigmoid",
            "Tanh",
            "HardSigmoid",
            "HardSwish",
            "Mish",
            "Gelu",
            "Softplus",
            "Mul",
            "Add",
            "Sub",
            "Div",
            "Sum",
            "Max",
            "Concat",
            "Identity",
            "Dropout",
        ];
        let nodes = self.graph.nodes();
        let spatial = |name: &str| self.tensor_info(name).map(|(_, s)| s).filter(|s| s.len() == 4);
        let is_map =
            |name: &String| spatial(name).is_some_and(|s| s[2].is_some_and(|h| h > 1) && s[3].is_some_and(|w| w > 1));
        let last_conv = nodes.iter().rposition(|n| n.op == "Conv" && n.outputs.first().is_some_and(is_map))?;
        let mut at = last_conv;
        let mut current = nodes[at].outputs.first()?.clone();
        let size = spatial(&current)?;
        loop {
            let mut next = nodes.iter().enumerate().skip(at + 1).filter(|(_, n)| {
                FOLLOWED.contains(&n.op.as_str())
                    && n.inputs.contains(&current)
                    && n.outputs.first().and_then(|o| spatial(o)).is_some_and(|s| s[2..] == size[2..])
            });
            match next.next_back() {
                Some((i, n)) => {
                    at = i;
                    current = n.outputs[0].clone();
                }
                None => break,
            }
        }
        // ConvNeXt: the block's MLP runs channels-last; its output comes back channels-first,
        // of the conv's size, after the last conv node.
        let names: Vec<&str> = nodes[at..].iter().flat_map(|n| n.outputs.iter().map(String::as_str)).collect();
        let later = names.iter().rev().find(|&&n| {
            self.feature_layout(n) == Some(FeatureLayout::ChannelsFirst)
                && spatial(n).is_some_and(|s| s[1..] == size[1..])
        });
        Some(later.map_or(current, |n| n.to_string()))
    }

    fn check_images(&self, images: &Images) -> Result<()> {
        let fits = self.input.dims.iter().zip(images.shape).skip(1).all(|(want, got)| want.is_none_or(|w| w == got));
        if !fits || images.data.len() != images.shape.iter().product::<usize>() || images.shape[0] == 0 {
            let show = |d: &Option<usize>| d.map_or("batch".to_string(), |d| d.to_string());
            return Err(OnnxError::InputShape {
                path: self.path().into(),
                input: self.input.name.clone(),
                expected: format!("[{}]", self.input.dims.iter().map(show).collect::<Vec<_>>().join(", ")),
                found: format!("{:?}", images.shape),
            });
        }
        Ok(())
    }

    /// The images in runs the graph takes: all at once, or one by one.
    fn runs(&self, images: &Images) -> Vec<Images> {
        if !self.one_at_a_time || images.len() == 1 {
            return vec![images.clone()];
        }
        (0..images.len()).map(|i| images.select(&[i])).collect()
    }

    /// Pre-softmax logits for a batch of images.
    ///
    /// # Shapes
    /// `images`: `[batch, channels, height, width]`, in the model's own input scale (e.g. pixels
    /// in [0, 1], or ImageNet-normalised); returns `[batch, classes]`.
    ///
    /// # Errors
    /// [`OnnxError::InputShape`] if the images do not fit the declared input;
    /// [`OnnxError::Op`] if a node cannot evaluate its inputs.
    pub fn forward(&self, images: &Images) -> Result<HostTensor> {
        self.check_images(images)?;
        let mut data = Vec::new();
        let mut classes = 0;
        for part in self.runs(images) {
            let x = Value::float_from_host(part.data.clone(), part.shape.to_vec(), self.graph.device());
            let eval = self.graph.evaluate(vec![(self.input.name.clone(), x)], None, false)?;
            let (logits, shape) = self.logits(eval.outputs.into_iter().next(), part.len())?;
            classes = shape[1];
            data.extend(to_host(logits.detach())?);
        }
        Ok(HostTensor { data, shape: vec![images.len(), classes] })
    }

    /// The first output as `[batch, classes]`.
    fn logits(&self, out: Option<Value>, batch: usize) -> Result<(Phys, [usize; 2])> {
        match out {
            Some(Value::Float { tensor, shape }) if shape.len() >= 2 && shape[0] == batch => {
                let classes = shape[1..].iter().product();
                Ok((tensor.reshape(padded(&[batch, classes])), [batch, classes]))
            }
            other => Err(not_onnx(
                self.path(),
                format!(
                    "the first output is {:?}; expected float logits [batch, classes]",
                    other.map(|v| v.shape().to_vec())
                ),
            )),
        }
    }

    /// Logits and the gradient of each image's target logit at the input or a named tensor.
    ///
    /// The backward pass starts from `Σ_b y_b[target_b]`; images do not interact (inference
    /// graphs have no batch statistics), so the gradient for image b is `∂ y_b[target_b] / ∂ a_b`.
    ///
    /// # Shapes
    /// `images`: `[batch, channels, height, width]`; `targets`: `[batch]` class indices.
    ///
    /// # Errors
    /// As [`forward`](Self::forward), plus [`OnnxError::UnknownLayer`] for a tensor name the
    /// graph does not have (listing those it has) and [`OnnxError::TargetClass`] for a target
    /// outside the classes.
    pub fn gradient(&self, images: &Images, targets: &[usize], at: GradientAt) -> Result<LogitGradient> {
        self.check_images(images)?;
        if targets.len() != images.shape[0] {
            return Err(OnnxError::TargetCount { targets: targets.len(), images: images.shape[0] });
        }
        if let GradientAt::Tensor(name) = at
            && !self.tensors.is_empty()
            && self.tensor_info(name).is_none()
        {
            return Err(OnnxError::UnknownLayer {
                path: self.path().into(),
                name: name.into(),
                available: self.tensor_names(),
            });
        }
        let mut parts: Vec<LogitGradient> = vec![];
        let mut first = 0;
        for part in self.runs(images) {
            parts.push(self.gradient_run(&part, &targets[first..first + part.len()], at)?);
            first += part.len();
        }
        Ok(join(parts))
    }

    fn gradient_run(&self, images: &Images, targets: &[usize], at: GradientAt) -> Result<LogitGradient> {
        let tap = match at {
            GradientAt::Input => None,
            GradientAt::Tensor(name) => Some(name),
        };
        let shape = images.shape.to_vec();
        let input =
            Tensor::<MAX_RANK>::from_data(TensorData::new(images.data.clone(), padded(&shape)), self.graph.device());
        // At a tapped tensor (Grad-CAM) nothing before it needs a gradient: with an input that
        // does not require one, autodiff records nothing up to the tap (which `evaluate` cuts
        // out as a fresh leaf), and the backward pass covers only the layers after it.
        let input_leaf = if tap.is_none() { input.require_grad() } else { input };
        let x = Value::Float { tensor: input_leaf.clone(), shape: shape.clone() };
        let eval = self.graph.evaluate(vec![(self.input.name.clone(), x)], tap, false)?;
        let (logits, [batch, classes]) = self.logits(eval.outputs.into_iter().next(), images.len())?;
        if let Some(&t) = targets.iter().find(|&&t| t >= classes) {
            return Err(OnnxError::TargetClass { target: t, classes });
        }
        let mut mask = vec![0f32; batch * classes];
        for (b, &t) in targets.iter().enumerate() {
            mask[b * classes + t] = 1.0;
        }
        let mask = Tensor::<MAX_RANK>::from_data(TensorData::new(mask, padded(&[batch, classes])), self.graph.device());
        let target = (logits.clone() * mask).sum();
        let grads = crate::error::guard(self.path(), "burn", "run the backward pass", || Ok(target.backward()))?;
        let (leaf, leaf_shape) = eval.tapped.unwrap_or((input_leaf, shape));
        let grad = leaf.grad(&grads).unwrap_or_else(|| leaf.zeros_like());
        Ok(LogitGradient {
            logits: HostTensor { data: to_host(logits.detach())?, shape: vec![batch, classes] },
            activation: HostTensor { data: to_host(leaf.detach())?, shape: leaf_shape.clone() },
            gradient: HostTensor { data: to_host(grad)?, shape: leaf_shape },
        })
    }
}

/// Gradients of consecutive runs as one batch.
fn join(mut parts: Vec<LogitGradient>) -> LogitGradient {
    let mut all = parts.remove(0);
    for p in parts {
        for (a, b) in
            [(&mut all.logits, p.logits), (&mut all.activation, p.activation), (&mut all.gradient, p.gradient)]
        {
            a.data.extend(b.data);
            a.shape[0] += b.shape[0];
        }
    }
    all
}

/// The one float image input `[batch, channels, height, width]`.
fn image_input(path: &Path, inputs: &[GraphInput]) -> Result<GraphInput> {
    let [input] = inputs else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(not_onnx(
            path,
            format!("expected one image input, found {} inputs: {}", inputs.len(), names.join(", ")),
        ));
    };
    let dims = &input.dims;
    if !input.float || dims.len() != 4 {
        return Err(not_onnx(
            path,
            format!(
                "input `{}` is {} with {} axes; expected float images [batch, channels, height, width]",
                input.name,
                if input.float { "float" } else { "integer" },
                dims.len()
            ),
        ));
    }
    let image_channels = |d: Option<usize>| d.is_some_and(|c| matches!(c, 1 | 3 | 4));
    if image_channels(dims[3]) && !image_channels(dims[1]) {
        return Err(not_onnx(
            path,
            format!(
                "input `{}` {dims:?} looks channels-last [batch, height, width, channels] (a TensorFlow/Keras export); \
                 netlens takes channels-first [batch, channels, height, width] images — re-export with NCHW input",
                input.name
            ),
        ));
    }
    Ok(input.clone())
}

fn to_host(t: Phys) -> Result<Vec<f32>> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| OnnxError::Op {
        node: "output".into(),
        op: "read".into(),
        reason: format!("{e:?}"),
    })
}

#[cfg(test)]
mod tests;
