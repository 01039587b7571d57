//! Attribute values that tract would silently ignore or mishandle, refused by node and
//! attribute before tract sees the graph, so that no op quietly computes something other than
//! what the ONNX specification defines.
//!
//! Where the list comes from: every attribute that the ONNX operator schemas (onnx 1.23,
//! opset ≤ 22) define for an op that tract-onnx 0.23 registers, minus the attributes tract's
//! parser for that op reads (`node.get_attr*("…")` in `tract-onnx/src/ops`, followed through
//! the helpers it calls). What remains is ignored by tract; those whose value does not change
//! what tract computes at inference are left out of [`IGNORED_BY_TRACT`] with the reason:
//! `BatchNormalization.momentum` (updates running statistics only), `Dropout.seed` (dropout is
//! the identity at inference), `Split.num_outputs` (tract uses the node's outputs, which must
//! agree), `TopK.sorted` (sorted output is a valid unsorted one), `Cast.saturate` /
//! `CastLike.saturate` (float8 targets only, which tract does not have), and the recurrent ops'
//! `hidden_size` (read from the weights, which must agree).
//!
//! Then value checks for attributes tract reads but cannot compute for every value:
//! `Pad` in `reflect` mode with padding at least as long as the axis (numpy and the ONNX
//! reference mirror repeatedly; tract panics), where the padded tensor's shape is known from
//! the graph (an initializer or `Constant`); the typed-model check in
//! [`check_typed_for_tract`] covers the rest once tract knows the shapes.

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::DimLike;

use crate::error::{OnnxError, Result};

/// What a node may hold for an attribute tract ignores.
#[derive(Clone, Copy, Debug)]
enum Allowed {
    /// Only this integer (the specification's default).
    Int(i64),
    /// Only this string.
    Str(&'static str),
    /// Only this list of strings.
    Strs(&'static [&'static str]),
    /// Nothing: any value is refused.
    Absent,
}

/// `(op, attribute, what is allowed, why it matters)` for attributes tract-onnx 0.23 ignores.
const IGNORED_BY_TRACT: &[(&str, &str, Allowed, &str)] = &[
    ("BatchNormalization", "training_mode", Allowed::Int(0), "batch statistics instead of the running ones"),
    ("GroupNormalization", "stash_type", Allowed::Int(1), "the precision of the statistics"),
    ("QuantizeLinear", "output_dtype", Allowed::Int(0), "the output type"),
    ("QuantizeLinear", "saturate", Allowed::Int(1), "saturation of float8 outputs"),
    ("Constant", "sparse_value", Allowed::Absent, "a sparse constant"),
    ("Constant", "value_strings", Allowed::Absent, "a string constant"),
    ("LSTM", "direction", Allowed::Str("forward"), "the direction of the recurrence"),
    ("LSTM", "activations", Allowed::Strs(&["Sigmoid", "Tanh", "Tanh"]), "the gate activations"),
    ("LSTM", "activation_alpha", Allowed::Absent, "activation parameters"),
    ("LSTM", "activation_beta", Allowed::Absent, "activation parameters"),
    ("LSTM", "clip", Allowed::Absent, "cell clipping"),
    ("LSTM", "input_forget", Allowed::Int(0), "coupled input and forget gates"),
    ("GRU", "direction", Allowed::Str("forward"), "the direction of the recurrence"),
    ("GRU", "activations", Allowed::Strs(&["Sigmoid", "Tanh"]), "the gate activations"),
    ("GRU", "activation_alpha", Allowed::Absent, "activation parameters"),
    ("GRU", "activation_beta", Allowed::Absent, "activation parameters"),
    ("GRU", "clip", Allowed::Absent, "cell clipping"),
    ("RNN", "direction", Allowed::Str("forward"), "the direction of the recurrence"),
    ("RNN", "activations", Allowed::Strs(&["Tanh"]), "the activation"),
    ("RNN", "activation_alpha", Allowed::Absent, "activation parameters"),
    ("RNN", "activation_beta", Allowed::Absent, "activation parameters"),
    ("RNN", "clip", Allowed::Absent, "cell clipping"),
];

