//! Layout, shape and constant ops (<https://onnx.ai/onnx/operators/>): `Reshape` (shape as an
//! attribute before opset 5, `allowzero` from 14), `Flatten`, `Transpose`, `Squeeze` and
//! `Unsqueeze` (axes as attributes before opset 13, as inputs from 13), `Concat`, `Split`
//! (`split` attribute before 13, input from 13, `num_outputs` from 18), `Slice` (attributes
//! before 10, inputs with `axes` and `steps` from 10), `Gather`, `GatherElements`, `GatherND`
//! (`batch_dims` from 12), `ScatterND` (reduction `none` only), `Expand`,
//! `Tile`, `Pad` (pads as attributes before 11, inputs from 11, `axes` from 18; modes constant,
//! reflect, edge and, from 19, wrap), `Shape` (`start`/`end` from 15), `Size`,
//! `ConstantOfShape`, `Range`, `Cast`, `CastLike`, `Constant`.
//!
//! Float tensors are rearranged on the device (gather by an index map computed on the host,
//! so the gradient scatters back); integer tensors on the host.

use burn::tensor::Tensor;

use super::{Ctx, MAX_RANK, OpDef, Value, host_floats, index_map, no_check, padded, reshaped, strides, take};
use crate::error::Result;
use crate::executor::proto::{HostData, dtype};

pub(crate) const OPS: &[OpDef] = &[
    OpDef { op: "Reshape", since: 1, attrs: &["shape", "allowzero"], check: no_check, eval: reshape },
    OpDef { op: "Flatten", since: 1, attrs: &["axis"], check: no_check, eval: flatten },
    OpDef { op: "Transpose", since: 1, attrs: &["perm"], check: no_check, eval: transpose },
    OpDef { op: "Squeeze", since: 1, attrs: &["axes"], check: no_check, eval: squeeze },
    OpDef { op: "Unsqueeze", since: 1, attrs: &["axes"], check: no_check, eval: unsqueeze },
    OpDef { op: "Concat", since: 1, attrs: &["axis"], check: no_check, eval: concat },
    OpDef { op: "Split", since: 2, attrs: &["axis", "split", "num_outputs"], check: no_check, eval: split },
    OpDef { op: "Slice", since: 1, attrs: &["starts", "ends", "axes"], check: no_check, eval: slice },
    OpDef { op: "Gather", since: 1, attrs: &["axis"], check: no_check, eval: gather },
    OpDef { op: "GatherElements", since: 11, attrs: &["axis"], check: no_check, eval: gather_elements },
    OpDef { op: "GatherND", since: 11, attrs: &["batch_dims"], check: no_check, eval: gather_nd },
    OpDef { op: "ScatterND", since: 11, attrs: &["reduction"], check: check_scatter_nd, eval: scatter_nd },
    OpDef { op: "Expand", since: 8, attrs: &[], check: no_check, eval: expand },
    OpDef { op: "Tile", since: 6, attrs: &[], check: no_check, eval: tile },
    OpDef { op: "Pad", since: 1, attrs: &["mode", "pads", "paddings", "value"], check: check_pad, eval: pad },
    OpDef { op: "Shape", since: 1, attrs: &["start", "end"], check: no_check, eval: shape },
    OpDef { op: "Size", since: 1, attrs: &[], check: no_check, eval: size },
    OpDef { op: "ConstantOfShape", since: 9, attrs: &["value"], check: no_check, eval: constant_of_shape },
    OpDef { op: "Range", since: 11, attrs: &[], check: no_check, eval: range },
    OpDef { op: "Cast", since: 1, attrs: &["to", "saturate", "round_mode"], check: check_cast, eval: cast },
    OpDef { op: "CastLike", since: 15, attrs: &["saturate", "round_mode"], check: no_check, eval: cast_like },
    OpDef {
        op: "Constant",
        since: 1,
        attrs: &["value", "value_float", "value_floats", "value_int", "value_ints"],
        check: no_check,
        eval: constant,
    },
];

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

/// `Reshape` with ONNX's `0` (copy the input's axis, unless `allowzero`) and `-1` (infer).
fn reshape(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let target = if ctx.opset < 5 {
        ctx.attr_ints("shape")?.ok_or_else(|| ctx.err("no `shape` attribute"))?
    } else {
        ctx.ints(inputs, 1)?.0
    };
    let allow_zero = ctx.attr_int("allowzero", 0)? == 1;
    let input = v.shape();
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            0 if !allow_zero => {
                out.push(*input.get(i).ok_or_else(|| ctx.err(format!("0 at axis {i} beyond the input's rank")))?)
            }
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            d if d >= 0 => out.push(d as usize),
            d => return Err(ctx.err(format!("invalid target dimension {d} in {target:?}"))),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(ctx.err(format!("cannot reshape {input:?} to {target:?}")));
        }
        out[i] = total / known;
    }
    Ok(vec![relabel(ctx, v, out)?])
}

