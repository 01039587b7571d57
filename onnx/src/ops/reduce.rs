//! Reductions and normalisations over an axis (<https://onnx.ai/onnx/operators/>):
//!
//! - `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`, `ReduceProd`, `ReduceL1`, `ReduceL2`,
//!   `ReduceSumSquare`, `ReduceLogSum`, `ReduceLogSumExp`: `axes` as an attribute (`ReduceSum`
//!   before opset 13, the others before 18) or an optional input; `keepdims`; no axes reduces
//!   every axis unless `noop_with_empty_axes` (13 / 18), which leaves the input (after the
//!   op's element-wise step: |x| for L1, x² for SumSquare, …, as the reference does).
//! - `ArgMax`, `ArgMin` (`select_last_index` from 12): integer results.
//! - `Softmax`, `LogSoftmax`, `Hardmax`: before opset 13 the input is flattened to 2-D at
//!   `axis` (default 1) and normalised over the whole second part; from 13 over the one axis
//!   (default −1). The two meanings differ for any input of rank > 2 with `axis` < rank − 1.

use burn::tensor::activation;

use super::{Ctx, OpDef, Phys, Value, host_floats, no_check, phys_axis, reshaped, strides};
use crate::error::Result;

macro_rules! reduction {
    ($name:literal, $kind:expr, $axes_input_since:literal) => {
        OpDef {
            op: $name,
            since: 1,
            attrs: &["axes", "keepdims", "noop_with_empty_axes"],
            check: no_check,
            eval: |c, i| reduce(c, i, $kind, $axes_input_since),
        }
    };
}

pub(crate) const OPS: &[OpDef] = &[
    reduction!("ReduceSum", Kind::Sum, 13),
    reduction!("ReduceMean", Kind::Mean, 18),
    reduction!("ReduceMax", Kind::Max, 18),
    reduction!("ReduceMin", Kind::Min, 18),
    reduction!("ReduceProd", Kind::Prod, 18),
    reduction!("ReduceL1", Kind::L1, 18),
    reduction!("ReduceL2", Kind::L2, 18),
    reduction!("ReduceSumSquare", Kind::SumSquare, 18),
    reduction!("ReduceLogSum", Kind::LogSum, 18),
    reduction!("ReduceLogSumExp", Kind::LogSumExp, 18),
    OpDef {
        op: "ArgMax",
        since: 1,
        attrs: &["axis", "keepdims", "select_last_index"],
        check: no_check,
        eval: |c, i| arg(c, i, true),
    },
    OpDef {
        op: "ArgMin",
        since: 1,
        attrs: &["axis", "keepdims", "select_last_index"],
        check: no_check,
        eval: |c, i| arg(c, i, false),
    },
    OpDef { op: "Softmax", since: 1, attrs: &["axis"], check: no_check, eval: |c, i| softmax(c, i, Norm::Softmax) },
    OpDef {
        op: "LogSoftmax",
        since: 1,
        attrs: &["axis"],
        check: no_check,
        eval: |c, i| softmax(c, i, Norm::LogSoftmax),
    },
    OpDef { op: "Hardmax", since: 1, attrs: &["axis"], check: no_check, eval: |c, i| softmax(c, i, Norm::Hardmax) },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

fn reduce(ctx: &Ctx, inputs: &[Option<Value>], kind: Kind, axes_input_since: i64) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let axes = if ctx.opset < axes_input_since {
        ctx.attr_ints("axes")?
    } else if ctx.optional(inputs, 1).is_some() {
        Some(ctx.ints(inputs, 1)?.0)
    } else {
        None
    };
    let keepdims = ctx.attr_int("keepdims", 1)? == 1;
    let noop = ctx.opset >= axes_input_since && ctx.attr_int("noop_with_empty_axes", 0)? == 1;
    let empty = axes.as_ref().is_none_or(Vec::is_empty);
    let mut axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().map(|&x| ctx.axis(x, s.len())).collect::<Result<_>>()?,
        _ => (0..s.len()).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    if empty && noop {
        axes.clear();
    }
    let out: Vec<usize> = if keepdims {
        s.iter().enumerate().map(|(a, &d)| if axes.contains(&a) { 1 } else { d }).collect()
    } else {
        s.iter().enumerate().filter(|(a, _)| !axes.contains(a)).map(|(_, &d)| d).collect()
    };
    if let Value::Int { data, .. } = v {
        return Ok(vec![Value::Int { data: int_reduce(ctx, data, &s, &axes, kind)?, shape: out }]);
    }
    let (x, _) = ctx.float(inputs, 0)?;
    let rank = s.len();
    let over = |mut t: Phys, f: fn(Phys, usize) -> Phys| {
        for &a in &axes {
            t = f(t, phys_axis(a, rank));
        }
        t
    };
    let sum = |t: Phys| over(t, |t, d| t.sum_dim(d));
    let count: usize = axes.iter().map(|&a| s[a]).product();
    let t = match kind {
        Kind::Sum => sum(x),
        Kind::Mean => sum(x) / count.max(1) as f32,
        Kind::Max => over(x, |t, d| t.max_dim(d)),
        Kind::Min => over(x, |t, d| t.min_dim(d)),
        Kind::Prod => over(x, |t, d| t.prod_dim(d)),
        Kind::L1 => sum(x.abs()),
        Kind::L2 => sum(x.clone() * x).sqrt(),
        Kind::SumSquare => sum(x.clone() * x),
        Kind::LogSum => sum(x).log(),
        Kind::LogSumExp => {
            let m = over(x.clone(), |t, d| t.max_dim(d)).detach();
            sum((x - m.clone()).exp()).log() + m
        }
    };
    Ok(vec![reshaped(t, out)])
}

