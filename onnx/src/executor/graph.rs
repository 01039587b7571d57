//! [`DifferentiableGraph`]: an ONNX graph read straight from its protobuf and evaluated node by
//! node with burn tensor ops on the autodiff device, each op as the ONNX spec defines it at the
//! model's opset.
//!
//! The graph is taken as the file has it: the file's own node and tensor names, every node, the
//! model's opset for each op's semantics. Model-local functions (`ModelProto.functions`, as the
//! `dynamo=True` exporter may write) are inlined. Every op and every attribute is checked
//! against what the executor implements when the graph is loaded, so an unsupported one is an
//! error naming the node — never a silently different computation.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use tract_onnx::pb;
use tract_onnx::prelude::Framework;

use super::proto::{self, Attr, HostData, dtype};
use super::value::{MAX_RANK, Phys, Value, padded};
use crate::error::{OnnxError, Result};
use crate::ops::{self, Ctx};

/// One node as the file has it, with decoded attributes.
#[derive(Clone, Debug)]
pub(crate) struct NodeSpec {
    /// The node's name in the file (its outputs joined when it has none).
    pub name: String,
    /// The op type, e.g. `Conv`.
    pub op: String,
    /// Input tensor names; `""` for an omitted optional input.
    pub inputs: Vec<String>,
    /// Output tensor names; `""` for an unused optional output.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: HashMap<String, Attr>,
}

/// A graph input that is not an initializer: a tensor the caller feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphInput {
    /// Its name in the file.
    pub name: String,
    /// Declared dimensions; `None` for a symbolic or unknown axis.
    pub dims: Vec<Option<usize>>,
    /// Whether its elements are floating point (else integer or boolean).
    pub float: bool,
}

/// An ONNX graph evaluated with burn autodiff.
pub struct DifferentiableGraph {
    path: PathBuf,
    opset: i64,
    nodes: Vec<NodeSpec>,
    constants: HashMap<String, Value>,
    inputs: Vec<GraphInput>,
    outputs: Vec<String>,
    /// For each value name, the index of the last node that reads it (values are dropped after
    /// it, unless they are graph outputs).
    last_use: HashMap<String, usize>,
    device: Device,
}

impl std::fmt::Debug for DifferentiableGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DifferentiableGraph").field("path", &self.path).field("nodes", &self.nodes.len()).finish()
    }
}

/// What one evaluation computed.
pub(crate) struct Evaluation {
    /// The graph outputs, in order.
    pub outputs: Vec<Value>,
    /// The tapped tensor, cut from the graph (detached and requiring a gradient), when asked.
    pub tapped: Option<(Phys, Vec<usize>)>,
    /// Shapes and producing ops of every float tensor, in graph order (when asked).
    pub shapes: Vec<(String, String, Vec<usize>)>,
}

fn not_onnx(path: &Path, reason: impl Into<String>) -> OnnxError {
    OnnxError::NotOnnx { path: path.into(), reason: reason.into() }
}

