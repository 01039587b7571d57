//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Reshape.html>, `Flatten`, `Transpose`,
//! `Concat`, `Shape`, `Gather`, `Unsqueeze`, `Squeeze`, `Cast`
//!
//! Layout ops, opsets 1–22. Float tensors are reshaped or permuted on the autodiff device;
//! integer tensors (the `Shape → Gather → Unsqueeze → Concat → Reshape` chains that PyTorch
//! exports for `x.view(x.size(0), -1)`) are computed on the host.

use burn::tensor::{DType, Int, Tensor, TensorData};
use onnx_ir::node::reshape::{ReshapeConfig, ReshapeInput};
use onnx_ir::node::shape::ShapeConfig;
use onnx_ir::node::squeeze::{SqueezeConfig, SqueezeInput};
use onnx_ir::node::unsqueeze::UnsqueezeConfig;

use super::{Ctx, phys_axis, reshaped};
use crate::error::Result;
use crate::executor::value::{MAX_RANK, Value};

/// The same data under a new logical shape (same element count).
fn relabel(ctx: &Ctx, v: &Value, shape: Vec<usize>) -> Result<Value> {
    ctx.check_rank(&shape)?;
    if shape.iter().product::<usize>() != v.len() {
        return Err(ctx.err(format!("cannot view {:?} as {shape:?}", v.shape())));
    }
    Ok(match v {
        Value::Float { tensor, .. } => reshaped(tensor.clone(), shape),
        Value::Int { data, .. } => Value::Int { data: data.clone(), shape },
    })
}

/// `Flatten`: `[d0, …, dk]` → `[d0·…·d(axis−1), d(axis)·…·dk]`.
pub(crate) fn flatten(ctx: &Ctx, axis: usize, inputs: &[Option<Value>]) -> Result<Value> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape();
    if axis > s.len() {
        return Err(ctx.err(format!("axis {axis} outside rank {}", s.len())));
    }
    relabel(ctx, v, vec![s[..axis].iter().product(), s[axis..].iter().product()])
}

/// `Reshape` with ONNX's `0` (copy the input's axis) and `-1` (infer) entries.
pub(crate) fn reshape(ctx: &Ctx, cfg: &ReshapeConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let v = ctx.input(inputs, 0)?;
    let target = match &cfg.shape {
        ReshapeInput::Static(s) => s.clone(),
        ReshapeInput::Runtime(r) => ctx.ints(inputs, r.input_index)?.0,
    };
    let shape = resolve_shape(ctx, v.shape(), &target)?;
    relabel(ctx, v, shape)
}