/// `Flatten`: `[d0, …, dk]` → `[d0·…·d(axis−1), d(axis)·…·dk]`.
fn flatten(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape();
    let axis = ctx.attr_int("axis", 1)?;
    let axis = if axis < 0 { axis + s.len() as i64 } else { axis };
    if axis < 0 || axis as usize > s.len() {
        return Err(ctx.err(format!("axis {axis} outside 0..={}", s.len())));
    }
    let axis = axis as usize;
    Ok(vec![relabel(ctx, v, vec![s[..axis].iter().product(), s[axis..].iter().product()])?])
}

/// `Transpose` by `perm` (default: the axes reversed).
fn transpose(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let rank = s.len();
    let perm: Vec<usize> = match ctx.attr_ints("perm")? {
        Some(p) => p.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<_>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(ctx.err(format!("perm {perm:?} is not a permutation of {rank} axes")));
    }
    let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    Ok(vec![match v {
        Value::Float { tensor, .. } => {
            let offset = super::MAX_RANK - rank;
            let mut phys: [isize; super::MAX_RANK] = std::array::from_fn(|i| i as isize);
            for (i, &p) in perm.iter().enumerate() {
                phys[offset + i] = (offset + p) as isize;
            }
            reshaped(tensor.clone().permute(phys), out)
        }
        Value::Int { .. } => {
            let st = strides(&s);
            take(v, index_map(&out, |i| i.iter().zip(&perm).map(|(&x, &p)| x * st[p]).sum()), out.clone(), ctx.device)
        }
    }])
}

/// Axes from the `axes` attribute (before opset 13) or the optional input 1 (from 13).
fn axes_arg(ctx: &Ctx, inputs: &[Option<Value>], input: usize, since: i64) -> Result<Option<Vec<i64>>> {
    if ctx.opset < since {
        ctx.attr_ints("axes")
    } else if ctx.optional(inputs, input).is_some() {
        Ok(Some(ctx.ints(inputs, input)?.0))
    } else {
        Ok(None)
    }
}

/// `Squeeze`: removes the given axes of size 1, or every axis of size 1.
fn squeeze(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let axes: Vec<usize> = match axes_arg(ctx, inputs, 1, 13)? {
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
        Some(a) => a.iter().map(|&a| ctx.axis(a, s.len())).collect::<Result<_>>()?,
    };
    if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
        return Err(ctx.err(format!("axis {a} of {s:?} has size {}, not 1", s[a])));
    }
    let shape = (0..s.len()).filter(|i| !axes.contains(i)).map(|i| s[i]).collect();
    Ok(vec![relabel(ctx, v, shape)?])
}

/// `Unsqueeze`: inserts axes of size 1 (positions in the output).
fn unsqueeze(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let axes = axes_arg(ctx, inputs, 1, 13)?.ok_or_else(|| ctx.err("no axes"))?;
    let rank = v.shape().len() + axes.len();
    let mut axes: Vec<usize> = axes.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<_>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(ctx.err(format!("repeated axes {axes:?}")));
    }
    let mut shape = v.shape().to_vec();
    for a in axes {
        shape.insert(a, 1);
    }
    Ok(vec![relabel(ctx, v, shape)?])
}

/// `Concat` along `axis`.
fn concat(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let values: Vec<&Value> = inputs.iter().flatten().collect();
    let first = values.first().ok_or_else(|| ctx.err("no inputs"))?;
    let rank = first.shape().len();
    let axis = ctx.axis(ctx.attr_int("axis", 1)?, rank)?;
    let mut shape = first.shape().to_vec();
    shape[axis] = 0;
    for v in &values {
        let s = v.shape();
        if s.len() != rank || (0..rank).any(|a| a != axis && s[a] != first.shape()[a]) {
            return Err(ctx.err(format!(
                "input shapes {:?} differ off axis {axis}",
                values.iter().map(|v| v.shape()).collect::<Vec<_>>()
            )));
        }
        shape[axis] += s[axis];
    }
    if values.iter().all(|v| matches!(v, Value::Int { .. })) {
        let outer: usize = shape[..axis].iter().product();
        let mut data = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for v in &values {
                let Value::Int { data: d, shape: s } = v else { unreachable!("all integers") };
                let block: usize = s[axis..].iter().product();
                data.extend_from_slice(&d[o * block..(o + 1) * block]);
            }
        }
        return Ok(vec![Value::Int { data, shape }]);
    }
    let tensors: Vec<super::Phys> = values.iter().filter(|v| v.len() > 0).map(|v| ctx.to_float(v).0).collect();
    if tensors.is_empty() {
        return Ok(vec![Value::float_from_host(vec![], shape, ctx.device)]);
    }
    Ok(vec![reshaped(Tensor::cat(tensors, super::phys_axis(axis, rank)), shape)])
}