impl DifferentiableGraph {
    /// Reads the ONNX file at `path` and checks every node against the ops the executor
    /// implements at the model's opset.
    ///
    /// # Errors
    /// [`OnnxError::Io`] if unreadable; [`OnnxError::NotOnnx`] if not an ONNX model, or a tensor
    /// cannot be decoded; [`OnnxError::UnsupportedOp`] naming the first node whose op (or op
    /// domain) the executor does not evaluate; [`OnnxError::Op`] for an attribute the executor
    /// does not implement.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_on(path, &Device::flex())
    }

    /// [`Self::load`] with the weights and every evaluation on `device` (a burn device without
    /// autodiff, e.g. `wgpu`; autodiff is added here).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_on(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.into(), source })?;
        let model = tract_onnx::onnx()
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| not_onnx(path, format!("cannot decode the protobuf: {e:#}")))?;
        Self::from_proto(path, &model, device.clone().autodiff())
    }

    fn from_proto(path: &Path, model: &pb::ModelProto, device: Device) -> Result<Self> {
        let graph = model.graph.as_ref().ok_or_else(|| not_onnx(path, "no graph in the file"))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map(|o| o.version)
            .unwrap_or(1);
        let dir = path.parent();
        let mut constants = HashMap::new();
        for t in &graph.initializer {
            let decoded = proto::tensor(t, dir).map_err(|e| not_onnx(path, e))?;
            constants.insert(t.name.clone(), Value::from_decoded(decoded, &device));
        }
        let inputs: Vec<GraphInput> =
            graph.input.iter().filter(|i| !constants.contains_key(&i.name)).map(graph_input).collect();
        let mut nodes = Vec::with_capacity(graph.node.len());
        let functions: HashMap<(String, String), &pb::FunctionProto> = model
            .functions
            .iter()
            .map(|f| ((f.domain.clone().unwrap_or_default(), f.name.clone().unwrap_or_default()), f))
            .collect();
        for node in &graph.node {
            inline(path, node, &functions, dir, &mut nodes, 0)?;
        }
        let outputs: Vec<String> = graph.output.iter().map(|o| o.name.clone()).collect();
        let mut last_use = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for input in n.inputs.iter().filter(|s| !s.is_empty()) {
                last_use.insert(input.clone(), i);
            }
        }
        let g = DifferentiableGraph { path: path.into(), opset, nodes, constants, inputs, outputs, last_use, device };
        g.check_ops()?;
        Ok(g)
    }

    /// Refuses, by node, any op or attribute the executor does not implement at this opset.
    fn check_ops(&self) -> Result<()> {
        for node in &self.nodes {
            let def = ops::lookup(&node.op).ok_or_else(|| OnnxError::UnsupportedOp {
                node: node.name.clone(),
                op: node.op.clone(),
                supported: ops::supported().join(", "),
            })?;
            let ctx = Ctx { node, opset: self.opset, device: &self.device };
            if self.opset < def.since {
                return Err(ctx
                    .err(format!("the model's opset {} is older than {} (opset {})", self.opset, node.op, def.since)));
            }
            for (name, attr) in &node.attrs {
                if !def.attrs.contains(&name.as_str()) {
                    return Err(ctx.err(format!(
                        "attribute `{name}` is not implemented by the executor (it knows {})",
                        if def.attrs.is_empty() { "none".to_string() } else { def.attrs.join(", ") }
                    )));
                }
                if let Attr::Unsupported(kind) = attr {
                    return Err(ctx.err(format!("attribute `{name}` is {kind}, which the executor does not evaluate")));
                }
            }
            (def.check)(&ctx)?;
        }
        Ok(())
    }

    /// The file this graph was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's opset for the default ONNX domain.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// The inputs the caller feeds, in graph order.
    pub fn inputs(&self) -> &[GraphInput] {
        &self.inputs
    }

    /// The graph's output names, in order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// The nodes, in graph order.
    pub(crate) fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The autodiff device values live on.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// Evaluates the graph on `feeds` (one value per name of [`Self::inputs`]).
    ///
    /// With `tap`, the float tensor of that name is cut from the graph (detached, requiring a
    /// gradient) and evaluation continues from it, so a backward pass gives the gradient there.
    /// With `shapes`, every float tensor's producing op and shape is recorded.
    pub(crate) fn evaluate(&self, feeds: Vec<(String, Value)>, tap: Option<&str>, shapes: bool) -> Result<Evaluation> {
        let mut env: HashMap<String, Value> = feeds.into_iter().collect();
        let mut tapped = None;
        let mut recorded = vec![];
        let keep: HashSet<&str> = self.outputs.iter().map(String::as_str).chain(tap).collect();
        for (idx, node) in self.nodes.iter().enumerate() {
            let ctx = Ctx { node, opset: self.opset, device: &self.device };
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for name in &node.inputs {
                inputs.push(if name.is_empty() {
                    None
                } else if let Some(v) = env.get(name).or_else(|| self.constants.get(name)) {
                    Some(v.clone())
                } else {
                    return Err(
                        ctx.err(format!("input `{name}` is neither computed before this node nor an initializer"))
                    );
                });
            }
            let outputs = netlens_fetch::panic::catch(|| ops::eval(&ctx, &inputs))
                .unwrap_or_else(|message| Err(ctx.err(format!("evaluation panicked: {message}"))))?;
            for name in node.inputs.iter().filter(|n| self.last_use.get(*n) == Some(&idx) && !keep.contains(n.as_str()))
            {
                env.remove(name);
            }
            for (name, mut value) in node.outputs.iter().zip(outputs) {
                if name.is_empty() {
                    continue;
                }
                if let Value::Float { tensor, shape } = &mut value {
                    if Some(name.as_str()) == tap {
                        let leaf = tensor.clone().detach().require_grad();
                        tapped = Some((leaf.clone(), shape.clone()));
                        *tensor = leaf;
                    }
                    if shapes {
                        recorded.push((name.clone(), node.op.clone(), shape.clone()));
                    }
                }
                env.insert(name.clone(), value);
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|o| {
                env.remove(o)
                    .or_else(|| self.constants.get(o).cloned())
                    .ok_or_else(|| not_onnx(&self.path, format!("graph output `{o}` is never computed")))
            })
            .collect::<Result<_>>()?;
        if let Some(t) = tap
            && tapped.is_none()
        {
            return Err(OnnxError::UnknownLayer {
                path: self.path.clone(),
                name: t.to_string(),
                available: recorded.iter().map(|r| r.0.clone()).collect(),
            });
        }
        Ok(Evaluation { outputs, tapped, shapes: recorded })
    }

    /// Evaluates the graph on host inputs and returns every output on the host.
    ///
    /// # Errors
    /// [`OnnxError::InputShape`] for a missing or misshapen input; the ops' errors.
    pub fn run(&self, feeds: &[(&str, HostValue)]) -> Result<Vec<HostValue>> {
        let feeds = self.feeds(feeds)?;
        let eval = self.evaluate(feeds, None, false)?;
        eval.outputs.into_iter().map(|v| v.to_host()).collect()
    }

    /// The gradient of `Σ_k Σ cotangent_k ⊙ output_k` with respect to the float inputs named in
    /// `wrt`, and the outputs: a vector-Jacobian product, as reverse-mode autodiff computes it.
    ///
    /// # Errors
    /// As [`Self::run`]; [`OnnxError::InputShape`] for a cotangent of the wrong size or a
    /// `wrt` name that is not a float input.
    pub fn vjp(
        &self,
        feeds: &[(&str, HostValue)],
        cotangents: &[Vec<f32>],
        wrt: &[&str],
    ) -> Result<(Vec<HostValue>, Vec<Vec<f32>>)> {
        let mut values = self.feeds(feeds)?;
        let mut leaves = vec![];
        for name in wrt {
            let slot = values.iter_mut().find(|(n, _)| n == name);
            let Some((_, Value::Float { tensor, shape })) = slot else {
                return Err(self.input_error(name, "a float input", "none"));
            };
            *tensor = tensor.clone().require_grad();
            leaves.push((tensor.clone(), shape.clone()));
        }
        let eval = self.evaluate(values, None, false)?;
        let mut total: Option<Tensor<1>> = None;
        for (out, w) in eval.outputs.iter().zip(cotangents) {
            let Value::Float { tensor, shape } = out else { continue };
            if w.len() != shape.iter().product::<usize>() {
                return Err(self.input_error(
                    "cotangent",
                    &format!("{} values", shape.iter().product::<usize>()),
                    &format!("{}", w.len()),
                ));
            }
            let w = Tensor::<MAX_RANK>::from_data(TensorData::new(w.clone(), padded(shape)), &self.device);
            let term = (tensor.clone() * w).sum();
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
        let grads =
            crate::error::guard(&self.path, "burn", "run the backward pass", || Ok(total.map(|t| t.backward())))?;
        let gradients = leaves
            .into_iter()
            .map(|(leaf, shape)| {
                let g = grads.as_ref().and_then(|g| leaf.grad(g)).unwrap_or_else(|| leaf.zeros_like());
                Ok(Value::Float { tensor: g, shape }.to_host()?.into_floats())
            })
            .collect::<Result<_>>()?;
        let outputs = eval.outputs.into_iter().map(|v| v.to_host()).collect::<Result<_>>()?;
        Ok((outputs, gradients))
    }

    fn input_error(&self, input: &str, expected: &str, found: &str) -> OnnxError {
        OnnxError::InputShape {
            path: self.path.clone(),
            input: input.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// Host inputs as values on the device, checked against the declared inputs.
    fn feeds(&self, feeds: &[(&str, HostValue)]) -> Result<Vec<(String, Value)>> {
        self.inputs
            .iter()
            .map(|input| {
                let (_, v) = feeds
                    .iter()
                    .find(|(n, _)| *n == input.name)
                    .ok_or_else(|| self.input_error(&input.name, "a value", "none was given"))?;
                Ok((input.name.clone(), v.to_value(&self.device)))
            })
            .collect()
    }
}

/// A tensor on the host: float values or integer values, row-major, with the shape.
#[derive(Clone, Debug, PartialEq)]
pub enum HostValue {
    /// Float values (any ONNX float type).
    Float { data: Vec<f32>, shape: Vec<usize> },
    /// Integer or boolean values.
    Int { data: Vec<i64>, shape: Vec<usize> },
}

impl HostValue {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            HostValue::Float { shape, .. } | HostValue::Int { shape, .. } => shape,
        }
    }

    /// The values as f32 (integers converted).
    pub fn into_floats(self) -> Vec<f32> {
        match self {
            HostValue::Float { data, .. } => data,
            HostValue::Int { data, .. } => data.into_iter().map(|v| v as f32).collect(),
        }
    }

    fn to_value(&self, device: &Device) -> Value {
        match self {
            HostValue::Float { data, shape } => Value::float_from_host(data.clone(), shape.clone(), device),
            HostValue::Int { data, shape } => Value::Int { data: data.clone(), shape: shape.clone() },
        }
    }
}

impl Value {
    /// The value on the host.
    pub(crate) fn to_host(&self) -> Result<HostValue> {
        match self {
            Value::Float { tensor, shape } => {
                let data = tensor.clone().detach().into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| {
                    OnnxError::Op { node: "output".into(), op: "read".into(), reason: format!("{e:?}") }
                })?;
                Ok(HostValue::Float { data, shape: shape.clone() })
            }
            Value::Int { data, shape } => Ok(HostValue::Int { data: data.clone(), shape: shape.clone() }),
        }
    }

    fn from_decoded(t: proto::Decoded, device: &Device) -> Value {
        match t.data {
            HostData::Float { data, .. } => Value::float_from_host(data, t.shape, device),
            HostData::Int(data) => Value::Int { data, shape: t.shape },
        }
    }
}