/// Checks every node of the model's graph for attribute values tract ignores or cannot
/// compute (see the module documentation).
///
/// # Errors
/// [`OnnxError::Op`] naming the node, op and attribute.
pub(crate) fn check_for_tract(proto: &pb::ModelProto) -> Result<()> {
    let Some(graph) = proto.graph.as_ref() else { return Ok(()) };
    let opset =
        proto.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    for node in &graph.node {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            continue;
        }
        check_ignored_attributes(node)?;
        if node.op_type == "BatchNormalization" && opset < 14 && node.output.iter().skip(1).any(|o| !o.is_empty()) {
            return Err(refuse(
                node,
                "outputs running statistics (training mode), which tract does not compute".into(),
            ));
        }
        if node.op_type == "Pad" {
            check_constant_reflect_pad(graph, node, opset)?;
        }
    }
    Ok(())
}

fn refuse(node: &pb::NodeProto, reason: String) -> OnnxError {
    OnnxError::Op { node: node_name(node), op: node.op_type.clone(), reason }
}

fn node_name(node: &pb::NodeProto) -> String {
    if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() }
}

fn check_ignored_attributes(node: &pb::NodeProto) -> Result<()> {
    for (op, name, allowed, why) in IGNORED_BY_TRACT {
        if node.op_type != *op {
            continue;
        }
        let Some(attr) = node.attribute.iter().find(|a| a.name == *name) else { continue };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (fine, found) = match allowed {
            Allowed::Int(v) => (attr.i == *v, attr.i.to_string()),
            Allowed::Str(s) => (text(&attr.s) == *s, format!("\"{}\"", text(&attr.s))),
            Allowed::Strs(list) => {
                let found: Vec<String> = attr.strings.iter().map(|s| text(s)).collect();
                let fine = found.len() == list.len() && found.iter().zip(list.iter()).all(|(f, l)| f == l);
                (fine, format!("{found:?}"))
            }
            Allowed::Absent => (false, "a value".into()),
        };
        if !fine {
            return Err(refuse(
                node,
                format!(
                    "attribute `{name}` = {found} ({why}) is ignored by tract, which would compute the default instead"
                ),
            ));
        }
    }
    Ok(())
}