/// `Split` into the outputs: sizes from the `split` attribute (before opset 13) or input
/// (from 13), else `num_outputs` (18) or the number of outputs — equal parts, the last smaller
/// when the axis does not divide (`ceil(d / n)` each).
fn split(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, s.len())?;
    let given = if ctx.opset < 13 {
        ctx.attr_ints("split")?
    } else if ctx.optional(inputs, 1).is_some() {
        Some(ctx.ints(inputs, 1)?.0)
    } else {
        None
    };
    let parts: Vec<usize> = match given {
        Some(sizes) => sizes
            .iter()
            .map(|&x| usize::try_from(x).map_err(|_| ctx.err("negative split size")))
            .collect::<Result<_>>()?,
        None => {
            let n = match ctx.attr_int("num_outputs", 0)? {
                0 => ctx.node.outputs.len(),
                n => n as usize,
            };
            let each = s[axis].div_ceil(n.max(1));
            (0..n).map(|i| each.min(s[axis].saturating_sub(i * each))).collect()
        }
    };
    if parts.iter().sum::<usize>() != s[axis] {
        return Err(ctx.err(format!("split sizes {parts:?} do not add up to axis {axis} of {s:?}")));
    }
    let mut start = 0;
    parts
        .iter()
        .map(|&len| {
            let r = narrow(ctx, v, axis, start, len);
            start += len;
            r
        })
        .collect()
}

/// `len` entries of axis `axis` from `start`.
fn narrow(ctx: &Ctx, v: &Value, axis: usize, start: usize, len: usize) -> Result<Value> {
    let s = v.shape().to_vec();
    let mut out = s.clone();
    out[axis] = len;
    Ok(match v {
        Value::Float { tensor, .. } => {
            reshaped(tensor.clone().narrow(super::phys_axis(axis, s.len()), start, len), out)
        }
        Value::Int { .. } => {
            let st = strides(&s);
            let idx = index_map(&out, |i| {
                i.iter().enumerate().map(|(a, &x)| (if a == axis { x + start } else { x }) * st[a]).sum()
            });
            take(v, idx, out, ctx.device)
        }
    })
}

