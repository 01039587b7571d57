//! The ONNX operators of the differentiable executor, one file per op family, each opening
//! with the ONNX spec links and the opsets it handles. Every float op evaluates with burn tensor
//! ops on the autodiff device, so gradients flow through it; integer tensors (shapes, indices,
//! masks) are computed on the host. An op outside [`SUPPORTED_OPS`], an attribute an op does
//! not implement, or an attribute value it does not implement is an [`OnnxError`] naming the
//! node — never a different computation.
//!
//! Where an op's meaning changed across opsets, each version is implemented as the spec says
//! for it, chosen by the model's opset (ONNX operators changelog:
//! <https://onnx.ai/onnx/operators/> and `docs/Changelog.md` of the onnx repository).

mod elementwise;
mod layout;
mod nn;
mod reduce;
mod resize;

use std::collections::HashMap;
use std::sync::OnceLock;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::error::{OnnxError, Result};
use crate::executor::graph::NodeSpec;
use crate::executor::proto::{Attr, Decoded};
pub(crate) use crate::executor::value::{MAX_RANK, Phys, Value, padded};

/// One op the executor implements.
pub(crate) struct OpDef {
    /// The ONNX op type.
    pub op: &'static str,
    /// The first opset the op exists in.
    pub since: i64,
    /// The attributes the implementation reads; any other attribute on a node is refused.
    pub attrs: &'static [&'static str],
    /// Checks attribute values at load time (before any output is written).
    pub check: fn(&Ctx) -> Result<()>,
    /// Evaluates the node on its inputs (`None` for an omitted optional input).
    pub eval: Eval,
}

/// An op's evaluation: the node's inputs (`None` for an omitted optional one) to its outputs.
pub(crate) type Eval = fn(&Ctx, &[Option<Value>]) -> Result<Vec<Value>>;

/// An op needing no attribute check.
pub(crate) fn no_check(_: &Ctx) -> Result<()> {
    Ok(())
}

fn registry() -> &'static HashMap<&'static str, &'static OpDef> {
    static REGISTRY: OnceLock<HashMap<&'static str, &'static OpDef>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        [elementwise::OPS, layout::OPS, reduce::OPS, nn::OPS, resize::OPS]
            .iter()
            .flat_map(|family| family.iter())
            .map(|def| (def.op, def))
            .collect()
    })
}

/// The op's implementation, if the executor has one.
pub(crate) fn lookup(op: &str) -> Option<&'static OpDef> {
    registry().get(op).copied()
}

/// The op types the executor evaluates, sorted.
pub(crate) fn supported() -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = registry().keys().copied().collect();
    ops.sort_unstable();
    ops
}

/// The ONNX op types the executor evaluates (as they appear in an ONNX file), sorted.
pub fn supported_ops() -> Vec<&'static str> {
    supported()
}

/// Evaluates one node.
///
/// # Errors
/// [`OnnxError::UnsupportedOp`] for an op outside the registry; [`OnnxError::Op`] when the
/// inputs do not fit the op.
pub(crate) fn eval(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let def = lookup(&ctx.node.op).ok_or_else(|| OnnxError::UnsupportedOp {
        node: ctx.node.name.clone(),
        op: ctx.node.op.clone(),
        supported: supported().join(", "),
    })?;
    (def.eval)(ctx, inputs)
}

/// Where an op runs: the node (name, op, attributes), the model's opset and the device.
pub(crate) struct Ctx<'a> {
    pub node: &'a NodeSpec,
    pub opset: i64,
    pub device: &'a Device,
}