/// A reduction of integers on the host (shape arithmetic: `ReduceProd` of a shape, …).
fn int_reduce(ctx: &Ctx, data: &[i64], s: &[usize], axes: &[usize], kind: Kind) -> Result<Vec<i64>> {
    let kept: Vec<usize> = s.iter().enumerate().map(|(a, &d)| if axes.contains(&a) { 1 } else { d }).collect();
    let n: usize = kept.iter().product();
    let (init, f): (i64, fn(i64, i64) -> i64) = match kind {
        Kind::Sum | Kind::Mean => (0, |a, b| a + b),
        Kind::Max => (i64::MIN, i64::max),
        Kind::Min => (i64::MAX, i64::min),
        Kind::Prod => (1, |a, b| a * b),
        Kind::L1 => (0, |a, b| a + b.abs()),
        Kind::SumSquare => (0, |a, b| a + b * b),
        _ => return Err(ctx.err(format!("{kind:?} of integers is not implemented"))),
    };
    let mut out = vec![init; n];
    let ks = strides(&kept);
    super::index_map(s, |i| {
        let k: usize = i.iter().zip(&kept).zip(&ks).map(|((&x, &d), &st)| if d == 1 { 0 } else { x * st }).sum();
        k
    })
    .into_iter()
    .zip(data)
    .for_each(|(k, &v)| out[k as usize] = f(out[k as usize], v));
    if kind == Kind::Mean {
        let count = axes.iter().map(|&a| s[a]).product::<usize>().max(1) as i64;
        out.iter_mut().for_each(|v| *v /= count);
    }
    Ok(out)
}

/// `ArgMax` / `ArgMin` along `axis`: the first extreme index, or the last with
/// `select_last_index`.
fn arg(ctx: &Ctx, inputs: &[Option<Value>], max: bool) -> Result<Vec<Value>> {
    let v = ctx.input(inputs, 0)?;
    let s = v.shape().to_vec();
    let axis = ctx.axis(ctx.attr_int("axis", 0)?, s.len())?;
    let keepdims = ctx.attr_int("keepdims", 1)? == 1;
    let last = ctx.attr_int("select_last_index", 0)? == 1;
    let x = host_floats(v).map_err(|e| ctx.err(e))?;
    let st = strides(&s);
    let mut kept = s.clone();
    kept[axis] = 1;
    let data: Vec<i64> = super::index_map(&kept, |i| i.iter().zip(&st).map(|(&x, &st)| x * st).sum())
        .into_iter()
        .map(|base| {
            let mut best = 0usize;
            for k in 1..s[axis] {
                let (a, b) = (x[base as usize + k * st[axis]], x[base as usize + best * st[axis]]);
                let better = if max { a > b || (last && a == b) } else { a < b || (last && a == b) };
                if better {
                    best = k;
                }
            }
            best as i64
        })
        .collect();
    let shape =
        if keepdims { kept } else { s.iter().enumerate().filter(|(a, _)| *a != axis).map(|(_, &d)| d).collect() };
    Ok(vec![Value::Int { data, shape }])
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Norm {
    Softmax,
    LogSoftmax,
    Hardmax,
}

fn softmax(ctx: &Ctx, inputs: &[Option<Value>], norm: Norm) -> Result<Vec<Value>> {
    let (x, s) = ctx.float(inputs, 0)?;
    let rank = s.len();
    if rank == 0 {
        return Err(ctx.err("a scalar input"));
    }
    // Before opset 13: flatten to [∏ d[..axis], ∏ d[axis..]] and normalise each row.
    let (x, view, axis) = if ctx.opset < 13 {
        let axis = ctx.attr_int("axis", 1)?;
        let axis = if axis < 0 { axis + rank as i64 } else { axis };
        if !(0..=rank as i64).contains(&axis) {
            return Err(ctx.err(format!("axis {axis} outside 0..={rank}")));
        }
        let axis = axis as usize;
        let view = vec![s[..axis].iter().product::<usize>(), s[axis..].iter().product()];
        (x.reshape(super::padded(&view)), view, 1)
    } else {
        (x, s.clone(), ctx.axis(ctx.attr_int("axis", -1)?, rank)?)
    };
    let d = phys_axis(axis, view.len());
    let y = match norm {
        Norm::Softmax => activation::softmax(x, d),
        Norm::LogSoftmax => activation::log_softmax(x, d),
        Norm::Hardmax => {
            let host = host_floats(&Value::Float { tensor: x, shape: view.clone() }).map_err(|e| ctx.err(e))?;
            let st = strides(&view);
            let mut out = vec![0f32; host.len()];
            let mut kept = view.clone();
            kept[axis] = 1;
            for base in super::index_map(&kept, |i| i.iter().zip(&st).map(|(&x, &st)| x * st).sum()) {
                let at = |k: usize| base as usize + k * st[axis];
                let best = (0..view[axis]).fold(0, |b, k| if host[at(k)] > host[at(b)] { k } else { b });
                out[at(best)] = 1.0;
            }
            return Ok(vec![Value::float_from_host(out, s, ctx.device)]);
        }
    };
    Ok(vec![reshaped(y, s)])
}