/// The positions `Slice` takes on one axis of length `dim`, clamped as the spec says.
pub(crate) fn slice_positions(start: i64, end: i64, step: i64, dim: usize) -> Vec<usize> {
    let d = dim as i64;
    let norm = |x: i64| if x < 0 { x + d } else { x };
    let (s, e) = (norm(start), norm(end));
    let mut out = vec![];
    if step > 0 {
        let (mut i, e) = (s.clamp(0, d), e.clamp(0, d));
        while i < e {
            out.push(i as usize);
            i += step;
        }
    } else {
        let (mut i, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        while i > e {
            out.push(i as usize);
            i += step;
        }
    }
    out
}

/// `Slice`: starts, ends (and from opset 10 axes and steps) per axis.
fn slice(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let (starts, ends, axes, steps) = if ctx.opset < 10 {
        let starts = ctx.attr_ints("starts")?.ok_or_else(|| ctx.err("no `starts`"))?;
        let ends = ctx.attr_ints("ends")?.ok_or_else(|| ctx.err("no `ends`"))?;
        (starts, ends, ctx.attr_ints("axes")?, None)
    } else {
        let opt = |i: usize| -> Result<Option<Vec<i64>>> {
            Ok(if ctx.optional(inputs, i).is_some() { Some(ctx.ints(inputs, i)?.0) } else { None })
        };
        (ctx.ints(inputs, 1)?.0, ctx.ints(inputs, 2)?.0, opt(3)?, opt(4)?)
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(
            ctx.err(format!("starts {starts:?}, ends {ends:?}, axes {axes:?}, steps {steps:?} differ in length"))
        );
    }
    let mut positions: Vec<Vec<usize>> = s.iter().map(|&d| (0..d).collect()).collect();
    for k in 0..starts.len() {
        let a = ctx.axis(axes[k], s.len())?;
        if steps[k] == 0 {
            return Err(ctx.err("step 0"));
        }
        positions[a] = slice_positions(starts[k], ends[k], steps[k], s[a]);
    }
    let out: Vec<usize> = positions.iter().map(Vec::len).collect();
    let st = strides(&s);
    let idx = index_map(&out, |i| i.iter().enumerate().map(|(a, &x)| positions[a][x] * st[a]).sum());
    Ok(vec![take(v, idx, out, ctx.device)])
}

/// Index values resolved against an axis of length `dim` (negative ones count from the end).
fn resolve_indices(ctx: &Ctx, idx: &[i64], dim: usize) -> Result<Vec<usize>> {
    idx.iter()
        .map(|&i| {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 { Err(ctx.err(format!("index {i} outside 0..{dim}"))) } else { Ok(j as usize) }
        })
        .collect()
}

/// `Gather`: `out[..., j…, ...] = data[..., idx[j…], ...]` along `axis`.
fn gather(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let data = ctx.input(inputs, 0)?;
    let (idx, idx_shape) = ctx.ints(inputs, 1)?;
    let s = data.shape().to_vec();
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, s.len())?;
    let idx = resolve_indices(ctx, &idx, s[axis])?;
    let mut out = s[..axis].to_vec();
    out.extend(&idx_shape);
    out.extend(&s[axis + 1..]);
    ctx.check_rank(&out)?;
    let st = strides(&s);
    let k = idx_shape.len();
    let map = index_map(&out, |i| {
        let flat_idx = i[axis..axis + k].iter().zip(strides(&idx_shape)).map(|(&x, st)| x * st).sum::<usize>();
        let pre: usize = i[..axis].iter().zip(&st).map(|(&x, &st)| x * st).sum();
        let post: usize = i[axis + k..].iter().zip(&st[axis + 1..]).map(|(&x, &st)| x * st).sum();
        pre + idx[flat_idx] * st[axis] + post
    });
    Ok(vec![take(data, map, out, ctx.device)])
}

/// `GatherElements`: `out[i] = data[i with axis replaced by idx[i]]`.
fn gather_elements(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let data = ctx.input(inputs, 0)?;
    let (idx, idx_shape) = ctx.ints(inputs, 1)?;
    let s = data.shape().to_vec();
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, s.len())?;
    if idx_shape.len() != s.len() {
        return Err(ctx.err(format!("indices {idx_shape:?} and data {s:?} differ in rank")));
    }
    let idx = resolve_indices(ctx, &idx, s[axis])?;
    let st = strides(&s);
    let mut k = 0;
    let map = index_map(&idx_shape, |i| {
        let v = i.iter().enumerate().map(|(a, &x)| (if a == axis { idx[k] } else { x }) * st[a]).sum();
        k += 1;
        v
    });
    Ok(vec![take(data, map, idx_shape, ctx.device)])
}

/// The index tuples of a `GatherND`/`ScatterND` `indices` input of shape `[..., k]` into the
/// axes `b .. b + k` of data of shape `data`: one flat offset per tuple (negative indices count
/// from the end), each checked against its axis.
fn nd_offsets(ctx: &Ctx, idx: &[i64], idx_shape: &[usize], data: &[usize], b: usize) -> Result<Vec<usize>> {
    let k = *idx_shape.last().ok_or_else(|| ctx.err("indices of rank 0"))?;
    if k == 0 || b + k > data.len() {
        return Err(ctx.err(format!("index tuples of length {k} with batch_dims {b} into data {data:?}")));
    }
    let st = strides(data);
    idx.chunks_exact(k)
        .map(|tuple| {
            let mut off = 0;
            for (j, &i) in tuple.iter().enumerate() {
                off += resolve_indices(ctx, &[i], data[b + j])?[0] * st[b + j];
            }
            Ok(off)
        })
        .collect()
}

