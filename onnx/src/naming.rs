//! Names for people in exported ONNX graphs.
//!
//! burn-onnx's exporter names nodes `node_1, node_2, …`, tensors `tensor_N`, and writes ReLU as
//! `Clip(min = 0)`; its initializers keep module paths (`conv1.weight`). [`name_for_people`]
//! rewrites such a graph in PyTorch's exporter style, so every model netlens shows reads alike
//! (compare `../shared/fixtures/torch-small-cnn.onnx`):
//!
//! - a node that consumes parameters is named after their module path and op:
//!   `/conv1/Conv`, `/fc1/MatMul`, `/fc1/Add`, `/block3/bn/BatchNormalization`;
//! - a parameter-free node gets its op and a running number: `/relu2/Relu`, `/maxpool1/MaxPool`;
//! - `Clip` with a constant lower bound 0 and no upper bound becomes `Relu` (identical maths);
//! - each node output is `<node name>_output_<i>`, as PyTorch does;
//! - the graph inputs and outputs get the names the caller gives (`image`, `logits`).
//!
//! ONNX format: <https://onnx.ai/onnx/repo-docs/IR.html> (names are free-form strings that must be
//! unique within a graph).

use std::collections::{HashMap, HashSet};

use onnx_ir::{Message, ModelProto, NodeProto};

use crate::error::{OnnxError, Result};

/// Renames the exported graph in `bytes` for people ([`name_for_people`]) and writes it to
/// `path` atomically: nothing is left at `path` unless the whole file was written.
///
/// # Errors
/// [`OnnxError::NotOnnx`] when `bytes` is not an ONNX model, [`OnnxError::Write`] when the
/// file cannot be written.
pub fn write_named(bytes: &[u8], path: &std::path::Path, inputs: &[&str], outputs: &[&str]) -> Result<()> {
    let named = name_for_people(bytes, &path.display().to_string(), inputs, outputs)?;
    netlens_fetch::write_atomically(path, &named).map_err(|source| OnnxError::Write { path: path.into(), source })
}

/// As [`write_named`], and records `metadata` (key, value) in the model's `metadata_props`,
/// replacing entries with the same key (e.g. the preprocessing,
/// `netlens_fetch::Preprocess::to_metadata`).
///
/// # Errors
/// As [`write_named`].
pub fn write_named_with_metadata(
    bytes: &[u8],
    path: &std::path::Path,
    inputs: &[&str],
    outputs: &[&str],
    metadata: &[(String, String)],
) -> Result<()> {
    let named = name_for_people(bytes, &path.display().to_string(), inputs, outputs)?;
    let mut model = ModelProto::parse_from_bytes(&named)
        .map_err(|e| OnnxError::NotOnnx { path: path.into(), reason: e.to_string() })?;
    for (key, value) in metadata {
        model.metadata_props.retain(|e| &e.key != key);
        // onnx-ir keeps `StringStringEntryProto` private; a default entry is filled in place.
        model.metadata_props.push(Default::default());
        let entry = model.metadata_props.last_mut().expect("just pushed");
        entry.key = key.clone();
        entry.value = value.clone();
    }
    let bytes = model.write_to_bytes().map_err(|e| OnnxError::NotOnnx { path: path.into(), reason: e.to_string() })?;
    netlens_fetch::write_atomically(path, &bytes).map_err(|source| OnnxError::Write { path: path.into(), source })
}

/// Parameter suffixes stripped to get a module path from an initializer name.
const PARAM_SUFFIXES: [&str; 6] = ["weight", "bias", "gamma", "beta", "running_mean", "running_var"];

/// Renames the graph in `bytes` for people (see the module docs) and returns the new bytes.
/// `inputs` and `outputs` name the graph's inputs and outputs in order; extra graph inputs or
/// outputs keep their names.
///
/// # Errors
/// [`OnnxError::NotOnnx`] when `bytes` is not an ONNX model (`what` names it in the message).
pub fn name_for_people(bytes: &[u8], what: &str, inputs: &[&str], outputs: &[&str]) -> Result<Vec<u8>> {
    let mut model = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| OnnxError::NotOnnx { path: what.into(), reason: e.to_string() })?;
    let graph = model.graph.mut_or_insert_default();
    let initializers: HashMap<String, Vec<f32>> =
        graph.initializer.iter().map(|t| (t.name.clone(), initializer_values(t))).collect();
    relu_from_clip(&mut graph.node, &initializers);
    let mut renames: HashMap<String, String> = HashMap::new();
    for (vi, new) in graph.input.iter().filter(|v| !initializers.contains_key(&v.name)).zip(inputs) {
        renames.insert(vi.name.clone(), new.to_string());
    }
    let graph_outputs: Vec<String> = graph.output.iter().map(|v| v.name.clone()).collect();
    let mut counters: HashMap<String, usize> = HashMap::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut producer_module: HashMap<String, String> = HashMap::new();
    for node in graph.node.iter_mut() {
        let module = node_module(node, &initializers, &producer_module);
        for out in &node.output {
            if let Some(m) = &module {
                producer_module.insert(out.clone(), m.clone());
            }
        }
        let name = unique(node_name(node, module, &mut counters), &mut used);
        for (j, input) in node.input.iter().enumerate() {
            let is_constant = initializers.contains_key(input) && module_path(input).is_none();
            if is_constant && !renames.contains_key(input) {
                renames.insert(input.clone(), format!("{name}_input_{j}"));
            }
        }
        for (i, out) in node.output.iter().enumerate() {
            if !out.is_empty() && !renames.contains_key(out) {
                renames.insert(out.clone(), format!("{name}_output_{i}"));
            }
        }
        node.name = name;
    }
    for (old, new) in graph_outputs.iter().zip(outputs) {
        renames.insert(old.clone(), new.to_string());
    }
    let rename = |s: &mut String| {
        if let Some(n) = renames.get(s.as_str()) {
            *s = n.clone();
        }
    };
    for node in graph.node.iter_mut() {
        node.input.iter_mut().for_each(rename);
        node.output.iter_mut().for_each(rename);
    }
    graph.input.iter_mut().for_each(|v| rename(&mut v.name));
    graph.output.iter_mut().for_each(|v| rename(&mut v.name));
    graph.value_info.iter_mut().for_each(|v| rename(&mut v.name));
    graph.initializer.iter_mut().for_each(|t| rename(&mut t.name));
    drop_unused_initializers(graph);
    Ok(model.write_to_bytes().expect("an in-memory ONNX model serialises"))
}

