//! The layer table of an ONNX graph: one row per node in graph order, with a readable name, the
//! ONNX op, the output shape (batch axis symbolic) and the parameter count.
//!
//! Readable names (DESIGN.md, "burn-onnx's exporter names nodes `node_1`…"): a node that consumes
//! initializers with module paths takes that path (`conv1.weight` → `conv1`); otherwise a
//! PyTorch-style node name gives its module (`/relu2/Relu` → `relu2`); otherwise the op and a
//! counter (`relu1`, `maxpool2`). When several nodes share a module (burn's Linear is `MatMul`
//! then `Add`), the last one, whose output is the module's output, keeps the plain name and the
//! others get `.op` appended (`fc1.matmul`, `fc1`). The original ONNX node and tensor names are
//! kept beside the readable ones: taps and other tools address tensors by their ONNX names.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::Result;
use crate::model::{data_input, declared_dims, graph, inference_model, read_proto, BATCH_SYMBOL};

/// One axis of a tensor shape: a known size or a symbol such as `batch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A known size.
    Fixed(usize),
    /// A symbolic size, e.g. `batch`.
    Symbol(String),
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

/// `[batch, 16, 32, 32]`-style text of a shape, `?` when unknown.
pub fn format_shape(shape: Option<&[Dim]>) -> String {
    match shape {
        Some(dims) => format!("[{}]", dims.iter().map(Dim::to_string).collect::<Vec<_>>().join(", ")),
        None => "?".to_string(),
    }
}

/// What a layer does, as far as layer selection cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LayerKind {
    /// `Conv`.
    Convolution,
    /// `Gemm` or `MatMul` (a fully connected layer).
    FullyConnected,
    /// `Relu`, `Clip`, `LeakyRelu`, `Sigmoid`, `Tanh`.
    Activation,
    /// Anything else (pooling, reshapes, additions, …).
    Other,
}

impl LayerKind {
    /// The kind of ONNX op `op_type`.
    pub fn of_op(op_type: &str) -> LayerKind {
        match op_type {
            "Conv" => LayerKind::Convolution,
            "Gemm" | "MatMul" => LayerKind::FullyConnected,
            "Relu" | "Clip" | "LeakyRelu" | "Sigmoid" | "Tanh" => LayerKind::Activation,
            _ => LayerKind::Other,
        }
    }
}

/// A tensor at the graph's boundary: its ONNX name and shape (batch axis symbolic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorInfo {
    /// The ONNX tensor name.
    pub name: String,
    /// The shape, `None` when unknown.
    pub shape: Option<Vec<Dim>>,
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Readable, unique name (`conv1`, `fc2`, `relu3`); see the module docs.
    pub name: String,
    /// The ONNX node name as in the file (may be empty or `node_7`).
    pub node: String,
    /// The ONNX op type (`Conv`, `Gemm`, `Relu`, …).
    pub op: String,
    /// The node's first output: the original ONNX tensor name, used to tap it.
    pub output: String,
    /// Non-initializer inputs (ONNX tensor names).
    pub inputs: Vec<String>,
    /// Output shape, batch axis as the symbol `batch`; `None` when tract could not infer it.
    pub output_shape: Option<Vec<Dim>>,
    /// Number of parameters: elements of the initializers this node is the first to consume.
    pub parameters: usize,
}

impl Layer {
    /// What kind of layer this is.
    pub fn kind(&self) -> LayerKind {
        LayerKind::of_op(&self.op)
    }
}

/// The layer table of a model; what `netlens inspect` prints and the report's architecture
/// tables are drawn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// The ONNX file.
    pub path: PathBuf,
    /// The image input (`[batch, channels, height, width]` for an image model).
    pub input: TensorInfo,
    /// The graph outputs.
    pub outputs: Vec<TensorInfo>,
    /// Nodes in graph order, `Constant` nodes left out.
    pub layers: Vec<Layer>,
    /// Total number of parameters (all initializers).
    pub parameters: usize,
}

impl ModelSummary {
    /// The layer whose readable name, ONNX node name or output tensor name is `name`.
    pub fn layer(&self, name: &str) -> Option<&Layer> {
        self.layers
            .iter()
            .find(|l| l.name == name)
            .or_else(|| self.layers.iter().find(|l| l.output == name || (!l.node.is_empty() && l.node == name)))
    }

    /// The layer that produces the first graph output.
    pub fn final_layer(&self) -> Option<&Layer> {
        let out = &self.outputs.first()?.name;
        self.layers.iter().find(|l| &l.output == out)
    }