/// `GatherND` (opset 11; `batch_dims` from 12): with `indices` of shape `[B…, I…, k]` (the `b`
/// batch axes equal to data's first `b`), `out[B…, I…, T…] = data[B…, indices[B…, I…], T…]`;
/// output shape `data[..b] ++ indices[b..q-1] ++ data[b+k..]`.
fn gather_nd(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let data = ctx.input(inputs, 0)?;
    let (idx, idx_shape) = ctx.ints(inputs, 1)?;
    let s = data.shape().to_vec();
    let b = ctx.attr_int("batch_dims", 0)?;
    let q = idx_shape.len();
    if b < 0 || b as usize >= q.min(s.len()) || idx_shape[..b as usize] != s[..b as usize] {
        return Err(ctx.err(format!("batch_dims {b} does not fit indices {idx_shape:?} and data {s:?}")));
    }
    let b = b as usize;
    let offsets = nd_offsets(ctx, &idx, &idx_shape, &s, b)?;
    let k = idx_shape[q - 1];
    let mut out = idx_shape[..q - 1].to_vec();
    out.extend(&s[b + k..]);
    ctx.check_rank(&out)?;
    let st = strides(&s);
    // Tuples per batch position (the product of the index axes between the batch axes and k).
    let per_batch: usize = idx_shape[b..q - 1].iter().product();
    let batch_stride = if b == 0 { 0 } else { st[b - 1] };
    let map = index_map(&out, |i| {
        let lead = &i[..q - 1];
        let tuple = lead.iter().zip(strides(&idx_shape[..q - 1])).map(|(&x, st)| x * st).sum::<usize>();
        let t: usize = i[q - 1..].iter().zip(strides(&s[b + k..])).map(|(&x, st)| x * st).sum();
        (tuple / per_batch.max(1)) * batch_stride + offsets[tuple] + t
    });
    Ok(vec![take(data, map, out, ctx.device)])
}

/// Only `reduction = none` (the default) is implemented: a scatter that adds or multiplies into
/// the data would need its own gradient.
fn check_scatter_nd(ctx: &Ctx) -> Result<()> {
    ctx.attr_choice("reduction", "none", &["none"]).map(drop)
}

/// `ScatterND` (opset 11, `reduction = none`): a copy of `data` with the slices
/// `data[indices[I…]]` replaced by `updates[I…]`; `updates` has shape `indices[..q-1] ++
/// data[k..]`. Where an index repeats, the last update wins (as the reference evaluator's loop
/// does; the spec leaves the order open). Gradients flow to `data` (positions not overwritten)
/// and to `updates`.
fn scatter_nd(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let data = ctx.input(inputs, 0)?;
    let (idx, idx_shape) = ctx.ints(inputs, 1)?;
    let updates = ctx.input(inputs, 2)?;
    let s = data.shape().to_vec();
    let offsets = nd_offsets(ctx, &idx, &idx_shape, &s, 0)?;
    let k = idx_shape[idx_shape.len() - 1];
    let mut want = idx_shape[..idx_shape.len() - 1].to_vec();
    want.extend(&s[k..]);
    if updates.shape() != want.as_slice() {
        return Err(ctx.err(format!("updates {:?}, expected {want:?} for indices {idx_shape:?}", updates.shape())));
    }
    let n = data.len();
    let tail: usize = s[k..].iter().product();
    let mut source: Vec<i64> = (0..n as i64).collect();
    for (u, &off) in offsets.iter().enumerate() {
        for t in 0..tail {
            source[off + t] = (n + u * tail + t) as i64;
        }
    }
    let both = match (data, updates) {
        (Value::Int { data: d, .. }, Value::Int { data: u, .. }) => {
            Value::Int { data: d.iter().chain(u).copied().collect(), shape: vec![n + u.len()] }
        }
        _ => {
            let flat = |v: &Value| ctx.to_float(v).0.reshape(padded(&[v.len()]));
            reshaped(Tensor::cat(vec![flat(data), flat(updates)], MAX_RANK - 1), vec![n + updates.len()])
        }
    };
    Ok(vec![take(&both, source, s, ctx.device)])
}

/// Broadcasts `v` to `out` (which `v`'s shape broadcasts to).
fn broadcast_to(ctx: &Ctx, v: &Value, out: Vec<usize>) -> Result<Value> {
    let s = v.shape().to_vec();
    Ok(match v {
        Value::Float { tensor, .. } => Value::Float { tensor: tensor.clone().expand(padded(&out)), shape: out },
        Value::Int { .. } => {
            let st = strides(&s);
            let offset = out.len() - s.len();
            let idx = index_map(&out, |i| {
                i[offset..].iter().zip(&s).zip(&st).map(|((&x, &d), &st)| if d == 1 { 0 } else { x * st }).sum()
            });
            let _ = ctx;
            take(v, idx, out, ctx.device)
        }
    })
}

/// `Expand`: broadcasts the input and the given shape against each other.
fn expand(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let (target, _) = ctx.ints(inputs, 1)?;
    let target: Vec<usize> = target.iter().map(|&d| d.max(0) as usize).collect();
    let out = super::broadcast_shape(v.shape(), &target)
        .ok_or_else(|| ctx.err(format!("{:?} does not broadcast with {target:?}", v.shape())))?;
    ctx.check_rank(&out)?;
    Ok(vec![broadcast_to(ctx, v, out)?])
}