impl Ctx<'_> {
    /// An [`OnnxError::Op`] for this node.
    pub fn err(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Op { node: self.node.name.clone(), op: self.node.op.clone(), reason: reason.into() }
    }

    /// Input `i`, which must be present.
    pub fn input<'v>(&self, inputs: &'v [Option<Value>], i: usize) -> Result<&'v Value> {
        inputs.get(i).and_then(Option::as_ref).ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Input `i` when present.
    pub fn optional<'v>(&self, inputs: &'v [Option<Value>], i: usize) -> Option<&'v Value> {
        inputs.get(i).and_then(Option::as_ref)
    }

    /// Input `i` as a float tensor with its logical shape (integers are converted).
    pub fn float(&self, inputs: &[Option<Value>], i: usize) -> Result<(Phys, Vec<usize>)> {
        Ok(self.to_float(self.input(inputs, i)?))
    }

    /// A value as a float tensor with its logical shape (integers are converted).
    pub fn to_float(&self, v: &Value) -> (Phys, Vec<usize>) {
        match v {
            Value::Float { tensor, shape } => (tensor.clone(), shape.clone()),
            Value::Int { data, shape } => {
                let data: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                (Tensor::from_data(TensorData::new(data, padded(shape)), self.device), shape.clone())
            }
        }
    }

    /// Input `i` as a float tensor of logical rank `D` (`[batch, channels, height, width]` for 4).
    pub fn float_rank<const D: usize>(&self, inputs: &[Option<Value>], i: usize) -> Result<Tensor<D>> {
        let (t, shape) = self.float(inputs, i)?;
        if shape.len() != D {
            return Err(self.err(format!("input {i}: expected rank {D}, found shape {shape:?}")));
        }
        let dims: [usize; D] = shape.try_into().expect("length checked above");
        Ok(t.reshape(dims))
    }

    /// Input `i` as host integers (shapes, axes, indices); a float input whose values are all
    /// integral is accepted (some exporters store sizes as floats).
    pub fn ints(&self, inputs: &[Option<Value>], i: usize) -> Result<(Vec<i64>, Vec<usize>)> {
        match self.input(inputs, i)? {
            Value::Int { data, shape } => Ok((data.clone(), shape.clone())),
            v @ Value::Float { shape, .. } => {
                let data = host_floats(v).map_err(|e| self.err(e))?;
                if data.iter().any(|x| x.fract() != 0.0 || !x.is_finite()) {
                    return Err(self.err(format!("input {i}: expected integers, found float values {shape:?}")));
                }
                Ok((data.iter().map(|&x| x as i64).collect(), shape.clone()))
            }
        }
    }

    /// Input `i` as host floats (scales, constant values, bounds).
    pub fn host_floats(&self, inputs: &[Option<Value>], i: usize) -> Result<Vec<f32>> {
        host_floats(self.input(inputs, i)?).map_err(|e| self.err(e))
    }

    /// Checks a logical rank before it is padded to the physical rank.
    pub fn check_rank(&self, shape: &[usize]) -> Result<()> {
        if shape.len() > MAX_RANK {
            return Err(self.err(format!("rank {} above the executor's maximum {MAX_RANK}", shape.len())));
        }
        Ok(())
    }

    /// Resolves a possibly negative ONNX axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        if a < 0 || a as usize >= rank {
            return Err(self.err(format!("axis {axis} outside rank {rank}")));
        }
        Ok(a as usize)
    }

    fn attr(&self, name: &str) -> Option<&Attr> {
        self.node.attrs.get(name)
    }

    /// Integer attribute `name`, or `default`.
    pub fn attr_int(&self, name: &str, default: i64) -> Result<i64> {
        match self.attr(name) {
            None => Ok(default),
            Some(Attr::Int(v)) => Ok(*v),
            Some(other) => Err(self.err(format!("attribute `{name}` should be an int, found {other:?}"))),
        }
    }

    /// Float attribute `name`, or `default`.
    pub fn attr_float(&self, name: &str, default: f32) -> Result<f32> {
        match self.attr(name) {
            None => Ok(default),
            Some(Attr::Float(v)) => Ok(*v),
            Some(Attr::Int(v)) => Ok(*v as f32),
            Some(other) => Err(self.err(format!("attribute `{name}` should be a float, found {other:?}"))),
        }
    }

    /// Integer-list attribute `name`, if given.
    pub fn attr_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Ints(v)) => Ok(Some(v.clone())),
            Some(Attr::Int(v)) => Ok(Some(vec![*v])),
            Some(other) => Err(self.err(format!("attribute `{name}` should be a list of ints, found {other:?}"))),
        }
    }

    /// Float-list attribute `name`, if given.
    pub fn attr_floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Floats(v)) => Ok(Some(v.clone())),
            Some(Attr::Float(v)) => Ok(Some(vec![*v])),
            Some(other) => Err(self.err(format!("attribute `{name}` should be a list of floats, found {other:?}"))),
        }
    }

    /// String attribute `name`, or `default`.
    pub fn attr_string(&self, name: &str, default: &str) -> Result<String> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(Attr::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(format!("attribute `{name}` should be a string, found {other:?}"))),
        }
    }

    /// Tensor attribute `name`, if given.
    pub fn attr_tensor(&self, name: &str) -> Result<Option<&Decoded>> {
        match self.attr(name) {
            None => Ok(None),
            Some(Attr::Tensor(t)) => Ok(Some(t)),
            Some(other) => Err(self.err(format!("attribute `{name}` should be a tensor, found {other:?}"))),
        }
    }

    /// Whether the node has attribute `name`.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    /// A string attribute that must be one of `allowed` (checked at load).
    pub fn attr_choice(&self, name: &str, default: &str, allowed: &[&str]) -> Result<String> {
        let v = self.attr_string(name, default)?;
        if !allowed.contains(&v.as_str()) {
            return Err(self
                .err(format!("attribute `{name}` = `{v}` is not implemented (implemented: {})", allowed.join(", "))));
        }
        Ok(v)
    }
}