/// A `Pad` in `reflect` mode whose data is an initializer or `Constant` (so its shape is known
/// here) and whose pads are constant: every pad must be shorter than its axis.
fn check_constant_reflect_pad(graph: &pb::GraphProto, node: &pb::NodeProto, opset: i64) -> Result<()> {
    let mode = node.attribute.iter().find(|a| a.name == "mode").map(|a| String::from_utf8_lossy(&a.s).into_owned());
    if mode.as_deref() != Some("reflect") {
        return Ok(());
    }
    let Some(dims) = node.input.first().and_then(|name| constant(graph, name)).map(|t| t.dims.clone()) else {
        return Ok(());
    };
    let pads: Option<Vec<i64>> = if opset < 11 {
        node.attribute.iter().find(|a| a.name == "pads" || a.name == "paddings").map(|a| a.ints.clone())
    } else {
        node.input.get(1).and_then(|name| constant(graph, name)).and_then(int64_values)
    };
    let Some(pads) = pads else { return Ok(()) };
    let axes: Vec<i64> = match node.input.get(3).filter(|n| !n.is_empty()) {
        Some(name) => match constant(graph, name).and_then(int64_values) {
            Some(axes) => axes,
            None => return Ok(()),
        },
        None => (0..dims.len() as i64).collect(),
    };
    let rank = dims.len() as i64;
    for (k, &axis) in axes.iter().enumerate() {
        let axis = if axis < 0 { axis + rank } else { axis };
        let Some(&len) = usize::try_from(axis).ok().and_then(|a| dims.get(a)) else { continue };
        for &pad in [pads.get(k), pads.get(k + axes.len())].into_iter().flatten() {
            if pad >= len {
                return Err(refuse(
                    node,
                    format!(
                        "reflect padding of {pad} on axis {axis} of length {len}: tract cannot mirror more than \
                         the axis length − 1 (ONNX and numpy repeat the mirror)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The tensor named `name` if an initializer or a `Constant` node's `value` defines it.
fn constant<'a>(graph: &'a pb::GraphProto, name: &str) -> Option<&'a pb::TensorProto> {
    graph.initializer.iter().find(|t| t.name == name).or_else(|| {
        graph
            .node
            .iter()
            .find(|n| n.op_type == "Constant" && n.output.first().is_some_and(|o| o == name))
            .and_then(|n| n.attribute.iter().find(|a| a.name == "value"))
            .and_then(|a| a.t.as_ref())
    })
}

/// The values of an int64 tensor (raw or typed storage).
fn int64_values(t: &pb::TensorProto) -> Option<Vec<i64>> {
    if t.data_type != 7 {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    Some(t.raw_data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or_default())).collect())
}

/// After tract has typed the graph: every reflect `Pad` whose input shape is now known must
/// pad less than each axis (tract panics otherwise).
///
/// # Errors
/// [`OnnxError::Op`] naming the node.
pub(crate) fn check_typed_for_tract(model: &TypedModel) -> Result<()> {
    use tract_onnx::tract_core::ops::array::{Pad, PadMode};
    for node in model.nodes() {
        let Some(pad) = node.op_as::<Pad>() else { continue };
        if !matches!(pad.mode, PadMode::Reflect) {
            continue;
        }
        let Some(input) = node.inputs.first() else { continue };
        let Ok(fact) = model.outlet_fact(*input) else { continue };
        for (axis, (&(before, after), dim)) in pad.pads.iter().zip(fact.shape.iter()).enumerate() {
            let Ok(len) = dim.to_usize() else { continue };
            if before.max(after) >= len {
                return Err(OnnxError::Op {
                    node: node.name.clone(),
                    op: "Pad".into(),
                    reason: format!(
                        "reflect padding of {} on axis {axis} of length {len}: tract cannot mirror more than the \
                         axis length − 1 (ONNX and numpy repeat the mirror)",
                        before.max(after)
                    ),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use onnx_ir::{AttributeProto, AttributeType, Message, ModelProto, NodeProto, TensorProto, ValueInfoProto};

    use crate::{BatchAxis, DifferentiableGraph, HostValue, TractModel};

    /// A float graph input of fixed `dims`.
    fn input(name: &str, dims: &[i64]) -> ValueInfoProto {
        let mut v = ValueInfoProto::new();
        v.name = name.into();
        let t = v.type_.mut_or_insert_default().mut_tensor_type();
        t.elem_type = 1;
        let shape = t.shape.mut_or_insert_default();
        for &d in dims {
            shape.dim.push(Default::default());
            shape.dim.last_mut().unwrap().set_dim_value(d);
        }
        v
    }

    fn floats(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = 1;
        t.dims = dims.to_vec();
        t.float_data = data.to_vec();
        t
    }

    fn ints(name: &str, data: &[i64]) -> TensorProto {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.data_type = 7;
        t.dims = vec![data.len() as i64];
        t.int64_data = data.to_vec();
        t
    }

    fn int_attr(name: &str, value: i64) -> AttributeProto {
        let mut a = AttributeProto::new();
        a.name = name.into();
        a.type_ = AttributeType::INT.into();
        a.i = value;
        a
    }

    fn string_attr(name: &str, value: &str) -> AttributeProto {
        let mut a = AttributeProto::new();
        a.name = name.into();
        a.type_ = AttributeType::STRING.into();
        a.s = value.as_bytes().to_vec().into();
        a
    }

    /// One node reading the graph input `x` (of `dims`) and `initializers`, writing `y`.
    fn single_node(
        dir: &Path,
        op: &str,
        dims: &[i64],
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
        initializers: Vec<TensorProto>,
        opset: i64,
    ) -> PathBuf {
        let node = node(op, "node", inputs, "y", attrs);
        graph_of(dir, op, vec![node], dims, initializers, opset)
    }

    /// A node `name` of type `op` reading `inputs` and writing `output`.
    fn node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
        let mut node = NodeProto::new();
        node.op_type = op.into();
        node.name = name.into();
        node.input = inputs.iter().map(|s| s.to_string()).collect();
        node.output = vec![output.into()];
        node.attribute = attrs;
        node
    }

    /// `nodes` reading the graph input `x` (of `dims`) and `initializers`, writing `y`, saved
    /// as `dir/<file>.onnx`.
    fn graph_of(
        dir: &Path,
        file: &str,
        nodes: Vec<NodeProto>,
        dims: &[i64],
        initializers: Vec<TensorProto>,
        opset: i64,
    ) -> PathBuf {
        let mut proto = ModelProto::new();
        proto.ir_version = 8;
        proto.opset_import.push(Default::default());
        proto.opset_import[0].version = opset;
        let graph = proto.graph.mut_or_insert_default();
        graph.node = nodes;
        graph.input.push(input("x", dims));
        let mut y = ValueInfoProto::new();
        y.name = "y".into();
        y.type_.mut_or_insert_default().mut_tensor_type().elem_type = 1;
        graph.output.push(y);
        graph.initializer = initializers;
        let path = dir.join(format!("{file}.onnx"));
        std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
        path
    }

    fn assert_values(found: &HostValue, want: &[f32], shape: &[usize]) {
        let HostValue::Float { data, shape: s } = found else { panic!("float output") };
        assert_eq!(s, shape);
        for (i, (f, w)) in data.iter().zip(want).enumerate() {
            assert!((f - w).abs() < 1e-4, "value {i}: found {f}, expected {w}");
        }
    }

    #[test]
    fn batch_normalization_in_training_mode_uses_batch_statistics_or_is_refused() {
        // The issue's case: opset 15, training_mode = 1, one output, scale 1, bias 0, mean 0, var 1.
        let dir = tempfile::tempdir().unwrap();
        let x = [1.7641, 0.4002, 0.9787, 2.2409, 1.8676, -0.9773, 0.9501, -0.1514, -0.1032];
        let stats = vec![
            floats("scale", &[3], &[1.0; 3]),
            floats("bias", &[3], &[0.0; 3]),
            floats("mean", &[3], &[0.0; 3]),
            floats("var", &[3], &[1.0; 3]),
        ];
        let path = single_node(
            dir.path(),
            "BatchNormalization",
            &[3, 3],
            &["x", "scale", "bias", "mean", "var"],
            vec![int_attr("training_mode", 1)],
            stats,
            15,
        );
        // The executor computes what the specification defines.
        let graph = DifferentiableGraph::load(&path).unwrap();
        let out = graph.run(&[("x", HostValue::Float { data: x.to_vec(), shape: vec![3, 3] })]).unwrap();
        let want = [0.2109, -0.3583, 1.2657, 1.1056, 1.3639, -1.1791, -1.3165, -1.0056, -0.0866];
        assert_values(&out[0], &want, &[3, 3]);
        // tract would return x unchanged: refused by node and attribute.
        let err = TractModel::load(&path, BatchAxis::Symbolic).unwrap_err().to_string();
        assert!(err.contains("node `node` (BatchNormalization)") && err.contains("`training_mode` = 1"), "{err}");
    }

    #[test]
    fn reflect_padding_as_long_as_the_axis_is_mirrored_repeatedly_or_refused() {
        // The issue's case: opset 18, reflect, pads [0, 2, 0, 0] on a [3, 2] tensor.
        let dir = tempfile::tempdir().unwrap();
        let x = [1.0, 1.2, 2.3, 3.4, 4.5, 5.7];
        let path = single_node(
            dir.path(),
            "Pad",
            &[3, 2],
            &["x", "pads"],
            vec![string_attr("mode", "reflect")],
            vec![ints("pads", &[0, 2, 0, 0])],
            18,
        );
        let graph = DifferentiableGraph::load(&path).unwrap();
        let out = graph.run(&[("x", HostValue::Float { data: x.to_vec(), shape: vec![3, 2] })]).unwrap();
        let want = [1.0, 1.2, 1.0, 1.2, 2.3, 3.4, 2.3, 3.4, 4.5, 5.7, 4.5, 5.7];
        assert_values(&out[0], &want, &[3, 4]);
        // tract panics on it (`Slice end 3 is past end of axis of length 2`): refused once the
        // shapes are known, naming the node.
        let err = TractModel::load(&path, BatchAxis::Symbolic).unwrap_err().to_string();
        assert!(err.contains("node `node`") && err.contains("reflect padding of 2 on axis 1 of length 2"), "{err}");
        // With the padded tensor a constant, the graph check refuses it before tract runs.
        let constant = single_node(
            dir.path(),
            "Pad",
            &[1],
            &["c", "pads"],
            vec![string_attr("mode", "reflect")],
            vec![floats("c", &[3, 2], &x), ints("pads", &[0, 2, 0, 0])],
            18,
        );
        let err = crate::inspect(&constant).unwrap_err().to_string();
        assert!(err.contains("reflect padding of 2 on axis 1 of length 2"), "{err}");
    }

    #[test]
    fn reflect_padding_computed_by_constant_chains_is_refused_for_tract() {
        // PyTorch exports pads as chains of Constant, Reshape, Slice and Cast: tract folds them
        // while typing the graph, so the typed-graph check sees the padding and refuses it.
        let dir = tempfile::tempdir().unwrap();
        let mut pads = ints("value", &[0, 0, 3, 3, 0, 0, 3, 3]);
        pads.data_type = 6;
        pads.int32_data = pads.int64_data.drain(..).map(|v| v as i32).collect();
        let mut value = AttributeProto::new();
        value.name = "value".into();
        value.type_ = AttributeType::TENSOR.into();
        value.t = Some(pads).into();
        let nodes = vec![
            node("Constant", "pads_i32", &[], "pads32", vec![value]),
            node("Cast", "cast", &["pads32"], "pads", vec![int_attr("to", 7)]),
            node("Pad", "pad", &["x", "pads"], "y", vec![string_attr("mode", "reflect")]),
        ];
        let path = graph_of(dir.path(), "computed_pad", nodes, &[1, 1, 2, 2], vec![], 18);
        let x = [1.0, 2.0, 3.0, 4.0];
        let graph = DifferentiableGraph::load(&path).unwrap();
        let out = graph.run(&[("x", HostValue::Float { data: x.to_vec(), shape: vec![1, 1, 2, 2] })]).unwrap();
        // numpy.pad([[1, 2], [3, 4]], 3, 'reflect'): the mirror repeats, period 2.
        let row = |a: f32, b: f32| [b, a, b, a, b, a, b, a];
        let want: Vec<f32> = [row(3.0, 4.0), row(1.0, 2.0)].iter().cycle().take(8).flatten().copied().collect();
        assert_values(&out[0], &want, &[1, 1, 8, 8]);
        let err = TractModel::load_with_input(&path, Some(&[1, 2, 2]), BatchAxis::Symbolic).unwrap_err().to_string();
        assert!(err.contains("node `pad`") && err.contains("reflect padding of 3 on axis 2 of length 2"), "{err}");
    }

    #[test]
    fn recurrent_ops_with_attributes_tract_ignores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = single_node(
            dir.path(),
            "LSTM",
            &[2, 1, 3],
            &["x", "w", "r"],
            vec![string_attr("direction", "reverse"), int_attr("hidden_size", 2)],
            vec![floats("w", &[1, 8, 3], &[0.1; 24]), floats("r", &[1, 8, 2], &[0.1; 16])],
            14,
        );
        let err = TractModel::load(&path, BatchAxis::Symbolic).unwrap_err().to_string();
        assert!(err.contains("attribute `direction` = \"reverse\""), "{err}");
    }
}