/// `Tile`: the input repeated `repeats[a]` times along each axis.
fn tile(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let (reps, _) = ctx.ints(inputs, 1)?;
    let s = v.shape().to_vec();
    if reps.len() != s.len() || reps.iter().any(|&r| r < 0) {
        return Err(ctx.err(format!("repeats {reps:?} for an input of rank {}", s.len())));
    }
    let out: Vec<usize> = s.iter().zip(&reps).map(|(&d, &r)| d * r as usize).collect();
    let st = strides(&s);
    let idx = index_map(&out, |i| i.iter().enumerate().map(|(a, &x)| (x % s[a].max(1)) * st[a]).sum());
    Ok(vec![take(v, idx, out, ctx.device)])
}

fn check_pad(ctx: &Ctx) -> Result<()> {
    let allowed: &[&str] =
        if ctx.opset >= 19 { &["constant", "reflect", "edge", "wrap"] } else { &["constant", "reflect", "edge"] };
    ctx.attr_choice("mode", "constant", allowed).map(drop)
}

/// The source position of output position `o` (in the padded axis) for `mode`, or `None`
/// for the constant; `begin` is the padding before (negative: cropped).
fn pad_source(o: i64, begin: i64, dim: i64, mode: &str) -> Option<i64> {
    let i = o - begin;
    if (0..dim).contains(&i) {
        return Some(i);
    }
    match mode {
        "edge" => Some(i.clamp(0, dim - 1)),
        "wrap" => Some(i.rem_euclid(dim)),
        "reflect" if dim == 1 => Some(0),
        "reflect" => {
            // Mirror without repeating the edge, period 2(dim − 1), as numpy.pad's `reflect`.
            let period = 2 * (dim - 1);
            let m = i.rem_euclid(period);
            Some(if m < dim { m } else { period - m })
        }
        _ => None,
    }
}

/// `Pad`: pads `[b1, b2, …, e1, e2, …]` (before, then after; negative values crop) per axis
/// (or per axis of `axes`, opset 18), with a constant, the reflection, the edge value or (19)
/// the wrapped input.
fn pad(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let rank = s.len();
    let mode = ctx.attr_string("mode", "constant")?;
    let (pads, value, axes) = if ctx.opset < 11 {
        let pads = ctx.attr_ints("pads")?.or(ctx.attr_ints("paddings")?).ok_or_else(|| ctx.err("no `pads`"))?;
        (pads, ctx.attr_float("value", 0.0)?, None)
    } else {
        let value = match ctx.optional(inputs, 2) {
            Some(c) if c.len() > 0 => ctx.host_floats(inputs, 2)?[0],
            _ => 0.0,
        };
        let axes =
            if ctx.opset >= 18 && ctx.optional(inputs, 3).is_some() { Some(ctx.ints(inputs, 3)?.0) } else { None };
        (ctx.ints(inputs, 1)?.0, value, axes)
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&x| ctx.axis(x, rank)).collect::<Result<_>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(ctx.err(format!("{} pads for {} axes", pads.len(), axes.len())));
    }
    let mut begin = vec![0i64; rank];
    let mut end = vec![0i64; rank];
    for (k, &a) in axes.iter().enumerate() {
        begin[a] = pads[k];
        end[a] = pads[k + axes.len()];
    }
    let out: Vec<usize> = (0..rank)
        .map(|a| {
            usize::try_from(s[a] as i64 + begin[a] + end[a])
                .map_err(|_| ctx.err(format!("pads {pads:?} crop axis {a} below 0")))
        })
        .collect::<Result<_>>()?;
    if mode != "constant" && (0..rank).any(|a| s[a] == 0 && out[a] > 0) {
        return Err(ctx.err(format!("mode {mode} cannot pad an empty axis")));
    }
    let sources: Vec<Vec<Option<i64>>> =
        (0..rank).map(|a| (0..out[a] as i64).map(|o| pad_source(o, begin[a], s[a] as i64, &mode)).collect()).collect();
    let st = strides(&s);
    let inside = |i: &[usize]| i.iter().enumerate().all(|(a, &x)| sources[a][x].is_some());
    let idx = index_map(&out, |i| {
        if inside(i) {
            i.iter().enumerate().map(|(a, &x)| sources[a][x].expect("inside") as usize * st[a]).sum()
        } else {
            0
        }
    });
    let mask: Vec<bool> = {
        let mut m = Vec::with_capacity(idx.len());
        let _ = index_map(&out, |i| {
            m.push(inside(i));
            0
        });
        m
    };
    if v.len() == 0 {
        let data = vec![value; out.iter().product()];
        return Ok(vec![match v {
            Value::Int { .. } => Value::Int { data: data.iter().map(|&x| x as i64).collect(), shape: out },
            Value::Float { .. } => Value::float_from_host(data, out, ctx.device),
        }]);
    }
    let gathered = take(v, idx, out.clone(), ctx.device);
    if mask.iter().all(|&m| m) {
        return Ok(vec![gathered]);
    }
    Ok(vec![match gathered {
        Value::Int { data, shape } => Value::Int {
            data: data.iter().zip(&mask).map(|(&d, &m)| if m { d } else { value as i64 }).collect(),
            shape,
        },
        Value::Float { tensor, shape } => {
            let outside: Vec<f32> = mask.iter().map(|&m| if m { 0.0 } else { 1.0 }).collect();
            let outside = Tensor::<{ super::MAX_RANK }>::from_data(
                burn::tensor::TensorData::new(outside, padded(&shape)),
                ctx.device,
            )
            .equal_elem(1.0);
            Value::Float { tensor: tensor.mask_fill(outside, value), shape }
        }
    }])
}

