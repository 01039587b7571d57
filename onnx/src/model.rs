//! Reading an ONNX file into its protobuf form and into tract's inference model, with the
//! batch axis of the image input made symbolic.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::prelude::*;

use crate::error::{OnnxError, Result};

/// Name of the symbol that stands for the batch axis in shapes (`[batch, 16, 32, 32]`).
pub const BATCH_SYMBOL: &str = "batch";

/// Reads and decodes the protobuf of an ONNX model.
///
/// # Errors
/// [`OnnxError::Io`] when the file cannot be read; [`OnnxError::NotOnnx`] when its bytes are not
/// an ONNX `ModelProto` with a graph of at least one node and one input.
pub(crate) fn read_proto(path: &Path) -> Result<pb::ModelProto> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.into(), source })?;
    let not_onnx = |reason: String| OnnxError::NotOnnx { path: path.into(), reason };
    let mut proto = onnx().proto_model_for_read(&mut &bytes[..]).map_err(|e| not_onnx(format!("{e:#}")))?;
    widen_half_precision(&mut proto).map_err(not_onnx)?;
    let graph = proto.graph.as_ref().ok_or_else(|| not_onnx("no graph in the file".into()))?;
    if graph.node.is_empty() || graph.input.is_empty() {
        return Err(not_onnx(format!(
            "the graph has {} nodes and {} inputs; expected at least one of each",
            graph.node.len(),
            graph.input.len()
        )));
    }
    Ok(proto)
}

/// Rewrites a float16 / bfloat16 model as float32 for tract, whose kernels do not all handle
/// half precision (tract 0.23 fails to type a float16 `Gemm`): initializers and constants are
/// widened, declared types and `Cast` targets become float32. The differentiable executor reads
/// the file itself and keeps the casts' rounding; here the values differ from the half-precision
/// model's only by that rounding.
///
/// # Errors
/// A message naming a tensor that cannot be decoded.
fn widen_half_precision(proto: &mut pb::ModelProto) -> std::result::Result<(), String> {
    const HALF: [i32; 2] = [10, 16];
    let Some(graph) = proto.graph.as_mut() else { return Ok(()) };
    let is_half = |t: i32| HALF.contains(&t);
    let widen = |t: &mut pb::TensorProto| -> std::result::Result<(), String> {
        if is_half(t.data_type) {
            let decoded = crate::executor::proto::tensor(t, None)?;
            let crate::executor::proto::HostData::Float { data, .. } = decoded.data else {
                unreachable!("a float type")
            };
            t.raw_data.clear();
            t.int32_data.clear();
            t.float_data = data;
            t.data_type = 1;
        }
        Ok(())
    };
    let uses_half = graph.initializer.iter().any(|t| is_half(t.data_type))
        || graph.input.iter().chain(&graph.output).chain(&graph.value_info).any(|v| elem_type(v).is_some_and(is_half));
    if !uses_half {
        return Ok(());
    }
    for t in &mut graph.initializer {
        widen(t)?;
    }
    for v in graph.input.iter_mut().chain(graph.output.iter_mut()).chain(graph.value_info.iter_mut()) {
        if let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
            && is_half(t.elem_type)
        {
            t.elem_type = 1;
        }
    }
    for node in &mut graph.node {
        for a in &mut node.attribute {
            if node.op_type == "Cast" && a.name == "to" && is_half(a.i as i32) {
                a.i = 1;
            }
            if let Some(t) = a.t.as_mut() {
                widen(t)?;
            }
        }
    }
    Ok(())
}

fn elem_type(v: &pb::ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(t)) => Some(t.elem_type),
        _ => None,
    }
}

/// The graph of a model read by [`read_proto`].
pub(crate) fn graph(proto: &pb::ModelProto) -> &pb::GraphProto {
    proto.graph.as_ref().expect("read_proto checked that the model has a graph")
}

/// The graph's data input: the first input that is not also an initializer.
///
/// # Errors
/// [`OnnxError::NotOnnx`] when every input is an initializer.
pub(crate) fn data_input<'a>(path: &Path, graph: &'a pb::GraphProto) -> Result<&'a pb::ValueInfoProto> {
    graph
        .input
        .iter()
        .find(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .ok_or_else(|| OnnxError::NotOnnx { path: path.into(), reason: "the graph has no data input".into() })
}

/// Declared dimensions of a graph input or output; `None` for an unknown or symbolic axis.
pub(crate) fn declared_dims(info: &pb::ValueInfoProto) -> Vec<Option<usize>> {
    let Some(pb::type_proto::Value::TensorType(t)) = info.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return vec![];
    };
    let dims = t.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
    dims.iter()
        .map(|d| match &d.value {
            Some(DimValue::DimValue(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        })
        .collect()
}

/// tract's inference model of `proto` (see [`ParsedModel`]), with the data input set to `f32 [batch, rest…]` where
/// `batch` is the symbol [`BATCH_SYMBOL`] and `rest` the declared dimensions.
///
/// # Errors
/// [`OnnxError::NotOnnx`] when tract cannot parse the graph or the input is not rank ≥ 2 with
/// known non-batch dimensions; [`OnnxError::Op`] for an attribute tract would ignore (see
/// `validate`); [`OnnxError::Panic`] when tract panics.
pub(crate) fn inference_model(path: &Path, proto: &pb::ModelProto) -> Result<ParsedModel> {
    crate::validate::check_for_tract(proto)?;
    crate::error::guard(path, "tract", "parse the graph", || parse_for_tract(path, proto))
}

fn parse_for_tract(path: &Path, proto: &pb::ModelProto) -> Result<ParsedModel> {
    let fail = |reason: String| OnnxError::NotOnnx { path: path.into(), reason };
    let dir = path.parent().and_then(|d| d.to_str());
    let parsed = onnx().parse(proto, dir).map_err(|e| fail(format!("tract cannot parse the graph: {e:#}")))?;
    let (mut model, outlets) = (parsed.model, parsed.outlets_by_name);
    let dims = declared_dims(data_input(path, graph(proto))?);
    let rest: Option<Vec<usize>> = dims.iter().skip(1).copied().collect();
    let rest = rest.filter(|_| dims.len() >= 2).ok_or_else(|| {
        fail(format!("input shape {} needs known dimensions after the batch axis", format_dims(&dims)))
    })?;
    // A graph that fixes its batch (e.g. at 1, for a `Reshape` to `[1, 256]`) keeps it.
    let batch = dims[0];
    let mut shape: TVec<TDim> = tvec![batch.map_or_else(|| model.symbols.sym(BATCH_SYMBOL).to_dim(), |b| b.to_dim())];
    shape.extend(rest.iter().map(|&d| d.to_dim()));
    model.set_input_fact(0, f32::fact(shape).into()).map_err(|e| fail(format!("cannot set the input shape: {e:#}")))?;
    Ok(ParsedModel { model, outlets, input_dims: rest, batch })
}

/// tract's inference model and where each original ONNX tensor name lives in it.
pub(crate) struct ParsedModel {
    /// The graph, data input set to `f32 [batch, input_dims…]`.
    pub model: InferenceModel,
    /// Original ONNX tensor name → tract outlet.
    pub outlets: HashMap<String, OutletId>,
    /// The input's dimensions after the batch axis, e.g. `[1, 32, 32]`.
    pub input_dims: Vec<usize>,
    /// The batch size the graph fixes, if it does.
    pub batch: Option<usize>,
}

/// `[batch, 1, 32, 32]`-style text for declared dimensions.
pub(crate) fn format_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Some(v) => v.to_string(),
            None if i == 0 => BATCH_SYMBOL.to_string(),
            None => "?".to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}
