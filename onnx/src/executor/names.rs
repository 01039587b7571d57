//! The map between onnx-ir's names and the ONNX file's own.
//!
//! onnx-ir renames every node (`conv2d1`) and tensor (`conv2d1_out1`); people, tract and the
//! reference fixtures use the file's names (`/conv1/Conv`, `/relu2/Relu_output_0`). Parsed with
//! `.simplify(false)`, onnx-ir keeps the file's node order and drops or fuses only a few nodes:
//! `Constant`s and folded constant chains, `Identity`s, and the bias `Add` it fuses into a
//! `MatMul` to make a `Linear`. [`align`] walks both node lists once and pairs them by data flow
//! (the same dynamic inputs) and a compatible op type.

use std::collections::HashMap;

use onnx_ir::{ArgType, Node, NodeProto, OnnxGraph};

/// Original ↔ onnx-ir names of the graph's dynamic tensors and nodes.
#[derive(Clone, Debug, Default)]
pub(crate) struct NameMap {
    /// Original tensor name → onnx-ir tensor name.
    pub tensor_to_ir: HashMap<String, String>,
    /// onnx-ir tensor name → original tensor name (the first original name when several alias).
    pub tensor_from_ir: HashMap<String, String>,
    /// onnx-ir node name → (original node name, original op type).
    pub node_from_ir: HashMap<String, (String, String)>,
    /// Original tensor names produced by aligned nodes, in graph order.
    pub ordered: Vec<String>,
}

impl NameMap {
    fn link(&mut self, original: &str, ir: &str) {
        self.tensor_to_ir.insert(original.to_string(), ir.to_string());
        self.tensor_from_ir.entry(ir.to_string()).or_insert_with(|| original.to_string());
    }
}

/// Whether an onnx-ir node type can stand for an original op type.
fn compatible(original: &str, ir: &str) -> bool {
    ir == original
        || ir.starts_with(original) // Conv → Conv2d, MaxPool → MaxPool2d, AveragePool → AveragePool2d
        || (matches!(original, "Gemm" | "MatMul") && ir == "Linear")
        || (original == "Clip" && ir == "Relu")
}

fn dynamic_inputs(node: &Node) -> Vec<&str> {
    node.inputs().iter().filter(|a| a.is_dynamic()).map(|a| a.name.as_str()).collect()
}

/// Pairs the original nodes with onnx-ir's.
///
/// `data_inputs` are the original names of the graph's non-initializer inputs, in order; they
/// pair with `graph.inputs` by position. Returns the map, and the onnx-ir nodes left unpaired
/// (their tensors keep onnx-ir names).
pub(crate) fn align(original: &[NodeProto], data_inputs: &[String], graph: &OnnxGraph) -> NameMap {
    let mut map = NameMap::default();
    for (orig, arg) in data_inputs.iter().zip(&graph.inputs) {
        map.link(orig, &arg.name);
    }
    let ir_nodes: Vec<&Node> = graph.nodes.iter().filter(|n| !matches!(n, Node::Constant(_))).collect();
    let mut k = 0;
    let mut j = 0;
    while j < original.len() {
        let p = &original[j];
        j += 1;
        let mut mapped: Vec<String> =
            p.input.iter().filter_map(|name| map.tensor_to_ir.get(name.as_str()).cloned()).collect();
        let Some(ir) = ir_nodes.get(k) else {
            alias_identity(&mut map, p);
            continue;
        };
        let mut ir_inputs: Vec<String> = dynamic_inputs(ir).into_iter().map(String::from).collect();
        mapped.sort_unstable();
        ir_inputs.sort_unstable();
        let ir_type = ir.node_type().to_string();
        if compatible(&p.op_type, &ir_type) && mapped == ir_inputs {
            k += 1;
            map.node_from_ir.insert(ir.name().to_string(), (display_name(p), p.op_type.clone()));
            let mut outputs: Vec<&str> = p.output.iter().map(String::as_str).collect();
            // MatMul + Add fused into Linear: the Linear's output is the Add's.
            if p.op_type == "MatMul"
                && ir_type == "Linear"
                && ir.inputs().len() == 3
                && let Some(add) = original.get(j).filter(|n| n.op_type == "Add")
            {
                outputs = add.output.iter().map(String::as_str).collect();
                j += 1;
            }
            for (o, arg) in outputs.iter().zip(ir.outputs()) {
                if !o.is_empty() {
                    map.link(o, &arg.name);
                    if matches!(arg.ty, ArgType::Tensor(_)) {
                        map.ordered.push(o.to_string());
                    }
                }
            }
        } else {
            alias_identity(&mut map, p);
        }
    }
    map
}

/// An original node that onnx-ir removed: an `Identity` (or inference `Dropout`) aliases its
/// input; anything else (a folded constant) stays unmapped.
fn alias_identity(map: &mut NameMap, p: &NodeProto) {
    if matches!(p.op_type.as_str(), "Identity" | "Dropout")
        && let (Some(i), Some(o)) = (p.input.first(), p.output.first())
        && let Some(ir) = map.tensor_to_ir.get(i).cloned()
    {
        map.tensor_to_ir.insert(o.clone(), ir);
        map.ordered.push(o.clone());
    }
}

/// The node's name in the file, or `<op>#<first output>` when the file leaves it empty.
fn display_name(p: &NodeProto) -> String {
    if p.name.is_empty() {
        format!("{}({})", p.op_type, p.output.first().map(String::as_str).unwrap_or(""))
    } else {
        p.name.clone()
    }
}