    /// The readable layer names, in graph order.
    pub fn layer_names(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.name.clone()).collect()
    }

    /// The table as aligned text: `#`, layer, op, output shape, parameters, ONNX tensor; totals.
    pub fn to_table(&self) -> String {
        let mut rows = vec![["#", "layer", "op", "output shape", "params", "onnx tensor"].map(String::from).to_vec()];
        for (i, l) in self.layers.iter().enumerate() {
            let shape = format_shape(l.output_shape.as_deref());
            rows.push(vec![i.to_string(), l.name.clone(), l.op.clone(), shape, l.parameters.to_string(), l.output.clone()]);
        }
        let mut text = format!("{}\ninput  {} {}\n", self.path.display(), self.input.name, format_shape(self.input.shape.as_deref()));
        for o in &self.outputs {
            text += &format!("output {} {}\n", o.name, format_shape(o.shape.as_deref()));
        }
        text += &align(&rows);
        text += &format!("{} layers, {} parameters\n", self.layers.len(), self.parameters);
        text
    }
}

/// Left-aligns columns (numbers right-aligned) with two spaces between them.
fn align(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| if c == 0 || c == 4 { format!("{cell:>w$}") } else { format!("{cell:<w$}") })
            .collect();
        text += cells.join("  ").trim_end();
        text.push('\n');
    }
    text
}

/// Reads `path` and builds its layer table.
///
/// # Errors
/// [`crate::OnnxError::Io`] when the file cannot be read; [`crate::OnnxError::NotOnnx`] when it
/// is not an ONNX model tract can parse, or its input has unknown non-batch dimensions.
pub fn inspect(path: &Path) -> Result<ModelSummary> {
    let proto = read_proto(path)?;
    let mut parsed = inference_model(path, &proto)?;
    // Partial shape inference is fine for a table: unknown shapes print as `?`.
    let _ = parsed.model.analyse(false);
    let g = graph(&proto);
    let shape_of = |tensor: &str| parsed.outlets.get(tensor).and_then(|&o| outlet_shape(&parsed.model, o));
    let nodes: Vec<&pb::NodeProto> = g.node.iter().filter(|n| n.op_type != "Constant").collect();
    let names = readable_names(g, &nodes);
    let mut counted = HashSet::new();
    let mut layers = Vec::with_capacity(nodes.len());
    for (node, name) in nodes.iter().zip(names) {
        let output = node.output.first().cloned().unwrap_or_default();
        layers.push(Layer {
            name,
            node: node.name.clone(),
            op: node.op_type.clone(),
            output_shape: shape_of(&output),
            output,
            inputs: node.input.iter().filter(|i| !i.is_empty() && !is_initializer(g, i)).cloned().collect(),
            parameters: node_parameters(g, node, &mut counted),
        });
    }
    let input = data_input(path, g)?;
    let batch_first = |dims: Vec<Option<usize>>| -> Vec<Dim> {
        dims.iter().enumerate().map(|(i, d)| if i == 0 { Dim::Symbol(BATCH_SYMBOL.into()) } else { d.map_or(Dim::Symbol("?".into()), Dim::Fixed) }).collect()
    };
    Ok(ModelSummary {
        path: path.to_path_buf(),
        input: TensorInfo { name: input.name.clone(), shape: Some(batch_first(declared_dims(input))) },
        outputs: g.output.iter().map(|o| TensorInfo { name: o.name.clone(), shape: shape_of(&o.name) }).collect(),
        layers,
        parameters: g.initializer.iter().map(tensor_len).sum(),
    })
}

/// The inferred shape of `outlet`, batch axis symbolic; `None` when not fully known.
fn outlet_shape(model: &InferenceModel, outlet: OutletId) -> Option<Vec<Dim>> {
    let dims = model.outlet_fact(outlet).ok()?.shape.concretize()?;
    Some(dims.iter().map(|d| d.to_usize().map_or_else(|_| Dim::Symbol(d.to_string()), Dim::Fixed)).collect())
}

fn is_initializer(g: &pb::GraphProto, name: &str) -> bool {
    g.initializer.iter().any(|t| t.name == name)
}

fn tensor_len(t: &pb::TensorProto) -> usize {
    t.dims.iter().map(|&d| d.max(0) as usize).product()
}

/// Elements of the initializers `node` consumes that no earlier node consumed.
fn node_parameters(g: &pb::GraphProto, node: &pb::NodeProto, counted: &mut HashSet<String>) -> usize {
    node.input
        .iter()
        .filter_map(|i| g.initializer.iter().find(|t| &t.name == i))
        .filter(|t| counted.insert(t.name.clone()))
        .map(tensor_len)
        .sum()
}

/// Short lowercase name of an op for readable names (`Gemm` → `fc`, `Clip` → `relu`).
fn op_short(op_type: &str) -> String {
    match op_type {
        "Conv" => "conv".into(),
        "Gemm" | "MatMul" => "fc".into(),
        // burn-onnx exports ReLU as Clip(0, ∞) (DESIGN.md pitfalls).
        "Relu" | "Clip" => "relu".into(),
        "BatchNormalization" => "bn".into(),
        "Flatten" | "Reshape" => "flatten".into(),
        other => other.to_lowercase(),
    }
}