fn graph_input(info: &pb::ValueInfoProto) -> GraphInput {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let tensor = match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Some(t),
        _ => None,
    };
    let dims = tensor
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match d.value {
                    Some(Dim::DimValue(v)) if v > 0 => Some(v as usize),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    GraphInput { name: info.name.clone(), dims, float: tensor.is_none_or(|t| dtype::is_float(t.elem_type)) }
}

/// Appends `node` to `out`, expanding a call of a model-local function into its body (inputs
/// and outputs renamed to the call's, its own tensors prefixed with the call's name, attribute
/// references resolved from the call's attributes).
fn inline(
    path: &Path,
    node: &pb::NodeProto,
    functions: &HashMap<(String, String), &pb::FunctionProto>,
    dir: Option<&Path>,
    out: &mut Vec<NodeSpec>,
    depth: usize,
) -> Result<()> {
    let name = if node.name.is_empty() { node.output.join(",") } else { node.name.clone() };
    let standard = node.domain.is_empty() || node.domain == "ai.onnx";
    let Some(function) = functions.get(&(node.domain.clone(), node.op_type.clone())).filter(|_| !standard) else {
        if !standard {
            return Err(OnnxError::UnsupportedOp {
                node: name,
                op: format!("{}:{}", node.domain, node.op_type),
                supported: "the default ONNX domain (ai.onnx) and functions defined in the model".into(),
            });
        }
        let attrs =
            proto::attributes(&node.attribute, dir).map_err(|e| not_onnx(path, format!("node `{name}`: {e}")))?;
        out.push(NodeSpec {
            name,
            op: node.op_type.clone(),
            inputs: node.input.clone(),
            outputs: node.output.clone(),
            attrs,
        });
        return Ok(());
    };
    if depth > 16 {
        return Err(not_onnx(path, format!("node `{name}`: functions nested more than 16 deep")));
    }
    let mut rename: HashMap<String, String> = HashMap::new();
    for (formal, actual) in function.input.iter().zip(&node.input) {
        rename.insert(formal.clone(), actual.clone());
    }
    for (formal, actual) in function.output.iter().zip(&node.output) {
        rename.insert(formal.clone(), actual.clone());
    }
    let local = |t: &str, rename: &HashMap<String, String>| {
        if t.is_empty() { String::new() } else { rename.get(t).cloned().unwrap_or_else(|| format!("{name}/{t}")) }
    };
    for inner in &function.node {
        let mut inner = inner.clone();
        inner.input = inner.input.iter().map(|t| local(t, &rename)).collect();
        inner.output = inner.output.iter().map(|t| local(t, &rename)).collect();
        inner.name = format!("{name}/{}", inner.name);
        let mut attrs = vec![];
        for a in inner.attribute {
            if a.ref_attr_name.is_empty() {
                attrs.push(a);
            } else if let Some(actual) = node.attribute.iter().find(|c| c.name == a.ref_attr_name) {
                attrs.push(pb::AttributeProto { name: a.name.clone(), ..actual.clone() });
            }
        }
        inner.attribute = attrs;
        inline(path, &inner, functions, dir, out, depth + 1)?;
    }
    Ok(())
}
