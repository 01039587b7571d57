//! Differentiable execution of an ONNX image classifier on burn.
//!
//! tract runs ONNX graphs fast but has no gradients. [`DifferentiableModel`] parses the same
//! file with `onnx-ir` (the parser behind burn-onnx, with `.simplify(false)` so nodes stay
//! one-to-one with the file's), evaluates each node with burn tensor ops on the
//! `Device::flex().autodiff()` device (one file per op family in `crate::ops`), and so gives the
//! gradient of any class logit with respect to the input or to any intermediate tensor, named
//! as in the ONNX file (`/relu2/Relu_output_0`).

mod names;
pub(crate) mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use netlens_fetch::Images;
use onnx_ir::{ArgType, Message, ModelProto, Node, OnnxGraph, OnnxGraphBuilder, TensorDataExt};

use crate::error::{OnnxError, Result};
use crate::ops::{self, Ctx, SUPPORTED_OPS};
use names::NameMap;
use value::{MAX_RANK, Value};

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

/// An ONNX classifier evaluated with burn autodiff.
pub struct DifferentiableModel {
    path: PathBuf,
    graph: OnnxGraph,
    names: NameMap,
    device: Device,
    /// Constant inputs, `statics[node][input]`, converted once at load.
    statics: Vec<Vec<Option<Value>>>,
    input_original: String,
    input_dims: Vec<Option<usize>>,
}

impl std::fmt::Debug for DifferentiableModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DifferentiableModel").field("path", &self.path).field("nodes", &self.graph.nodes.len()).finish()
    }
}

fn not_onnx(path: &Path, reason: impl Into<String>) -> OnnxError {
    OnnxError::NotOnnx { path: path.into(), reason: reason.into() }
}

/// Reads the file's protobuf, checks every op is one the executor evaluates, and returns the
/// nodes and the original names of the data inputs.
fn read_original(path: &Path) -> Result<(Vec<onnx_ir::NodeProto>, Vec<String>)> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.into(), source })?;
    let model = ModelProto::parse_from_bytes(&bytes).map_err(|e| not_onnx(path, e.to_string()))?;
    let graph = model.graph.as_ref().ok_or_else(|| not_onnx(path, "no graph in the file"))?;
    if let Some(node) = graph.node.iter().find(|n| !SUPPORTED_OPS.contains(&n.op_type.as_str())) {
        return Err(OnnxError::UnsupportedOp {
            node: if node.name.is_empty() { node.output.join(",") } else { node.name.clone() },
            op: node.op_type.clone(),
            supported: SUPPORTED_OPS.join(", "),
        });
    }
    let inits: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs = graph.input.iter().map(|i| i.name.clone()).filter(|n| !inits.contains(&n.as_str())).collect();
    Ok((graph.node.clone(), inputs))
}

/// The value of a constant argument, on `device`.
fn constant_value(arg: &onnx_ir::Argument, device: &Device) -> Option<Value> {
    let data = arg.value()?;
    let shape = data.shape().to_vec();
    if data.dtype().is_float() {
        Some(Value::float_from_host(data.to_f32_vec().ok()?, shape, device))
    } else {
        Some(Value::Int { data: data.to_i64_vec().ok()?, shape })
    }
}