/// A value's elements as host floats.
pub(crate) fn host_floats(v: &Value) -> std::result::Result<Vec<f32>, String> {
    match v {
        Value::Int { data, .. } => Ok(data.iter().map(|&x| x as f32).collect()),
        Value::Float { tensor, .. } => {
            tensor.clone().detach().into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))
        }
    }
}

/// A float value from a physical tensor with a new logical shape of the same element count.
pub(crate) fn reshaped(t: Phys, shape: Vec<usize>) -> Value {
    Value::Float { tensor: t.reshape(padded(&shape)), shape }
}

/// The physical axis of logical axis `axis` of a tensor of logical rank `rank`.
pub(crate) fn phys_axis(axis: usize, rank: usize) -> usize {
    MAX_RANK - rank + axis
}

/// The broadcast of two shapes (right-aligned; each axis equal or 1), or `None`.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y || y == 1 => Some(x),
            (1, y) => Some(y),
            _ => None,
        })
        .collect()
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// For each element of `out_shape` (row-major), the flat index of its source element given by
/// `source(multi_index)`.
pub(crate) fn index_map(out_shape: &[usize], mut source: impl FnMut(&[usize]) -> usize) -> Vec<i64> {
    let n: usize = out_shape.iter().product();
    let mut idx = vec![0usize; out_shape.len()];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(source(&idx) as i64);
        for a in (0..idx.len()).rev() {
            idx[a] += 1;
            if idx[a] < out_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    out
}

/// A layout op given as an index map: element `i` of the result (of `out_shape`) is element
/// `index[i]` of `v` (flat, row-major). Float values gather on the device (so gradients
/// scatter back), integer values on the host.
pub(crate) fn take(v: &Value, index: Vec<i64>, out_shape: Vec<usize>, device: &Device) -> Value {
    match v {
        Value::Int { data, .. } => {
            Value::Int { data: index.iter().map(|&i| data[i as usize]).collect(), shape: out_shape }
        }
        Value::Float { tensor, shape } => {
            let n: usize = shape.iter().product();
            let flat = tensor.clone().reshape(padded(&[n]));
            let m = index.len();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(index, [m]), device);
            reshaped(flat.select(MAX_RANK - 1, idx), out_shape)
        }
    }
}

/// `[1, …, 1]` of `rank` axes with `d` at `axis`: the shape per-channel parameters broadcast in.
pub(crate) fn along(rank: usize, axis: usize, d: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    s[axis] = d;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shape(&[2, 3, 4], &[4]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shape(&[2, 3], &[4]), None);
    }

    #[test]
    fn an_index_map_walks_the_output_in_row_major_order() {
        // The transpose of a 2×3 matrix: output (j, i) takes input (i, j).
        let s = strides(&[2, 3]);
        assert_eq!(index_map(&[3, 2], |i| i[1] * s[0] + i[0] * s[1]), vec![0, 3, 1, 4, 2, 5]);
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
