//! Decoding the parts of an ONNX protobuf the executor needs: tensors (initializers and
//! constant attributes) into host values, and node attributes.
//!
//! Format: <https://onnx.ai/onnx/repo-docs/IR.html> (`TensorProto`, `AttributeProto`). Tensor data
//! is read from `raw_data` (little-endian) or from the typed fields; external data is read from
//! the file named in `external_data`, relative to the model's folder.

use std::collections::HashMap;
use std::path::Path;

use tract_onnx::pb::{AttributeProto, TensorProto};

/// ONNX `TensorProto.DataType` codes the executor knows.
pub(crate) mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const UINT16: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const UINT32: i32 = 12;
    pub const UINT64: i32 = 13;
    pub const BFLOAT16: i32 = 16;

    /// Whether `t` is a floating-point type (computed in f32 by the executor).
    pub fn is_float(t: i32) -> bool {
        matches!(t, FLOAT | FLOAT16 | DOUBLE | BFLOAT16)
    }

    /// Whether `t` is an integer or boolean type (computed in i64 on the host).
    pub fn is_int(t: i32) -> bool {
        matches!(t, UINT8 | INT8 | UINT16 | INT16 | INT32 | INT64 | BOOL | UINT32 | UINT64)
    }

    /// The type's name as the ONNX spec writes it.
    pub fn name(t: i32) -> String {
        match t {
            FLOAT => "float".into(),
            UINT8 => "uint8".into(),
            INT8 => "int8".into(),
            UINT16 => "uint16".into(),
            INT16 => "int16".into(),
            INT32 => "int32".into(),
            INT64 => "int64".into(),
            8 => "string".into(),
            BOOL => "bool".into(),
            FLOAT16 => "float16".into(),
            DOUBLE => "double".into(),
            UINT32 => "uint32".into(),
            UINT64 => "uint64".into(),
            14 | 15 => "complex".into(),
            BFLOAT16 => "bfloat16".into(),
            other => format!("data type {other}"),
        }
    }
}

/// A tensor's values on the host: floats (any float type, as f32) or integers (any integer or
/// boolean type, as i64), with the shape.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HostData {
    /// Float values as f32 and the ONNX element type they came from.
    Float { data: Vec<f32>, dtype: i32 },
    /// Integer or boolean values as i64.
    Int(Vec<i64>),
}

/// A decoded tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decoded {
    pub shape: Vec<usize>,
    pub data: HostData,
}

/// Decodes a `TensorProto`; `model_dir` resolves external data.
///
/// # Errors
/// A message naming what is wrong: a type the executor does not compute (string, complex), data
/// shorter than the shape, an external file that cannot be read.
pub(crate) fn tensor(t: &TensorProto, model_dir: Option<&Path>) -> Result<Decoded, String> {
    let shape: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tensor `{}` has a negative dimension {d}", t.name)))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let external;
    let raw: &[u8] = if t.data_location == Some(1) {
        external = external_bytes(t, model_dir)?;
        &external
    } else {
        &t.raw_data
    };
    let dtype = t.data_type;
    let data = if dtype::is_float(dtype) {
        HostData::Float { data: floats(t, raw, dtype)?, dtype }
    } else if dtype::is_int(dtype) {
        HostData::Int(ints(t, raw, dtype)?)
    } else {
        return Err(format!(
            "tensor `{}` is of type {}, which the executor does not compute",
            t.name,
            dtype::name(dtype)
        ));
    };
    let len = match &data {
        HostData::Float { data, .. } => data.len(),
        HostData::Int(d) => d.len(),
    };
    if len != n {
        return Err(format!("tensor `{}` of shape {shape:?} holds {len} values, expected {n}", t.name));
    }
    Ok(Decoded { shape, data })
}

fn external_bytes(t: &TensorProto, model_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let get = |k: &str| t.external_data.iter().find(|e| e.key == k).map(|e| e.value.clone());
    let location = get("location").ok_or_else(|| format!("tensor `{}`: external data without a location", t.name))?;
    let path = model_dir.map_or_else(|| Path::new(&location).to_path_buf(), |d| d.join(&location));
    let bytes =
        std::fs::read(&path).map_err(|e| format!("tensor `{}`: external data {}: {e}", t.name, path.display()))?;
    let offset: usize = get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let length: Option<usize> = get("length").and_then(|o| o.parse().ok());
    let end = length.map_or(bytes.len(), |l| offset + l);
    bytes
        .get(offset..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format!("tensor `{}`: external data {} is shorter than {end} bytes", t.name, path.display()))
}

fn chunks<'a, const N: usize>(raw: &'a [u8], name: &str) -> Result<impl Iterator<Item = [u8; N]> + 'a, String> {
    if !raw.len().is_multiple_of(N) {
        return Err(format!("tensor `{name}`: {} raw bytes are not a multiple of {N}", raw.len()));
    }
    Ok(raw.chunks_exact(N).map(|c| c.try_into().expect("chunks_exact gives N bytes")))
}