/// `Shape`: the input's shape, axes `start..end` (opset 15; negative counts from the end,
/// both clamped).
fn shape(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let s = ctx.input(inputs, 0)?.shape();
    let r = s.len() as i64;
    let clamp = |x: i64| (if x < 0 { x + r } else { x }).clamp(0, r) as usize;
    let (start, end) = (clamp(ctx.attr_int("start", 0)?), clamp(ctx.attr_int("end", r)?));
    let data: Vec<i64> = s[start.min(end)..end].iter().map(|&d| d as i64).collect();
    Ok(vec![Value::Int { shape: vec![data.len()], data }])
}

fn size(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    Ok(vec![Value::Int { data: vec![ctx.input(inputs, 0)?.len() as i64], shape: vec![] }])
}

/// `ConstantOfShape`: a tensor of the given shape filled with `value` (default float 0).
fn constant_of_shape(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (shape, _) = ctx.ints(inputs, 0)?;
    let shape: Vec<usize> = shape
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| ctx.err(format!("negative dimension {d}"))))
        .collect::<Result<_>>()?;
    ctx.check_rank(&shape)?;
    let n: usize = shape.iter().product();
    Ok(vec![match ctx.attr_tensor("value")?.map(|t| &t.data) {
        None => Value::float_from_host(vec![0.0; n], shape, ctx.device),
        Some(HostData::Float { data, .. }) => {
            Value::float_from_host(vec![*data.first().unwrap_or(&0.0); n], shape, ctx.device)
        }
        Some(HostData::Int(data)) => Value::Int { data: vec![*data.first().unwrap_or(&0); n], shape },
    }])
}

/// `Range`: `start, start + delta, …` below `limit` (above it for a negative delta):
/// `max(ceil((limit − start) / delta), 0)` values.
fn range(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let all_int = (0..3).all(|i| matches!(ctx.optional(inputs, i), Some(Value::Int { .. })));
    if all_int {
        let get = |i| ctx.ints(inputs, i).map(|(d, _)| d.first().copied().unwrap_or(0));
        let (s, l, d) = (get(0)?, get(1)?, get(2)?);
        if d == 0 {
            return Err(ctx.err("delta 0"));
        }
        let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
        return Ok(vec![Value::Int { data: (0..n as i64).map(|k| s + k * d).collect(), shape: vec![n] }]);
    }
    let get = |i| ctx.host_floats(inputs, i).map(|d| d.first().copied().unwrap_or(0.0));
    let (s, l, d) = (get(0)?, get(1)?, get(2)?);
    if d == 0.0 {
        return Err(ctx.err("delta 0"));
    }
    let n = ((l - s) / d).ceil().max(0.0) as usize;
    let data: Vec<f32> = (0..n).map(|k| s + k as f32 * d).collect();
    Ok(vec![Value::float_from_host(data, vec![n], ctx.device)])
}

fn check_cast(ctx: &Ctx) -> Result<()> {
    let to = ctx.attr_int("to", 0)? as i32;
    if !dtype::is_float(to) && !dtype::is_int(to) {
        return Err(ctx.err(format!("cast to {} is not implemented", dtype::name(to))));
    }
    Ok(())
}