impl DifferentiableModel {
    /// Loads an ONNX classifier with one image input `[batch, channels, height, width]` and one
    /// logits output `[batch, classes]`.
    ///
    /// # Errors
    /// [`OnnxError::Io`] if the file cannot be read; [`OnnxError::NotOnnx`] if it is not a valid
    /// model or has no single image input; [`OnnxError::UnsupportedOp`] naming the first node
    /// whose op the executor does not evaluate (see [`SUPPORTED_OPS`]).
    pub fn load(path: &Path) -> Result<Self> {
        let (original, data_inputs) = read_original(path)?;
        let graph = OnnxGraphBuilder::new()
            .simplify(false)
            .parse_file(path)
            .map_err(|e| not_onnx(path, format!("onnx-ir: {e}")))?;
        let names = names::align(&original, &data_inputs, &graph);
        if graph.inputs.len() != 1 || graph.outputs.is_empty() {
            return Err(not_onnx(
                path,
                format!("expected one image input and a logits output, found {} inputs", graph.inputs.len()),
            ));
        }
        let input_dims = match &graph.inputs[0].ty {
            ArgType::Tensor(t) if t.rank == 4 => t.static_shape.clone().unwrap_or_else(|| vec![None; 4]),
            other => return Err(not_onnx(path, format!("input of type {other}; expected a 4-D image tensor"))),
        };
        let device = Device::flex().autodiff();
        let mut statics = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let (name, op) = Self::original_node(&names, node);
            if !ops::is_supported(node) {
                return Err(OnnxError::UnsupportedOp { node: name, op, supported: SUPPORTED_OPS.join(", ") });
            }
            let mut row = Vec::with_capacity(node.inputs().len());
            for arg in node.inputs() {
                row.push(if arg.is_dynamic() || arg.is_optional() { None } else { constant_value(arg, &device) });
            }
            statics.push(row);
        }
        Ok(Self {
            path: path.into(),
            input_original: data_inputs[0].clone(),
            graph,
            names,
            device,
            statics,
            input_dims,
        })
    }

    fn original_node(names: &NameMap, node: &Node) -> (String, String) {
        names
            .node_from_ir
            .get(node.name())
            .cloned()
            .unwrap_or_else(|| (node.name().to_string(), node.node_type().to_string()))
    }

    /// The file this model was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name of the image input in the ONNX file.
    pub fn input_name(&self) -> &str {
        &self.input_original
    }

    /// The declared input shape `[batch, channels, height, width]`; `None` for a symbolic axis.
    pub fn input_shape(&self) -> &[Option<usize>] {
        &self.input_dims
    }

    /// Number of classes: the last axis of the logits output, when it is static.
    pub fn num_classes(&self) -> Option<usize> {
        match &self.graph.outputs.first()?.ty {
            ArgType::Tensor(t) => t.static_shape.as_ref()?.last().copied().flatten(),
            _ => None,
        }
    }

    /// Names (as in the ONNX file) of the float tensors the nodes compute, in graph order.
    pub fn tensor_names(&self) -> Vec<String> {
        self.names.ordered.clone()
    }

    /// The op type (as in the ONNX file) of the node that computes `tensor`, and the tensor's
    /// static shape as inferred by onnx-ir (`None` for a symbolic axis).
    pub fn tensor_info(&self, tensor: &str) -> Option<(String, Vec<Option<usize>>)> {
        let ir = self.names.tensor_to_ir.get(tensor)?;
        self.graph.nodes.iter().find_map(|n| {
            let arg = n.outputs().iter().find(|a| &a.name == ir)?;
            let shape = match &arg.ty {
                ArgType::Tensor(t) => t.static_shape.clone().unwrap_or_else(|| vec![None; t.rank]),
                _ => vec![],
            };
            Some((Self::original_node(&self.names, n).1, shape))
        })
    }

    /// The last convolutional feature map: the output of the last `Conv`, followed through the
    /// element-wise ops right after it (BatchNormalization, Relu, Clip, a residual Add). This is
    /// Grad-CAM's usual layer (the ReLU after the last convolution).
    pub fn last_conv_feature_map(&self) -> Option<String> {
        let ordered = &self.names.ordered;
        let last_conv = ordered.iter().rposition(|t| self.tensor_info(t).is_some_and(|(op, _)| op == "Conv"))?;
        let follow = ["BatchNormalization", "Relu", "Clip", "Add", "Identity", "Dropout"];
        let mut end = last_conv;
        while let Some(next) = ordered.get(end + 1) {
            let op = self.tensor_info(next).map(|(op, _)| op).unwrap_or_else(|| "Identity".into());
            if !follow.contains(&op.as_str()) {
                break;
            }
            end += 1;
        }
        Some(ordered[end].clone())
    }

    fn check_images(&self, images: &Images) -> Result<()> {
        let fits = self.input_dims.iter().zip(images.shape).skip(1).all(|(want, got)| want.is_none_or(|w| w == got));
        if !fits || images.data.len() != images.shape.iter().product::<usize>() || images.shape[0] == 0 {
            let show = |d: &Option<usize>| d.map_or("batch".to_string(), |d| d.to_string());
            return Err(OnnxError::InputShape {
                path: self.path.clone(),
                input: self.input_original.clone(),
                expected: format!("[{}]", self.input_dims.iter().map(show).collect::<Vec<_>>().join(", ")),
                found: format!("{:?}", images.shape),
            });
        }
        Ok(())
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
        let x = Value::float_from_host(images.data.clone(), images.shape.to_vec(), &self.device);
        let (logits, _) = self.run(x, None)?;
        let (t, shape) = logits;
        to_host(t.detach(), shape)
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
        let tap = match at {
            GradientAt::Input => None,
            GradientAt::Tensor(name) => Some(self.ir_tensor(name)?),
        };
        let x = Value::float_from_host(images.data.clone(), images.shape.to_vec(), &self.device);
        let Value::Float { tensor, shape } = x else { unreachable!("float_from_host returns a float") };
        let input_leaf = tensor.require_grad();
        let x = Value::Float { tensor: input_leaf.clone(), shape: shape.clone() };
        let ((logits, lshape), tapped) = self.run(x, tap.as_deref())?;
        let (batch, classes) = (lshape[0], lshape[1..].iter().product::<usize>());
        if let Some(&t) = targets.iter().find(|&&t| t >= classes) {
            return Err(OnnxError::TargetClass { target: t, classes });
        }
        let mut mask = vec![0f32; batch * classes];
        for (b, &t) in targets.iter().enumerate() {
            mask[b * classes + t] = 1.0;
        }
        let mask = Tensor::<MAX_RANK>::from_data(TensorData::new(mask, value::padded(&lshape)), &self.device);
        let grads = (logits.clone() * mask).sum().backward();
        let (leaf, leaf_shape) = tapped.unwrap_or((input_leaf, shape));
        let grad = leaf.grad(&grads).unwrap_or_else(|| leaf.zeros_like());
        Ok(LogitGradient {
            logits: to_host(logits.detach(), vec![batch, classes])?,
            activation: to_host(leaf.detach(), leaf_shape.clone())?,
            gradient: to_host(grad, leaf_shape)?,
        })
    }

    fn ir_tensor(&self, name: &str) -> Result<String> {
        self.names.tensor_to_ir.get(name).cloned().ok_or_else(|| OnnxError::UnknownLayer {
            path: self.path.clone(),
            name: name.to_string(),
            available: self.names.ordered.clone(),
        })
    }

    /// Evaluates the graph; with `tap`, cuts the graph at that tensor (detached, requiring a
    /// gradient) and returns the leaf too.
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        x: Value,
        tap: Option<&str>,
    ) -> Result<((value::Phys, Vec<usize>), Option<(value::Phys, Vec<usize>)>)> {
        let mut env: HashMap<&str, Value> = HashMap::new();
        env.insert(self.graph.inputs[0].name.as_str(), x);
        let mut tapped = None;
        for (idx, node) in self.graph.nodes.iter().enumerate() {
            let (name, op) = Self::original_node(&self.names, node);
            let ctx = Ctx { node: &name, op: &op, device: &self.device };
            let mut inputs = Vec::with_capacity(node.inputs().len());
            for (i, arg) in node.inputs().iter().enumerate() {
                inputs.push(match (&self.statics[idx][i], arg.is_dynamic()) {
                    (Some(v), _) => Some(v.clone()),
                    (None, true) => Some(
                        env.get(arg.name.as_str())
                            .cloned()
                            .ok_or_else(|| ctx.err(format!("input `{}` was not computed", arg.name)))?,
                    ),
                    (None, false) => None,
                });
            }
            let outputs = ops::eval(node, &ctx, &inputs)?;
            for (arg, mut v) in node.outputs().iter().zip(outputs) {
                if Some(arg.name.as_str()) == tap
                    && let Value::Float { tensor, shape } = &v
                {
                    let leaf = tensor.clone().detach().require_grad();
                    tapped = Some((leaf.clone(), shape.clone()));
                    v = Value::Float { tensor: leaf, shape: shape.clone() };
                }
                env.insert(arg.name.as_str(), v);
            }
        }
        let out = &self.graph.outputs[0].name;
        match env.remove(out.as_str()) {
            Some(Value::Float { tensor, shape }) if !shape.is_empty() => Ok(((tensor, shape), tapped)),
            _ => Err(not_onnx(&self.path, format!("output `{out}` is not a float tensor [batch, classes]"))),
        }
    }
}

fn to_host(t: value::Phys, shape: Vec<usize>) -> Result<HostTensor> {
    let data = t.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| OnnxError::Op {
        node: "output".into(),
        op: "read".into(),
        reason: format!("{e:?}"),
    })?;
    Ok(HostTensor { data, shape })
}

#[cfg(test)]
mod tests;