fn floats(t: &TensorProto, raw: &[u8], dtype: i32) -> Result<Vec<f32>, String> {
    let name = &t.name;
    if !raw.is_empty() {
        return Ok(match dtype {
            dtype::FLOAT => chunks::<4>(raw, name)?.map(f32::from_le_bytes).collect(),
            dtype::DOUBLE => chunks::<8>(raw, name)?.map(|b| f64::from_le_bytes(b) as f32).collect(),
            dtype::FLOAT16 => chunks::<2>(raw, name)?.map(|b| half::f16::from_le_bytes(b).to_f32()).collect(),
            dtype::BFLOAT16 => chunks::<2>(raw, name)?.map(|b| half::bf16::from_le_bytes(b).to_f32()).collect(),
            _ => unreachable!("a float type"),
        });
    }
    Ok(match dtype {
        dtype::FLOAT => t.float_data.clone(),
        dtype::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        // float16 and bfloat16 values are stored as their bit patterns in int32_data.
        dtype::FLOAT16 => t.int32_data.iter().map(|&b| half::f16::from_bits(b as u16).to_f32()).collect(),
        dtype::BFLOAT16 => t.int32_data.iter().map(|&b| half::bf16::from_bits(b as u16).to_f32()).collect(),
        _ => unreachable!("a float type"),
    })
}

fn ints(t: &TensorProto, raw: &[u8], dtype: i32) -> Result<Vec<i64>, String> {
    let name = &t.name;
    if !raw.is_empty() {
        return Ok(match dtype {
            dtype::INT64 => chunks::<8>(raw, name)?.map(i64::from_le_bytes).collect(),
            dtype::UINT64 => chunks::<8>(raw, name)?.map(|b| u64::from_le_bytes(b) as i64).collect(),
            dtype::INT32 => chunks::<4>(raw, name)?.map(|b| i32::from_le_bytes(b) as i64).collect(),
            dtype::UINT32 => chunks::<4>(raw, name)?.map(|b| u32::from_le_bytes(b) as i64).collect(),
            dtype::INT16 => chunks::<2>(raw, name)?.map(|b| i16::from_le_bytes(b) as i64).collect(),
            dtype::UINT16 => chunks::<2>(raw, name)?.map(|b| u16::from_le_bytes(b) as i64).collect(),
            dtype::INT8 => raw.iter().map(|&b| b as i8 as i64).collect(),
            dtype::UINT8 => raw.iter().map(|&b| b as i64).collect(),
            dtype::BOOL => raw.iter().map(|&b| (b != 0) as i64).collect(),
            _ => unreachable!("an integer type"),
        });
    }
    Ok(match dtype {
        dtype::INT64 => t.int64_data.clone(),
        dtype::UINT64 | dtype::UINT32 => t.uint64_data.iter().map(|&v| v as i64).collect(),
        dtype::BOOL => t.int32_data.iter().map(|&v| (v != 0) as i64).collect(),
        _ => t.int32_data.iter().map(|&v| v as i64).collect(),
    })
}

/// One node attribute, decoded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Attr {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(Decoded),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    /// A subgraph or another kind the executor does not interpret (named for errors).
    Unsupported(&'static str),
}

/// The attributes of a node by name.
///
/// # Errors
/// A message naming an attribute whose tensor cannot be decoded.
pub(crate) fn attributes(attrs: &[AttributeProto], model_dir: Option<&Path>) -> Result<HashMap<String, Attr>, String> {
    attrs.iter().map(|a| Ok((a.name.clone(), attribute(a, model_dir)?))).collect()
}

fn attribute(a: &AttributeProto, model_dir: Option<&Path>) -> Result<Attr, String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    // AttributeProto.type: 1 float, 2 int, 3 string, 4 tensor, 5 graph, 6 floats, 7 ints,
    // 8 strings, 9 tensors, 10 graphs, 11 sparse tensor, 12 sparse tensors, 13/14 type protos.
    Ok(match a.r#type {
        1 => Attr::Float(a.f),
        2 => Attr::Int(a.i),
        3 => Attr::String(text(&a.s)),
        4 => Attr::Tensor(tensor(
            a.t.as_ref().ok_or_else(|| format!("attribute `{}` has no tensor", a.name))?,
            model_dir,
        )?),
        6 => Attr::Floats(a.floats.clone()),
        7 => Attr::Ints(a.ints.clone()),
        8 => Attr::Strings(a.strings.iter().map(|s| text(s)).collect()),
        5 | 10 => Attr::Unsupported("a subgraph"),
        9 => Attr::Unsupported("a list of tensors"),
        11 | 12 => Attr::Unsupported("a sparse tensor"),
        _ => Attr::Unsupported("a type"),
    })
}