/// The float values of a small initializer (empty for other types); used to recognise
/// `Clip`'s constant bounds.
fn initializer_values(t: &onnx_ir::TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        return t.float_data.clone();
    }
    if t.data_type == 1 && t.raw_data.len() <= 16 {
        return t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    }
    Vec::new()
}

/// Rewrites `Clip(x, 0)` (no upper bound) as `Relu(x)`.
fn relu_from_clip(nodes: &mut [NodeProto], initializers: &HashMap<String, Vec<f32>>) {
    let constants: HashMap<String, Vec<f32>> = nodes
        .iter()
        .filter(|n| n.op_type == "Constant")
        .filter_map(|n| {
            let a = n.attribute.iter().find(|a| a.name == "value")?;
            Some((n.output.first()?.clone(), initializer_values(a.t.as_ref()?)))
        })
        .collect();
    let value = |name: &str| initializers.get(name).or_else(|| constants.get(name));
    for node in nodes.iter_mut().filter(|n| n.op_type == "Clip") {
        let min_is_zero = node.input.get(1).and_then(|m| value(m)).is_some_and(|v| v == &[0.0]);
        let no_max = node.input.get(2).is_none_or(|m| m.is_empty());
        let attr_bounds = node.attribute.iter().any(|a| a.name == "min" || a.name == "max");
        if min_is_zero && no_max && !attr_bounds {
            node.op_type = "Relu".into();
            node.input.truncate(1);
        }
    }
}

/// The module a node belongs to: the module path of a parameter it consumes, or, for a node
/// with two or more tensor inputs all produced by one module's nodes (the `Add` of a bias after
/// `MatMul`), that module.
fn node_module(
    node: &NodeProto,
    initializers: &HashMap<String, Vec<f32>>,
    producer_module: &HashMap<String, String>,
) -> Option<String> {
    if let Some(m) = node.input.iter().filter(|i| initializers.contains_key(*i)).find_map(|i| module_path(i)) {
        return Some(m);
    }
    let tensors: Vec<&String> = node.input.iter().filter(|i| !i.is_empty() && !initializers.contains_key(*i)).collect();
    let first = producer_module.get(*tensors.first()?)?;
    let all_same = tensors.len() >= 2 && tensors.iter().all(|t| producer_module.get(*t) == Some(first));
    all_same.then(|| first.clone())
}

/// `/module/Op` for nodes of a module, `/opN/Op` for the others.
fn node_name(node: &NodeProto, module: Option<String>, counters: &mut HashMap<String, usize>) -> String {
    match module {
        Some(path) => format!("/{}/{}", path.replace('.', "/"), node.op_type),
        None => {
            let lower = node.op_type.to_lowercase();
            let n = counters.entry(lower.clone()).or_insert(0);
            *n += 1;
            format!("/{lower}{n}/{}", node.op_type)
        }
    }
}

/// `conv1.weight` → `conv1`; names without a known parameter suffix give `None`.
fn module_path(initializer: &str) -> Option<String> {
    let (path, last) = initializer.rsplit_once('.')?;
    PARAM_SUFFIXES.contains(&last).then(|| path.to_string())
}

fn unique(name: String, used: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut k = 1;
    while !used.insert(candidate.clone()) {
        k += 1;
        candidate = format!("{name}_{k}");
    }
    candidate
}

fn drop_unused_initializers(graph: &mut onnx_ir::GraphProto) {
    let consumed: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    let removed: HashSet<String> =
        graph.initializer.iter().filter(|t| !consumed.contains(&t.name)).map(|t| t.name.clone()).collect();
    graph.initializer.retain(|t| !removed.contains(&t.name));
    graph.input.retain(|v| !removed.contains(&v.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_come_from_parameter_names() {
        assert_eq!(module_path("conv1.weight").as_deref(), Some("conv1"));
        assert_eq!(module_path("block3.bn.running_var").as_deref(), Some("block3.bn"));
        assert_eq!(module_path("tensor_7"), None);
    }

    /// The PyTorch fixture already has readable names: renaming keeps its structure, and an
    /// unparseable input is a clear error.
    #[test]
    fn renames_a_real_graph_and_rejects_garbage() {
        let p = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/torch-small-cnn.onnx");
        let bytes = std::fs::read(&p).expect("fixture present in ../shared/fixtures");
        let out = name_for_people(&bytes, "torch-small-cnn.onnx", &["pixels"], &["scores"]).unwrap();
        let m = ModelProto::parse_from_bytes(&out).unwrap();
        let g = m.graph.as_ref().unwrap();
        assert_eq!(g.input[0].name, "pixels");
        assert_eq!(g.output[0].name, "scores");
        assert_eq!(g.node.last().unwrap().output[0], "scores");
        let names: HashSet<&str> = g.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), g.node.len(), "node names are unique");
        let e = name_for_people(b"not a model", "x.onnx", &[], &[]).unwrap_err().to_string();
        assert!(e.contains("x.onnx") && e.contains("not a valid ONNX model"), "{e}");
    }
}