/// `Cast` to `to`: floats stay f32 on the device, rounded to the precision of a 16-bit target
/// (the gradient passes straight through the rounding); float → integer truncates toward zero
/// (saturating), → bool is `x ≠ 0`; integer → float converts.
fn cast(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let to = ctx.attr_int("to", 0)? as i32;
    Ok(vec![cast_to(ctx, ctx.input(inputs, 0)?, to)?])
}

fn cast_to(ctx: &Ctx, v: &Value, to: i32) -> Result<Value> {
    if dtype::is_float(to) {
        let (tensor, shape) = ctx.to_float(v);
        let tensor = match to {
            dtype::FLOAT16 | dtype::BFLOAT16 => {
                let host = host_floats(&Value::Float { tensor: tensor.clone(), shape: shape.clone() })
                    .map_err(|e| ctx.err(e))?;
                let rounded: Vec<f32> = if to == dtype::FLOAT16 {
                    host.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()
                } else {
                    host.iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect()
                };
                let r = Tensor::from_data(burn::tensor::TensorData::new(rounded, padded(&shape)), ctx.device);
                // Forward: the rounded values; backward: the identity (straight-through).
                tensor.clone() + (r - tensor.detach())
            }
            _ => tensor,
        };
        return Ok(Value::Float { tensor, shape });
    }
    let data: Vec<i64> = match v {
        Value::Int { data, .. } => data.clone(),
        v => host_floats(v)
            .map_err(|e| ctx.err(e))?
            .iter()
            .map(|&x| if to == dtype::BOOL { (x != 0.0) as i64 } else { x as i64 })
            .collect(),
    };
    let wrap = |x: i64| -> i64 {
        match to {
            dtype::BOOL => (x != 0) as i64,
            dtype::UINT8 => x as u8 as i64,
            dtype::INT8 => x as i8 as i64,
            dtype::UINT16 => x as u16 as i64,
            dtype::INT16 => x as i16 as i64,
            dtype::INT32 => x as i32 as i64,
            dtype::UINT32 => x as u32 as i64,
            _ => x,
        }
    };
    Ok(Value::Int { data: data.into_iter().map(wrap).collect(), shape: v.shape().to_vec() })
}

/// `CastLike`: a cast to the element type of the second input (float or integer).
fn cast_like(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let to = match ctx.input(inputs, 1)? {
        Value::Float { .. } => dtype::FLOAT,
        Value::Int { .. } => dtype::INT64,
    };
    Ok(vec![cast_to(ctx, ctx.input(inputs, 0)?, to)?])
}

/// `Constant`: the value of its one attribute.
fn constant(ctx: &Ctx, _inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    if let Some(t) = ctx.attr_tensor("value")? {
        return Ok(vec![match &t.data {
            HostData::Float { data, .. } => Value::float_from_host(data.clone(), t.shape.clone(), ctx.device),
            HostData::Int(data) => Value::Int { data: data.clone(), shape: t.shape.clone() },
        }]);
    }
    if ctx.has_attr("value_float") {
        return Ok(vec![Value::float_from_host(vec![ctx.attr_float("value_float", 0.0)?], vec![], ctx.device)]);
    }
    if let Some(v) = ctx.attr_floats("value_floats")? {
        let n = v.len();
        return Ok(vec![Value::float_from_host(v, vec![n], ctx.device)]);
    }
    if ctx.has_attr("value_int") {
        return Ok(vec![Value::Int { data: vec![ctx.attr_int("value_int", 0)?], shape: vec![] }]);
    }
    if let Some(v) = ctx.attr_ints("value_ints")? {
        let n = v.len();
        return Ok(vec![Value::Int { data: v, shape: vec![n] }]);
    }
    Err(ctx.err("no value attribute"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_positions_clamp_as_the_spec_says() {
        assert_eq!(slice_positions(1, i64::MAX, 1, 4), vec![1, 2, 3]);
        assert_eq!(slice_positions(-1, i64::MIN, -1, 4), vec![3, 2, 1, 0]);
        assert_eq!(slice_positions(0, 4, 2, 5), vec![0, 2]);
        assert_eq!(slice_positions(10, 0, -2, 5), vec![4, 2]);
    }

    #[test]
    fn reflect_padding_repeats_the_mirror_as_numpy_does() {
        // numpy.pad([a, b], 2, 'reflect') = [a, b, a, b, a, b].
        let src: Vec<i64> = (0..6).map(|o| pad_source(o, 2, 2, "reflect").unwrap()).collect();
        assert_eq!(src, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(pad_source(0, 1, 3, "edge"), Some(0));
        assert_eq!(pad_source(4, 1, 3, "wrap"), Some(0));
        assert_eq!(pad_source(0, 1, 3, "constant"), None);
    }
}