/// The module path a node belongs to, from its initializers (`conv1.weight` → `conv1`) or from
/// a PyTorch node name (`/layer1/layer1.0/conv1/Conv` → `layer1.0.conv1`'s last part `conv1`).
fn module_name(g: &pb::GraphProto, node: &pb::NodeProto) -> Option<String> {
    let from_init = node
        .input
        .iter()
        .filter(|i| is_initializer(g, i) && !i.contains("::"))
        .find_map(|i| i.rsplit_once('.').map(|(module, _)| module.to_string()))
        .filter(|m| !m.is_empty());
    from_init.or_else(|| {
        let parts: Vec<&str> = node.name.split('/').filter(|p| !p.is_empty()).collect();
        (node.name.starts_with('/') && parts.len() >= 2).then(|| parts[parts.len() - 2].to_string())
    })
}

/// Unique readable names for `nodes` (see the module docs).
fn readable_names(g: &pb::GraphProto, nodes: &[&pb::NodeProto]) -> Vec<String> {
    let mut counters: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = nodes
        .iter()
        .map(|n| {
            module_name(g, n).unwrap_or_else(|| {
                let short = op_short(&n.op_type);
                let k = counters.entry(short.clone()).or_insert(0);
                *k += 1;
                format!("{short}{k}")
            })
        })
        .collect();
    for i in 0..names.len() {
        if names[i + 1..].contains(&names[i]) {
            names[i] = format!("{}.{}", names[i], nodes[i].op_type.to_lowercase());
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for name in names.iter_mut() {
        let k = seen.entry(name.clone()).or_insert(0);
        *k += 1;
        if *k > 1 {
            *name = format!("{name}_{k}");
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name)
    }

    #[test]
    fn torch_small_cnn_table_has_readable_names_shapes_and_parameters() {
        let s = inspect(&fixture("torch-small-cnn.onnx")).unwrap();
        assert_eq!(s.input.name, "image");
        assert_eq!(format_shape(s.input.shape.as_deref()), "[batch, 1, 32, 32]");
        assert_eq!(s.outputs[0].name, "logits");
        assert_eq!(format_shape(s.outputs[0].shape.as_deref()), "[batch, 10]");
        let conv = s.layers.iter().find(|l| l.op == "Conv").expect("a Conv layer");
        assert_eq!(conv.output_shape.as_ref().unwrap()[0], Dim::Symbol(BATCH_SYMBOL.into()));
        assert!(conv.parameters > 0, "{conv:?}");
        let names = s.layer_names();
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "names are unique: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with("node_") && !n.starts_with('/')), "{names:?}");
        assert_eq!(s.parameters, s.layers.iter().map(|l| l.parameters).sum::<usize>());
        let table = s.to_table();
        assert!(table.contains("logits") && table.contains(&format!("{} parameters", s.parameters)), "{table}");
    }

    #[test]
    fn burn_style_names_come_from_initializers() {
        // A burn-onnx-like graph: nodes `node_N`, ReLU as Clip, Linear as MatMul + Add.
        let node = |name: &str, op: &str, inputs: &[&str], out: &str| pb::NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            ..Default::default()
        };
        let init = |name: &str| pb::TensorProto { name: name.into(), dims: vec![2, 2], ..Default::default() };
        let g = pb::GraphProto {
            node: vec![
                node("node_1", "Conv", &["x", "c1.weight", "c1.bias"], "t1"),
                node("node_2", "Clip", &["t1"], "t2"),
                node("node_3", "MatMul", &["t2", "f1.weight"], "t3"),
                node("node_4", "Add", &["t3", "f1.bias"], "t4"),
                node("node_5", "Clip", &["t4"], "t5"),
            ],
            initializer: vec![init("c1.weight"), init("c1.bias"), init("f1.weight"), init("f1.bias")],
            ..Default::default()
        };
        let nodes: Vec<&pb::NodeProto> = g.node.iter().collect();
        assert_eq!(readable_names(&g, &nodes), ["c1", "relu1", "f1.matmul", "f1", "relu2"]);
        let mut counted = HashSet::new();
        let params: Vec<usize> = nodes.iter().map(|n| node_parameters(&g, n, &mut counted)).collect();
        assert_eq!(params, [8, 0, 4, 4, 0]);
    }

    #[test]
    fn a_file_that_is_not_onnx_is_a_clear_error() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fashion-mnist-small/Y_test.npy");
        let err = inspect(&path).unwrap_err().to_string();
        assert!(err.contains("Y_test.npy") && err.contains("not a valid ONNX model"), "{err}");
    }
}
