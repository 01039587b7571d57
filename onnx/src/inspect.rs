//! The layer table of an ONNX graph: one row per node in graph order, with a readable name, the
//! ONNX op, the output shape (batch axis symbolic) and the parameter count.
//!
//! Readable names (DESIGN.md, "burn-onnx's exporter names nodes `node_1`…"): a PyTorch-style node
//! name gives its module (`/relu2/Relu` → `relu2`, `/Lenet/fc1/MatMul` → `fc1`, with as many
//! parents as tell repeated modules apart: `block1.conv`, `layer1.0.conv1`); otherwise the
//! module path of the initializers it consumes (`c1.weight` → `c1`); otherwise the op and a
//! counter (`relu1`, `maxpool2`). The bias `Add` of a fully connected layer exported as a
//! `MatMul` and an `Add` joins the `MatMul`'s module. When several nodes share a module, the last one that
//! depends on the input (the module's output) keeps the plain name and the others get `.op`
//! appended (`fc1.matmul`, `fc1.reshape`, `fc1`). The original ONNX node and tensor names are
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
use crate::model::{BATCH_SYMBOL, data_input, declared_dims, graph, inference_model, read_proto};

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
    /// Number of learned parameters: elements of the float initializers this node is the first to
    /// consume, without BatchNorm's running mean and variance.
    pub parameters: usize,
    /// For a convolution or pooling window (`Conv`, `ConvTranspose`, `MaxPool`, `AveragePool`,
    /// `LpPool`): kernel, stride, padding and groups as text, e.g. `3×3, stride 2, pad 1`
    /// (ONNX attributes `kernel_shape` — else the weight's trailing dimensions —, `strides`,
    /// `pads`, `auto_pad`, `group`, `dilations`); `None` for every other op.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
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
    /// Total number of learned parameters (the layers' sum; BatchNorm statistics left out).
    pub parameters: usize,
    /// The model's `metadata_props` (key, value), in file order; netlens records its
    /// preprocessing under `netlens.preprocess` (`netlens_fetch::preprocess::METADATA_KEY`).
    #[serde(default)]
    pub metadata: Vec<(String, String)>,
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
            rows.push(vec![
                i.to_string(),
                l.name.clone(),
                l.op.clone(),
                shape,
                l.parameters.to_string(),
                l.output.clone(),
            ]);
        }
        let mut text = format!(
            "{}\ninput  {} {}\n",
            self.path.display(),
            self.input.name,
            format_shape(self.input.shape.as_deref())
        );
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
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
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
    crate::error::guard(path, "tract", "infer the shapes", || {
        let _ = parsed.model.analyse(false);
        Ok(())
    })?;
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
            window: window(g, node),
        });
    }
    let input = data_input(path, g)?;
    let batch_first =
        |dims: Vec<Option<usize>>| -> Vec<Dim> {
            dims.iter()
                .enumerate()
                .map(|(i, d)| {
                    if i == 0 {
                        Dim::Symbol(BATCH_SYMBOL.into())
                    } else {
                        d.map_or(Dim::Symbol("?".into()), Dim::Fixed)
                    }
                })
                .collect()
        };
    Ok(ModelSummary {
        path: path.to_path_buf(),
        input: TensorInfo { name: input.name.clone(), shape: Some(batch_first(declared_dims(input))) },
        outputs: g.output.iter().map(|o| TensorInfo { name: o.name.clone(), shape: shape_of(&o.name) }).collect(),
        parameters: layers.iter().map(|l| l.parameters).sum(),
        layers,
        metadata: proto.metadata_props.iter().map(|e| (e.key.clone(), e.value.clone())).collect(),
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

/// Whether an initializer holds weights (float16/32/64, bfloat16) rather than indices or shapes.
fn is_float(t: &pb::TensorProto) -> bool {
    use pb::tensor_proto::DataType;
    [DataType::Float, DataType::Float16, DataType::Double, DataType::Bfloat16].iter().any(|&d| t.data_type == d as i32)
}

fn tensor_len(t: &pb::TensorProto) -> usize {
    t.dims.iter().map(|&d| d.max(0) as usize).product()
}

/// Elements of the float initializers `node` consumes that no earlier node consumed: its learned
/// parameters. A `BatchNormalization`'s running mean and variance (inputs 3 and 4) are statistics
/// gathered in training, not learned, and are left out (PyTorch's `parameters()` leaves them out
/// too: they are buffers).
fn node_parameters(g: &pb::GraphProto, node: &pb::NodeProto, counted: &mut HashSet<String>) -> usize {
    let learned = if node.op_type == "BatchNormalization" { 3 } else { usize::MAX };
    node.input
        .iter()
        .take(learned)
        .filter_map(|i| g.initializer.iter().find(|t| &t.name == i))
        .filter(|t| is_float(t) && counted.insert(t.name.clone()))
        .map(tensor_len)
        .sum()
}

/// The window of a convolution or pooling node as text (see [`Layer::window`]).
fn window(g: &pb::GraphProto, node: &pb::NodeProto) -> Option<String> {
    if !matches!(node.op_type.as_str(), "Conv" | "ConvTranspose" | "MaxPool" | "AveragePool" | "LpPool") {
        return None;
    }
    let ints = |name: &str| node.attribute.iter().find(|a| a.name == name).map(|a| a.ints.clone());
    let int = |name: &str| node.attribute.iter().find(|a| a.name == name).map(|a| a.i);
    let kernel = ints("kernel_shape").filter(|k| !k.is_empty()).or_else(|| {
        let weight = node.input.get(1)?;
        let w = g.initializer.iter().find(|t| &t.name == weight)?;
        (w.dims.len() > 2).then(|| w.dims[2..].to_vec())
    })?;
    let times = |v: &[i64]| v.iter().map(i64::to_string).collect::<Vec<_>>().join("×");
    let mut text = times(&kernel);
    let strides = ints("strides").unwrap_or_default();
    if strides.iter().any(|&s| s != 1) {
        let all_same = strides.iter().all(|&s| s == strides[0]);
        text += &format!(", stride {}", if all_same { strides[0].to_string() } else { times(&strides) });
    }
    let auto_pad =
        node.attribute.iter().find(|a| a.name == "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned());
    match auto_pad.as_deref() {
        Some(mode @ ("SAME_UPPER" | "SAME_LOWER")) => text += &format!(", pad {}", mode.to_ascii_lowercase()),
        _ => {
            let pads = ints("pads").unwrap_or_default();
            if pads.iter().any(|&p| p != 0) {
                let all_same = pads.iter().all(|&p| p == pads[0]);
                text += &format!(", pad {}", if all_same { pads[0].to_string() } else { format!("{pads:?}") });
            }
        }
    }
    if let Some(d) = ints("dilations").filter(|d| d.iter().any(|&x| x != 1)) {
        text += &format!(", dilation {}", times(&d));
    }
    if let Some(groups) = int("group").filter(|&g| g > 1) {
        text += &format!(", {groups} groups");
    }
    Some(text)
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

/// The module path a node belongs to, as parts: from a PyTorch-style node name
/// (`/block1/conv/Conv` → `[block1, conv]`, `/layer1/layer1.0/conv1/Conv` →
/// `[layer1, layer1.0, conv1]`), or else from its initializers (`c1.weight` → `[c1]`).
fn module_path(g: &pb::GraphProto, node: &pb::NodeProto) -> Option<Vec<String>> {
    let parts: Vec<String> = node.name.split('/').filter(|p| !p.is_empty()).map(String::from).collect();
    if node.name.starts_with('/') && parts.len() >= 2 {
        return Some(parts[..parts.len() - 1].to_vec());
    }
    node.input
        .iter()
        .filter(|i| is_initializer(g, i) && !i.contains("::"))
        .find_map(|i| i.rsplit_once('.').map(|(module, _)| vec![module.to_string()]))
        .filter(|m| !m[0].is_empty())
}

/// Joins path parts with dots, letting a part that already spells its parent (`layer1.0` under
/// `layer1`) replace it.
fn join_path(parts: &[String]) -> String {
    parts.iter().fold(String::new(), |acc, p| {
        if acc.is_empty() || p.starts_with(&format!("{acc}.")) { p.clone() } else { format!("{acc}.{p}") }
    })
}

/// The shortest suffix of each module path that tells different modules apart
/// (`conv1` when unique; `block1.conv`, `block2.conv` when every block has a `conv`).
fn short_module_names(paths: &[Option<Vec<String>>]) -> Vec<Option<String>> {
    let mut depth: Vec<usize> = vec![1; paths.len()];
    let name = |k: usize, d: usize| paths[k].as_ref().map(|p| join_path(&p[p.len().saturating_sub(d)..]));
    loop {
        let names: Vec<Option<String>> = (0..paths.len()).map(|k| name(k, depth[k])).collect();
        let mut changed = false;
        for k in 0..paths.len() {
            let (Some(path), Some(mine)) = (&paths[k], &names[k]) else { continue };
            let clash = (0..paths.len()).any(|j| paths[j].as_ref() != Some(path) && names[j].as_ref() == Some(mine));
            if clash && depth[k] < path.len() {
                depth[k] += 1;
                changed = true;
            }
        }
        if !changed {
            return names;
        }
    }
}

/// Which nodes depend on the graph's data input (the rest compute constants, e.g. a bias
/// reshaped for broadcasting), and for each bias `Add` of a fully connected layer exported as
/// `MatMul` + `Add`, the index of its `MatMul`.
fn data_flow(g: &pb::GraphProto, nodes: &[&pb::NodeProto]) -> (Vec<bool>, Vec<Option<usize>>) {
    let mut dependent: HashSet<&str> =
        g.input.iter().filter(|i| !is_initializer(g, &i.name)).map(|i| i.name.as_str()).collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let (mut flags, mut bias_of) = (Vec::with_capacity(nodes.len()), Vec::with_capacity(nodes.len()));
    for (k, node) in nodes.iter().enumerate() {
        let data_inputs: Vec<&str> = node.input.iter().map(String::as_str).filter(|i| dependent.contains(i)).collect();
        let is_dependent = !data_inputs.is_empty();
        let matmul = match (node.op_type.as_str(), data_inputs.as_slice()) {
            ("Add", [only]) => producer.get(only).copied().filter(|&p| nodes[p].op_type == "MatMul"),
            _ => None,
        };
        for out in &node.output {
            producer.insert(out.as_str(), k);
            if is_dependent {
                dependent.insert(out.as_str());
            }
        }
        flags.push(is_dependent);
        bias_of.push(matmul);
    }
    (flags, bias_of)
}

/// Unique readable names for `nodes` (see the module docs).
fn readable_names(g: &pb::GraphProto, nodes: &[&pb::NodeProto]) -> Vec<String> {
    let (dependent, bias_of) = data_flow(g, nodes);
    let paths: Vec<Option<Vec<String>>> = nodes.iter().map(|n| module_path(g, n)).collect();
    let modules = short_module_names(&paths);
    let mut counters: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::with_capacity(nodes.len());
    for (k, n) in nodes.iter().enumerate() {
        let name = bias_of[k].map(|m| names[m].clone()).or_else(|| modules[k].clone()).unwrap_or_else(|| {
            let short = op_short(&n.op_type);
            let count = counters.entry(short.clone()).or_insert(0);
            *count += 1;
            format!("{short}{count}")
        });
        names.push(name);
    }
    // The module's output keeps the plain name: its last data-dependent node (else its last node).
    let owner: HashMap<String, usize> = names.iter().enumerate().fold(HashMap::new(), |mut owner, (k, name)| {
        let better = owner.get(name).is_none_or(|&o: &usize| dependent[k] || !dependent[o]);
        if better {
            owner.insert(name.clone(), k);
        }
        owner
    });
    let mut unique: Vec<String> = names
        .iter()
        .enumerate()
        .map(
            |(k, name)| {
                if owner[name] == k { name.clone() } else { format!("{name}.{}", nodes[k].op_type.to_lowercase()) }
            },
        )
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for name in unique.iter_mut() {
        let count = seen.entry(name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            *name = format!("{name}_{count}");
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures")
            .join(name)
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
        let init =
            |name: &str| pb::TensorProto { name: name.into(), dims: vec![2, 2], data_type: 1, ..Default::default() };
        let input = vec![pb::ValueInfoProto { name: "x".into(), ..Default::default() }];
        let g = pb::GraphProto {
            node: vec![
                node("node_1", "Conv", &["x", "c1.weight", "c1.bias"], "t1"),
                node("node_2", "Clip", &["t1"], "t2"),
                node("node_3", "MatMul", &["t2", "f1.weight"], "t3"),
                node("node_4", "Add", &["t3", "f1.bias"], "t4"),
                node("node_5", "Clip", &["t4"], "t5"),
            ],
            initializer: vec![init("c1.weight"), init("c1.bias"), init("f1.weight"), init("f1.bias")],
            input: input.clone(),
            ..Default::default()
        };
        let nodes: Vec<&pb::NodeProto> = g.node.iter().collect();
        assert_eq!(readable_names(&g, &nodes), ["c1", "relu1", "f1.matmul", "f1", "relu2"]);
        let mut counted = HashSet::new();
        let params: Vec<usize> = nodes.iter().map(|n| node_parameters(&g, n, &mut counted)).collect();
        assert_eq!(params, [8, 0, 4, 4, 0]);
        // Our exporter's names: module paths in node names, the bias reshaped by a constant shape.
        let g = pb::GraphProto {
            node: vec![
                node("/Lenet/fc1/MatMul", "MatMul", &["x", "Lenet.fc1.weight"], "t1"),
                node("/Lenet/fc1/Reshape", "Reshape", &["Lenet.fc1.bias", "shape"], "b"),
                node("/add1/Add", "Add", &["t1", "b"], "t2"),
                node("/relu1/Relu", "Relu", &["t2"], "t3"),
            ],
            initializer: vec![init("Lenet.fc1.weight"), init("Lenet.fc1.bias")],
            input,
            ..Default::default()
        };
        let nodes: Vec<&pb::NodeProto> = g.node.iter().collect();
        assert_eq!(readable_names(&g, &nodes), ["fc1.matmul", "fc1.reshape", "fc1", "relu1"]);
        // BatchNorm: scale and bias are learned; the running mean and variance are not counted.
        let bn = node("bn", "BatchNormalization", &["t3", "bn.weight", "bn.bias", "bn.mean", "bn.var"], "t4");
        let g = pb::GraphProto {
            initializer: ["bn.weight", "bn.bias", "bn.mean", "bn.var"].map(init).to_vec(),
            ..Default::default()
        };
        assert_eq!(node_parameters(&g, &bn, &mut HashSet::new()), 2 * 4);
    }

    #[test]
    fn repeated_module_names_take_their_parents() {
        let path = |p: &str| Some(p.split('/').map(String::from).collect::<Vec<_>>());
        let paths = [
            path("block1/conv"),
            path("block1/bn"),
            path("block2/conv"),
            path("layer1/layer1.0/conv1"),
            path("layer1/layer1.1/conv1"),
            path("fc"),
            None,
        ];
        let names: Vec<Option<String>> = short_module_names(&paths);
        let want = ["block1.conv", "bn", "block2.conv", "layer1.0.conv1", "layer1.1.conv1", "fc"];
        assert_eq!(names[..6].iter().map(|n| n.clone().unwrap()).collect::<Vec<_>>(), want);
        assert_eq!(names[6], None);
    }

    #[test]
    fn a_file_that_is_not_onnx_is_a_clear_error() {
        let path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/data/fashion-mnist-small/Y_test.npy");
        let err = inspect(&path).unwrap_err().to_string();
        assert!(err.contains("Y_test.npy") && err.contains("not a valid ONNX model"), "{err}");
    }
}