fn resolve_shape(ctx: &Ctx, input: &[usize], target: &[i64]) -> Result<Vec<usize>> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 => out.push(*input.get(i).ok_or_else(|| ctx.err(format!("0 at axis {i} beyond input rank")))?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d > 0 => out.push(d as usize),
            d => return Err(ctx.err(format!("invalid target dimension {d} in {target:?}"))),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(ctx.err(format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    Ok(out)
}

/// `Transpose` by `perm` (logical axes).
pub(crate) fn transpose(ctx: &Ctx, perm: &[i64], inputs: &[Option<Value>]) -> Result<Value> {
    let (x, shape) = ctx.float(inputs, 0)?;
    let rank = shape.len();
    let mut sorted: Vec<i64> = perm.to_vec();
    sorted.sort_unstable();
    if sorted != (0..rank as i64).collect::<Vec<_>>() {
        return Err(ctx.err(format!("perm {perm:?} is not a permutation of rank {rank}")));
    }
    let mut phys: [isize; MAX_RANK] = std::array::from_fn(|i| i as isize);
    for (i, &p) in perm.iter().enumerate() {
        phys[phys_axis(i, rank)] = phys_axis(p as usize, rank) as isize;
    }
    let out = perm.iter().map(|&p| shape[p as usize]).collect();
    Ok(Value::Float { tensor: x.permute(phys), shape: out })
}

/// `Concat` along `axis`; all inputs share every other axis.
pub(crate) fn concat(ctx: &Ctx, axis: usize, inputs: &[Option<Value>]) -> Result<Value> {
    let values: Vec<&Value> = (0..inputs.len()).map(|i| ctx.input(inputs, i)).collect::<Result<_>>()?;
    let first = values.first().ok_or_else(|| ctx.err("no inputs"))?.shape().to_vec();
    if axis >= first.len() {
        return Err(ctx.err(format!("axis {axis} outside rank {}", first.len())));
    }
    let mut shape = first.clone();
    shape[axis] = 0;
    for v in &values {
        let s = v.shape();
        let same_elsewhere = s.len() == first.len() && (0..s.len()).all(|i| i == axis || s[i] == first[i]);
        if !same_elsewhere {
            return Err(ctx.err(format!("input of shape {s:?} does not concatenate with {first:?} on axis {axis}")));
        }
        shape[axis] += s[axis];
    }
    if values.iter().all(|v| matches!(v, Value::Int { .. })) {
        return concat_ints(ctx, &values, axis, shape);
    }
    let tensors = (0..values.len()).map(|i| ctx.float(inputs, i).map(|f| f.0)).collect::<Result<Vec<_>>>()?;
    Ok(Value::Float { tensor: Tensor::cat(tensors, phys_axis(axis, first.len())), shape })
}

fn concat_ints(ctx: &Ctx, values: &[&Value], axis: usize, shape: Vec<usize>) -> Result<Value> {
    if shape.len() != 1 || axis != 0 {
        return Err(ctx.err(format!("integer concatenation is limited to 1-D, found {shape:?}")));
    }
    let data = values.iter().flat_map(|v| match v {
        Value::Int { data, .. } => data.clone(),
        Value::Float { .. } => unreachable!("all inputs checked to be integers"),
    });
    Ok(Value::Int { data: data.collect(), shape })
}

/// `Shape`: the logical shape (axes `start..end`) as a 1-D integer tensor.
pub(crate) fn shape(ctx: &Ctx, cfg: &ShapeConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let s = ctx.input(inputs, 0)?.shape();
    let end = cfg.end.min(s.len());
    let data: Vec<i64> = s[cfg.start.min(end)..end].iter().map(|&d| d as i64).collect();
    Ok(Value::Int { shape: vec![data.len()], data })
}

/// `Gather` with scalar or 1-D indices: integer data on the host (axis 0 of a 1-D tensor),
/// float data with burn's `select`.
pub(crate) fn gather(ctx: &Ctx, axis: usize, inputs: &[Option<Value>]) -> Result<Value> {
    let data = ctx.input(inputs, 0)?;
    let (idx, idx_shape) = ctx.ints(inputs, 1)?;
    if idx_shape.len() > 1 {
        return Err(ctx.err(format!("indices of shape {idx_shape:?}; only scalar or 1-D indices are supported")));
    }
    let s = data.shape().to_vec();
    if axis >= s.len() {
        return Err(ctx.err(format!("axis {axis} outside rank {}", s.len())));
    }
    let idx: Vec<i64> = idx
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + s[axis] as i64 } else { i };
            if j < 0 || j >= s[axis] as i64 { Err(ctx.err(format!("index {i} outside 0..{}", s[axis]))) } else { Ok(j) }
        })
        .collect::<Result<_>>()?;
    let mut shape = s.clone();
    shape.splice(axis..=axis, idx_shape.iter().copied());
    match data {
        Value::Int { data, .. } if s.len() == 1 => {
            Ok(Value::Int { data: idx.iter().map(|&i| data[i as usize]).collect(), shape })
        }
        Value::Int { .. } => Err(ctx.err(format!("integer data of shape {s:?}; only 1-D is supported"))),
        Value::Float { tensor, .. } => {
            let n = idx.len();
            let indices = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), ctx.device);
            Ok(reshaped(tensor.clone().select(phys_axis(axis, s.len()), indices), shape))
        }
    }
}

/// `Unsqueeze`: inserts axes of size 1 (positions in the output).
pub(crate) fn unsqueeze(ctx: &Ctx, cfg: &UnsqueezeConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let v = ctx.input(inputs, 0)?;
    let axes = match cfg {
        UnsqueezeConfig::Static(a) => a.clone(),
        UnsqueezeConfig::Runtime(r) => ctx.ints(inputs, r.input_index)?.0,
    };
    let rank = v.shape().len() + axes.len();
    let mut axes: Vec<usize> = axes.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<_>>()?;
    axes.sort_unstable();
    let mut shape = v.shape().to_vec();
    for a in axes {
        shape.insert(a, 1);
    }
    relabel(ctx, v, shape)
}

/// `Squeeze`: removes the given axes of size 1, or every axis of size 1.
pub(crate) fn squeeze(ctx: &Ctx, cfg: &SqueezeConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let axes: Vec<usize> = match &cfg.axes {
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
        Some(SqueezeInput::Static(a)) => a.iter().map(|&a| ctx.axis(a, s.len())).collect::<Result<_>>()?,
        Some(SqueezeInput::Runtime(r)) => {
            ctx.ints(inputs, r.input_index)?.0.iter().map(|&a| ctx.axis(a, s.len())).collect::<Result<_>>()?
        }
    };
    if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
        return Err(ctx.err(format!("axis {a} of {s:?} has size {}, not 1", s[a])));
    }
    let shape = (0..s.len()).filter(|i| !axes.contains(i)).map(|i| s[i]).collect();
    relabel(ctx, v, shape)
}

/// `Cast` between float and integer element types (floats stay `f32` on the device).
pub(crate) fn cast(ctx: &Ctx, to: DType, inputs: &[Option<Value>]) -> Result<Value> {
    let v = ctx.input(inputs, 0)?;
    let to_float = matches!(to, DType::F32 | DType::F64 | DType::F16 | DType::BF16);
    match (v, to_float) {
        (Value::Float { .. }, true) | (Value::Int { .. }, false) => Ok(v.clone()),
        (Value::Int { .. }, true) => {
            let (tensor, shape) = ctx.float(inputs, 0)?;
            Ok(Value::Float { tensor, shape })
        }
        (Value::Float { tensor, shape }, false) => {
            let data = tensor.clone().into_data().try_to_vec::<f32>().map_err(|e| ctx.err(format!("{e:?}")))?;
            Ok(Value::Int { data: data.iter().map(|&x| x as i64).collect(), shape: shape.clone() })
        }
    }
}
