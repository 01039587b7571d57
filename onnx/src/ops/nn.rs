//! Network layers (<https://onnx.ai/onnx/operators/>):
//!
//! - `Conv` (1-D and 2-D; `auto_pad`, `pads`, `strides`, `dilations`, `group`),
//!   `ConvTranspose` (1-D and 2-D; `output_padding`, `output_shape`, asymmetric `pads`):
//!   `y[n, o] = b[o] + Σ_c Σ_k w[o, c, k] · x[n, g·C/G + c, s·i + d·k − p]`.
//! - `MaxPool` (`ceil_mode` and `dilations` from 10; the optional indices output is refused),
//!   `AveragePool` (`count_include_pad`, `ceil_mode` — valid from opset 10, whatever onnx-ir
//!   says —, `dilations` 1 only), `GlobalAveragePool`, `GlobalMaxPool`.
//! - `Gemm` (`Y = α A′ B′ + β C`), `MatMul` (NumPy semantics, 1-D operands included), `Einsum`.
//! - `BatchNormalization` (Ioffe & Szegedy 2015): inference with the stored statistics, and
//!   training mode with the batch's (before opset 14 chosen by the number of outputs, from 14 by
//!   `training_mode`), `InstanceNormalization`, `LayerNormalization` (17), `GroupNormalization`
//!   (18: scale and bias per group; 21: per channel), `LRN`, `LpNormalization`.

use burn::tensor::module;
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, ConvTransposeOptions, MaxPoolOptions};
use burn::tensor::{EinsumOperand, Tensor};

use super::{Ctx, OpDef, Phys, Value, along, host_floats, no_check, padded, phys_axis, reshaped};
use crate::error::Result;

pub(crate) const OPS: &[OpDef] = &[
    OpDef {
        op: "Conv",
        since: 1,
        attrs: &["auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"],
        check: check_auto_pad,
        eval: conv,
    },
    OpDef {
        op: "ConvTranspose",
        since: 1,
        attrs: &["auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides"],
        check: check_auto_pad,
        eval: conv_transpose,
    },
    OpDef {
        op: "MaxPool",
        since: 1,
        attrs: &["auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"],
        check: check_auto_pad,
        eval: |c, i| pool(c, i, true),
    },
    OpDef {
        op: "AveragePool",
        since: 1,
        attrs: &["auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides"],
        check: check_auto_pad,
        eval: |c, i| pool(c, i, false),
    },
    OpDef { op: "GlobalAveragePool", since: 1, attrs: &[], check: no_check, eval: |c, i| global_pool(c, i, false) },
    OpDef { op: "GlobalMaxPool", since: 1, attrs: &[], check: no_check, eval: |c, i| global_pool(c, i, true) },
    OpDef {
        op: "Gemm",
        since: 1,
        attrs: &["alpha", "beta", "transA", "transB", "broadcast"],
        check: no_check,
        eval: gemm,
    },
    OpDef { op: "MatMul", since: 1, attrs: &[], check: no_check, eval: matmul },
    OpDef { op: "Einsum", since: 12, attrs: &["equation"], check: no_check, eval: einsum },
    OpDef {
        op: "BatchNormalization",
        since: 1,
        attrs: &["epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"],
        check: check_batch_norm,
        eval: batch_norm,
    },
    OpDef { op: "InstanceNormalization", since: 1, attrs: &["epsilon"], check: no_check, eval: instance_norm },
    OpDef {
        op: "LayerNormalization",
        since: 17,
        attrs: &["axis", "epsilon", "stash_type"],
        check: no_check,
        eval: layer_norm,
    },
    OpDef {
        op: "GroupNormalization",
        since: 18,
        attrs: &["epsilon", "num_groups", "stash_type"],
        check: no_check,
        eval: group_norm,
    },
    OpDef { op: "LRN", since: 1, attrs: &["alpha", "beta", "bias", "size"], check: no_check, eval: lrn },
    OpDef { op: "LpNormalization", since: 1, attrs: &["axis", "p"], check: no_check, eval: lp_norm },
];

fn check_auto_pad(ctx: &Ctx) -> Result<()> {
    ctx.attr_choice("auto_pad", "NOTSET", &["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])?;
    if ctx.node.op == "MaxPool" {
        ctx.attr_int("storage_order", 0)?;
    }
    Ok(())
}

/// Output size of one spatial axis, or `None` when the window does not fit.
pub(crate) fn out_len(
    len: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pad: (usize, usize),
    ceil: bool,
) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = len + pad.0 + pad.1;
    if padded < span {
        return None;
    }
    let steps = padded - span;
    let mut n = if ceil { steps.div_ceil(stride) } else { steps / stride } + 1;
    // With ceil_mode the last window must start inside the input or its left padding.
    if ceil && (n - 1) * stride >= len + pad.0 {
        n -= 1;
    }
    Some(n)
}

/// `(begin, end)` padding of one axis for `auto_pad = SAME_*` (output = ceil(len / stride)).
fn same_pad(len: usize, kernel: usize, stride: usize, dilation: usize, upper: bool) -> (usize, usize) {
    let out = len.div_ceil(stride);
    let span = dilation * (kernel - 1) + 1;
    let total = ((out - 1) * stride + span).saturating_sub(len);
    if upper { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) }
}

/// The window geometry of a conv or pool node with `n` spatial axes.
struct Window {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    dilation: Vec<usize>,
    pads: Vec<(usize, usize)>,
}

fn usizes(ctx: &Ctx, name: &str, v: Option<Vec<i64>>, n: usize, default: usize) -> Result<Vec<usize>> {
    let v = v.unwrap_or_else(|| vec![default as i64; n]);
    if v.len() != n || v.iter().any(|&x| x < 0) {
        return Err(ctx.err(format!("`{name}` = {v:?} for {n} spatial axes")));
    }
    Ok(v.iter().map(|&x| x as usize).collect())
}

fn window(ctx: &Ctx, spatial: &[usize], kernel: Vec<usize>) -> Result<Window> {
    let n = spatial.len();
    let stride = usizes(ctx, "strides", ctx.attr_ints("strides")?, n, 1)?;
    let dilation = usizes(ctx, "dilations", ctx.attr_ints("dilations")?, n, 1)?;
    if stride.contains(&0) || dilation.contains(&0) {
        return Err(ctx.err("zero stride or dilation"));
    }
    let pads = match ctx.attr_string("auto_pad", "NOTSET")?.as_str() {
        "VALID" => vec![(0, 0); n],
        same @ ("SAME_UPPER" | "SAME_LOWER") => {
            (0..n).map(|a| same_pad(spatial[a], kernel[a], stride[a], dilation[a], same == "SAME_UPPER")).collect()
        }
        _ => {
            let p = usizes(ctx, "pads", ctx.attr_ints("pads")?, 2 * n, 0)?;
            (0..n).map(|a| (p[a], p[a + n])).collect()
        }
    };
    Ok(Window { kernel, stride, dilation, pads })
}

/// A 1-D input `[N, C, L]` seen as 2-D `[N, C, 1, L]`, and the window likewise.
fn as_2d(x: Phys, s: &[usize], w: Window) -> (Tensor<4>, Window) {
    if s.len() == 4 {
        return (x.reshape([s[0], s[1], s[2], s[3]]), w);
    }
    let x = x.reshape([s[0], s[1], 1, s[2]]);
    let one = |v: &[usize], fill| vec![fill, v[0]];
    (
        x,
        Window {
            kernel: one(&w.kernel, 1),
            stride: one(&w.stride, 1),
            dilation: one(&w.dilation, 1),
            pads: vec![(0, 0), w.pads[0]],
        },
    )
}

fn pair<T: Copy>(v: &[T]) -> [T; 2] {
    [v[0], v[1]]
}

/// Back from 2-D to the node's rank (1-D drops the height axis).
fn from_2d(y: Tensor<4>, rank: usize) -> Value {
    let [n, c, h, w] = y.dims();
    if rank == 4 { Value::float(y) } else { reshaped(y.reshape(padded(&[n, c, h * w])), vec![n, c, w]) }
}

fn spatial_rank(ctx: &Ctx, s: &[usize]) -> Result<()> {
    if s.len() != 3 && s.len() != 4 {
        return Err(
            ctx.err(format!("input {s:?}: only 1-D and 2-D windows ([N, C, L] or [N, C, H, W]) are implemented"))
        );
    }
    Ok(())
}

/// `Conv` (1-D or 2-D).
fn conv(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (x, s) = ctx.float(inputs, 0)?;
    let (w, ws) = ctx.float(inputs, 1)?;
    spatial_rank(ctx, &s)?;
    let groups = ctx.attr_int("group", 1)? as usize;
    let (c, o) = (s[1], ws[0]);
    if ws.len() != s.len() || groups == 0 || c != ws[1] * groups || o % groups != 0 {
        return Err(ctx.err(format!("input {s:?} and weight {ws:?} do not fit {groups} groups")));
    }
    let kernel = match ctx.attr_ints("kernel_shape")? {
        Some(k) => usizes(ctx, "kernel_shape", Some(k), s.len() - 2, 1)?,
        None => ws[2..].to_vec(),
    };
    if kernel != ws[2..] {
        return Err(ctx.err(format!("kernel_shape {kernel:?} differs from the weight {ws:?}")));
    }
    let win = window(ctx, &s[2..], kernel)?;
    for a in 0..s.len() - 2 {
        if out_len(s[2 + a], win.kernel[a], win.stride[a], win.dilation[a], win.pads[a], false).is_none() {
            return Err(ctx.err(format!("input {s:?} is smaller than the kernel {:?}", win.kernel)));
        }
    }
    let bias = match ctx.optional(inputs, 2) {
        Some(_) => {
            let b = ctx.float_rank::<1>(inputs, 2)?;
            if b.dims() != [o] {
                return Err(ctx.err(format!("bias of shape {:?}, expected [{o}]", b.dims())));
            }
            Some(b)
        }
        None => None,
    };
    let (x, win) = as_2d(x, &s, win);
    let w4: Tensor<4> =
        if ws.len() == 4 { w.reshape([ws[0], ws[1], ws[2], ws[3]]) } else { w.reshape([ws[0], ws[1], 1, ws[2]]) };
    let options =
        ConvOptions::new_with_padding(pair(&win.stride), [win.pads[0], win.pads[1]], pair(&win.dilation), groups);
    Ok(vec![from_2d(netlens_kernels::conv::conv2d_with(x, w4, bias, options), s.len())])
}

/// `ConvTranspose` (1-D or 2-D): computed without padding, then cropped by `pads` (or to
/// `output_shape`, the extra padding at the beginning for `NOTSET` and `SAME_LOWER`, at the
/// end for `SAME_UPPER`, as the spec says).
fn conv_transpose(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (x, s) = ctx.float(inputs, 0)?;
    let (w, ws) = ctx.float(inputs, 1)?;
    spatial_rank(ctx, &s)?;
    let n = s.len() - 2;
    let groups = ctx.attr_int("group", 1)? as usize;
    if ws.len() != s.len() || groups == 0 || s[1] != ws[0] {
        return Err(ctx.err(format!("input {s:?} and weight {ws:?} (in, out / groups, …) do not fit")));
    }
    let kernel = ws[2..].to_vec();
    let stride = usizes(ctx, "strides", ctx.attr_ints("strides")?, n, 1)?;
    let dilation = usizes(ctx, "dilations", ctx.attr_ints("dilations")?, n, 1)?;
    let out_pad = usizes(ctx, "output_padding", ctx.attr_ints("output_padding")?, n, 0)?;
    let full: Vec<usize> =
        (0..n).map(|a| (s[2 + a] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1 + out_pad[a]).collect();
    let auto_pad = ctx.attr_string("auto_pad", "NOTSET")?;
    let crops: Vec<(usize, usize)> = if let Some(shape) = ctx.attr_ints("output_shape")? {
        let want = &shape[shape.len().saturating_sub(n)..];
        (0..n)
            .map(|a| {
                let total = full[a]
                    .checked_sub(want[a] as usize)
                    .ok_or_else(|| ctx.err(format!("output_shape {shape:?} larger than {full:?}")))?;
                Ok(if auto_pad == "SAME_UPPER" {
                    (total / 2, total - total / 2)
                } else {
                    (total - total / 2, total / 2)
                })
            })
            .collect::<Result<_>>()?
    } else if auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" {
        (0..n)
            .map(|a| {
                let total = full[a].saturating_sub(s[2 + a] * stride[a]);
                if auto_pad == "SAME_UPPER" { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) }
            })
            .collect()
    } else {
        let p = usizes(ctx, "pads", ctx.attr_ints("pads")?, 2 * n, 0)?;
        (0..n).map(|a| (p[a], p[a + n])).collect()
    };
    let bias = match ctx.optional(inputs, 2) {
        Some(_) => Some(ctx.float_rank::<1>(inputs, 2)?),
        None => None,
    };
    let (x4, w4, st, di, op) = if n == 2 {
        (
            x.reshape([s[0], s[1], s[2], s[3]]),
            w.reshape([ws[0], ws[1], ws[2], ws[3]]),
            pair(&stride),
            pair(&dilation),
            pair(&out_pad),
        )
    } else {
        (
            x.reshape([s[0], s[1], 1, s[2]]),
            w.reshape([ws[0], ws[1], 1, ws[2]]),
            [1, stride[0]],
            [1, dilation[0]],
            [0, out_pad[0]],
        )
    };
    let options = ConvTransposeOptions::new(st, [0, 0], op, di, groups);
    let mut y = module::conv_transpose2d(x4, w4, bias, options);
    for (a, &(begin, end)) in crops.iter().enumerate() {
        let axis = if n == 2 { 2 + a } else { 3 };
        let len = y.dims()[axis];
        let keep = len.checked_sub(begin + end).ok_or_else(|| ctx.err("pads larger than the output"))?;
        y = y.narrow(axis, begin, keep);
    }
    Ok(vec![from_2d(y, s.len())])
}

/// `MaxPool` / `AveragePool` (1-D or 2-D).
fn pool(ctx: &Ctx, inputs: &[Option<Value>], max: bool) -> Result<Vec<Value>> {
    let (x, s) = ctx.float(inputs, 0)?;
    spatial_rank(ctx, &s)?;
    let n = s.len() - 2;
    let kernel = usizes(ctx, "kernel_shape", ctx.attr_ints("kernel_shape")?, n, 1)?;
    if !ctx.has_attr("kernel_shape") {
        return Err(ctx.err("no kernel_shape"));
    }
    let win = window(ctx, &s[2..], kernel)?;
    let ceil = ctx.attr_int("ceil_mode", 0)? == 1;
    for a in 0..n {
        if out_len(s[2 + a], win.kernel[a], win.stride[a], win.dilation[a], win.pads[a], ceil).is_none() {
            return Err(ctx.err(format!("input {s:?} is smaller than the window {:?}", win.kernel)));
        }
        if win.pads[a].0 >= win.kernel[a] || win.pads[a].1 >= win.kernel[a] {
            return Err(ctx.err(format!("pads {:?} must be smaller than the kernel {:?}", win.pads, win.kernel)));
        }
    }
    let (x, win) = as_2d(x, &s, win);
    let indices = if max && ctx.node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        Some(max_pool_indices(ctx, &x, &win, ceil, s.len())?)
    } else {
        None
    };
    let y = if max {
        let options = MaxPoolOptions::new(pair(&win.kernel))
            .with_stride(pair(&win.stride))
            .with_padding_pairs([win.pads[0], win.pads[1]])
            .with_dilation(pair(&win.dilation))
            .with_ceil_mode(ceil);
        module::max_pool2d(x, options)
    } else if win.dilation.iter().any(|&d| d != 1) {
        dilated_avg_pool(ctx, x, &win, ceil, ctx.attr_int("count_include_pad", 0)? == 1)
    } else {
        let include = ctx.attr_int("count_include_pad", 0)? == 1;
        let options = AvgPoolOptions::new(pair(&win.kernel))
            .with_stride(pair(&win.stride))
            .with_padding_pairs([win.pads[0], win.pads[1]])
            .with_count_include_pad(include)
            .with_ceil_mode(ceil);
        module::avg_pool2d(x, options)
    };
    let mut out = vec![from_2d(y, s.len())];
    out.extend(indices);
    Ok(out)
}

/// Output sizes of a 2-D window over `[h, w]`.
fn pooled(x: &Tensor<4>, win: &Window, ceil: bool) -> [usize; 2] {
    let [_, _, h, w] = x.dims();
    [0, 1].map(|a| {
        out_len([h, w][a], win.kernel[a], win.stride[a], win.dilation[a], win.pads[a], ceil).expect("checked to fit")
    })
}

/// Average pooling with dilated windows, as depthwise convolutions with a kernel of ones:
/// window sums over the number of cells each window counts (the input's, or with
/// `count_include_pad` also the explicit padding's — never the `ceil_mode` overhang).
fn dilated_avg_pool(ctx: &Ctx, x: Tensor<4>, win: &Window, ceil: bool, include_pad: bool) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let out = pooled(&x, win, ceil);
    let span = |a: usize| win.dilation[a] * (win.kernel[a] - 1) + 1;
    let extra: Vec<usize> = (0..2)
        .map(|a| ((out[a] - 1) * win.stride[a] + span(a)).saturating_sub([h, w][a] + win.pads[a].0 + win.pads[a].1))
        .collect();
    let pads = [(win.pads[0].0, win.pads[0].1 + extra[0]), (win.pads[1].0, win.pads[1].1 + extra[1])];
    let ones = Tensor::<4>::ones([c, 1, win.kernel[0], win.kernel[1]], ctx.device);
    let options = ConvOptions::new_with_padding(pair(&win.stride), pads, pair(&win.dilation), c);
    let sums = module::conv2d(x, ones, None, options);
    let full = [h + pads[0].0 + pads[0].1, w + pads[1].0 + pads[1].1];
    let counted = |y: usize, x_: usize| {
        let inside = |a: usize, p: usize| {
            let (lo, len) =
                if include_pad { (0, [h, w][a] + win.pads[a].0 + win.pads[a].1) } else { (win.pads[a].0, [h, w][a]) };
            p >= lo && p < lo + len
        };
        inside(0, y) && inside(1, x_)
    };
    let mask: Vec<f32> = (0..full[0] * full[1]).map(|i| counted(i / full[1], i % full[1]) as i32 as f32).collect();
    let mask = Tensor::<4>::from_data(burn::tensor::TensorData::new(mask, [1, 1, full[0], full[1]]), ctx.device);
    let kernel = Tensor::<4>::ones([1, 1, win.kernel[0], win.kernel[1]], ctx.device);
    let counts =
        module::conv2d(mask, kernel, None, ConvOptions::new(pair(&win.stride), [0, 0], pair(&win.dilation), 1));
    let _ = n;
    sums / counts
}

/// `MaxPool`'s second output: for each window the flat index, in the whole input
/// `[N, C, H, W]`, of its (first) largest value — row-major, or with `storage_order = 1`
/// column-major within each channel; padding never wins.
fn max_pool_indices(ctx: &Ctx, x: &Tensor<4>, win: &Window, ceil: bool, rank: usize) -> Result<Value> {
    let [n, c, h, w] = x.dims();
    let values = host_floats(&Value::float(x.clone())).map_err(|e| ctx.err(e))?;
    let [oh, ow] = pooled(x, win, ceil);
    let column_major = ctx.attr_int("storage_order", 0)? == 1;
    let mut data = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best: Option<(usize, usize, f32)> = None;
                for ky in 0..win.kernel[0] {
                    for kx in 0..win.kernel[1] {
                        let y = (oy * win.stride[0] + ky * win.dilation[0]) as i64 - win.pads[0].0 as i64;
                        let x_ = (ox * win.stride[1] + kx * win.dilation[1]) as i64 - win.pads[1].0 as i64;
                        if y < 0 || x_ < 0 || y >= h as i64 || x_ >= w as i64 {
                            continue;
                        }
                        let v = values[plane * h * w + y as usize * w + x_ as usize];
                        if best.is_none_or(|b| v > b.2) {
                            best = Some((y as usize, x_ as usize, v));
                        }
                    }
                }
                let (y, x_, _) = best.unwrap_or((0, 0, 0.0));
                let within = if column_major { x_ * h + y } else { y * w + x_ };
                data.push((plane * h * w + within) as i64);
            }
        }
    }
    let shape = if rank == 4 { vec![n, c, oh, ow] } else { vec![n, c, ow] };
    Ok(Value::Int { data, shape })
}

/// `GlobalAveragePool` / `GlobalMaxPool`: over every axis after the channels, kept as size 1.
fn global_pool(ctx: &Ctx, inputs: &[Option<Value>], max: bool) -> Result<Vec<Value>> {
    let (mut x, s) = ctx.float(inputs, 0)?;
    if s.len() < 3 {
        return Err(ctx.err(format!("expected [batch, channels, spatial…], found {s:?}")));
    }
    for axis in 2..s.len() {
        let d = phys_axis(axis, s.len());
        x = if max { x.max_dim(d) } else { x.mean_dim(d) };
    }
    let out: Vec<usize> = s.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { 1 }).collect();
    Ok(vec![Value::Float { tensor: x, shape: out }])
}

/// `Gemm`: `Y = α · A′ · B′ + β · C`, `A′ = Aᵀ` with `transA`, `B′ = Bᵀ` with `transB`, `C`
/// broadcast to `[M, N]` (optional from opset 11).
fn gemm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let a = ctx.float_rank::<2>(inputs, 0)?;
    let b = ctx.float_rank::<2>(inputs, 1)?;
    let a = if ctx.attr_int("transA", 0)? != 0 { a.transpose() } else { a };
    let b = if ctx.attr_int("transB", 0)? != 0 { b.transpose() } else { b };
    let ([m, k], [k2, n]) = (a.dims(), b.dims());
    if k != k2 {
        return Err(ctx.err(format!("A′ is [{m}, {k}] but B′ is [{k2}, {n}]")));
    }
    let (alpha, beta) = (ctx.attr_float("alpha", 1.0)?, ctx.attr_float("beta", 1.0)?);
    let mut y = a.matmul(b);
    if alpha != 1.0 {
        y = y * alpha;
    }
    if ctx.optional(inputs, 2).is_some() {
        let (c, cs) = ctx.float(inputs, 2)?;
        let fits = cs.len() <= 2 && cs.iter().rev().zip([n, m]).all(|(&d, want)| d == 1 || d == want);
        if !fits {
            return Err(ctx.err(format!("C of shape {cs:?} does not broadcast to [{m}, {n}]")));
        }
        let mut c2 = [1usize; 2];
        c2[2 - cs.len()..].copy_from_slice(&cs);
        let c: Tensor<2> = c.reshape(c2);
        y = y + if beta != 1.0 { c * beta } else { c };
    }
    Ok(vec![Value::float(y)])
}

/// `MatMul` with NumPy's rules: leading axes broadcast, a 1-D `A` is a row (the axis dropped
/// after), a 1-D `B` a column.
fn matmul(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let (a, mut sa) = ctx.float(inputs, 0)?;
    let (b, mut sb) = ctx.float(inputs, 1)?;
    let (a_vec, b_vec) = (sa.len() == 1, sb.len() == 1);
    if a_vec {
        sa.insert(0, 1);
    }
    if b_vec {
        sb.push(1);
    }
    if sa.len() < 2 || sb.len() < 2 {
        return Err(ctx.err("scalar operands"));
    }
    let (a, b) = (a.reshape(padded(&sa)), b.reshape(padded(&sb)));
    let (k, k2) = (sa[sa.len() - 1], sb[sb.len() - 2]);
    if k != k2 {
        return Err(ctx.err(format!("inner dimensions differ: {sa:?} × {sb:?}")));
    }
    let lead = super::broadcast_shape(&sa[..sa.len() - 2], &sb[..sb.len() - 2])
        .ok_or_else(|| ctx.err(format!("batch axes do not broadcast: {sa:?} × {sb:?}")))?;
    let mut shape = lead.clone();
    shape.extend([sa[sa.len() - 2], sb[sb.len() - 1]]);
    ctx.check_rank(&shape)?;
    let mut a_full = lead.clone();
    a_full.extend(&sa[sa.len() - 2..]);
    let mut b_full = lead;
    b_full.extend(&sb[sb.len() - 2..]);
    let y = a.expand(padded(&a_full)).matmul(b.expand(padded(&b_full)));
    let mut out = shape.clone();
    if b_vec {
        out.pop();
    }
    if a_vec {
        out.remove(out.len() - if b_vec { 1 } else { 2 });
    }
    Ok(vec![reshaped(y, out)])
}

/// A value as an einsum operand of its logical rank.
fn operand(t: Phys, s: &[usize]) -> EinsumOperand {
    match s.len() {
        0 => t.reshape([1]).into(),
        1 => t.reshape([s[0]]).into(),
        2 => t.reshape([s[0], s[1]]).into(),
        3 => t.reshape([s[0], s[1], s[2]]).into(),
        4 => t.reshape([s[0], s[1], s[2], s[3]]).into(),
        5 => t.reshape([s[0], s[1], s[2], s[3], s[4]]).into(),
        _ => t.reshape([s[0], s[1], s[2], s[3], s[4], s[5]]).into(),
    }
}

/// `Einsum` with an explicit output (`ij,jk->ik`) or the implicit one (labels used once, in
/// alphabetical order), through burn's differentiable einsum.
fn einsum(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let equation: String = ctx.attr_string("equation", "")?.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l.to_string(), r.to_string()),
        None => {
            let mut counts = std::collections::BTreeMap::new();
            equation.chars().filter(char::is_ascii_alphabetic).for_each(|c| *counts.entry(c).or_insert(0) += 1);
            (equation.clone(), counts.into_iter().filter(|&(_, n)| n == 1).map(|(c, _)| c).collect())
        }
    };
    if equation.contains("...") {
        return Err(ctx.err("ellipsis in einsum equations is not implemented"));
    }
    let terms: Vec<&str> = lhs.split(',').collect();
    let values: Vec<(Phys, Vec<usize>)> = (0..terms.len()).map(|i| ctx.float(inputs, i)).collect::<Result<_>>()?;
    let mut sizes = std::collections::HashMap::new();
    for (term, (_, s)) in terms.iter().zip(&values) {
        if term.len() != s.len() {
            return Err(ctx.err(format!("term `{term}` for an operand of shape {s:?}")));
        }
        for (c, &d) in term.chars().zip(s) {
            sizes.insert(c, d);
        }
    }
    let out: Vec<usize> = rhs
        .chars()
        .map(|c| sizes.get(&c).copied().ok_or_else(|| ctx.err(format!("output label `{c}` is not an input label"))))
        .collect::<Result<_>>()?;
    ctx.check_rank(&out)?;
    let eq = format!("{lhs}->{rhs}");
    let ops: Vec<EinsumOperand> = values.into_iter().map(|(t, s)| operand(t, &s)).collect();
    let y: Phys = match out.len() {
        0 => Tensor::<1>::einsum(&eq, ops).reshape(padded(&[])),
        1 => Tensor::<1>::einsum(&eq, ops).reshape(padded(&out)),
        2 => Tensor::<2>::einsum(&eq, ops).reshape(padded(&out)),
        3 => Tensor::<3>::einsum(&eq, ops).reshape(padded(&out)),
        4 => Tensor::<4>::einsum(&eq, ops).reshape(padded(&out)),
        5 => Tensor::<5>::einsum(&eq, ops).reshape(padded(&out)),
        _ => Tensor::<6>::einsum(&eq, ops),
    };
    Ok(vec![Value::Float { tensor: y, shape: out }])
}

fn check_batch_norm(ctx: &Ctx) -> Result<()> {
    if ctx.opset < 9 && ctx.attr_int("spatial", 1)? == 0 {
        return Err(ctx.err("spatial = 0 (statistics per channel and position) is not implemented"));
    }
    Ok(())
}

/// Whether a node computes batch statistics: before opset 14 when it asks for the running
/// statistics outputs (training), from 14 when `training_mode` is set.
fn batch_norm_training(ctx: &Ctx) -> Result<bool> {
    Ok(if ctx.opset >= 14 {
        ctx.attr_int("training_mode", 0)? == 1
    } else if ctx.opset < 7 {
        ctx.attr_int("is_test", 0)? == 0 && ctx.node.outputs.iter().skip(1).any(|o| !o.is_empty())
    } else {
        ctx.node.outputs.iter().skip(1).any(|o| !o.is_empty())
    })
}

/// Mean and biased variance over every axis but the channels (axis 1), shaped `[1, C, 1, …]`.
fn channel_stats(x: &Phys, s: &[usize]) -> (Phys, Phys) {
    let mut mean = x.clone();
    for a in (0..s.len()).filter(|&a| a != 1) {
        mean = mean.mean_dim(phys_axis(a, s.len()));
    }
    let centred = x.clone() - mean.clone();
    let mut var = centred.clone() * centred;
    for a in (0..s.len()).filter(|&a| a != 1) {
        var = var.mean_dim(phys_axis(a, s.len()));
    }
    (mean, var)
}

/// `BatchNormalization`: `y = (x − μ) / √(σ² + ε) · γ + β` per channel, with the stored μ, σ²
/// (inference) or the batch's (training mode; then the running statistics are also output:
/// `running = momentum · stored + (1 − momentum) · batch`, the variance unbiased as the spec's
/// reference does not — it uses the biased one, which this follows).
fn batch_norm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let eps = ctx.attr_float("epsilon", 1e-5)?;
    let (x, s) = ctx.float(inputs, 0)?;
    if s.len() < 2 {
        return Err(ctx.err(format!("expected [batch, channels, …], found {s:?}")));
    }
    let c = s[1];
    let ps = padded(&along(s.len(), 1, c));
    let mut params = Vec::with_capacity(4);
    for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
        let (t, shape) = ctx.float(inputs, i)?;
        if shape != [c] {
            return Err(ctx.err(format!("{what} of shape {shape:?}, expected [{c}]")));
        }
        params.push(t.reshape(ps));
    }
    let [gamma, beta, stored_mean, stored_var] = <[Phys; 4]>::try_from(params).expect("four parameters");
    if !batch_norm_training(ctx)? {
        let y = (x - stored_mean) / (stored_var + eps).sqrt() * gamma + beta;
        return Ok(vec![Value::Float { tensor: y, shape: s }]);
    }
    let momentum = ctx.attr_float("momentum", 0.9)?;
    let (mean, var) = channel_stats(&x, &s);
    let y = (x - mean.clone()) / (var.clone() + eps).sqrt() * gamma + beta;
    let running_mean = stored_mean * momentum + mean * (1.0 - momentum);
    let running_var = stored_var * momentum + var * (1.0 - momentum);
    let cs = vec![c];
    Ok(vec![Value::Float { tensor: y, shape: s }, reshaped(running_mean, cs.clone()), reshaped(running_var, cs)])
}

/// Mean and biased variance over the axes `from..rank`, kept as size 1.
fn stats_from(x: &Phys, s: &[usize], from: usize) -> (Phys, Phys) {
    let mut mean = x.clone();
    for a in from..s.len() {
        mean = mean.mean_dim(phys_axis(a, s.len()));
    }
    let centred = x.clone() - mean.clone();
    let mut var = centred.clone() * centred;
    for a in from..s.len() {
        var = var.mean_dim(phys_axis(a, s.len()));
    }
    (mean, var)
}

/// `InstanceNormalization`: each channel of each image normalised over its spatial axes, then
/// `· scale[c] + B[c]`.
fn instance_norm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let eps = ctx.attr_float("epsilon", 1e-5)?;
    let (x, s) = ctx.float(inputs, 0)?;
    if s.len() < 3 {
        return Err(ctx.err(format!("expected [batch, channels, spatial…], found {s:?}")));
    }
    let (mean, var) = stats_from(&x, &s, 2);
    let ps = padded(&along(s.len(), 1, s[1]));
    let (scale, _) = ctx.float(inputs, 1)?;
    let (bias, _) = ctx.float(inputs, 2)?;
    let y = (x - mean) / (var + eps).sqrt() * scale.reshape(ps) + bias.reshape(ps);
    Ok(vec![Value::Float { tensor: y, shape: s }])
}

/// `LayerNormalization` (17): normalised over the axes from `axis` (default −1) to the last,
/// then `· Scale + B` (both broadcast to those axes); the optional `Mean` and `InvStdDev`
/// outputs keep the reduced axes as size 1.
fn layer_norm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let eps = ctx.attr_float("epsilon", 1e-5)?;
    let (x, s) = ctx.float(inputs, 0)?;
    let axis = ctx.axis(ctx.attr_int("axis", -1)?, s.len())?;
    let (mean, var) = stats_from(&x, &s, axis);
    let inv = (var + eps).sqrt().recip();
    let (scale, ss) = ctx.float(inputs, 1)?;
    let mut y = (x - mean.clone()) * inv.clone() * scale.reshape(padded(&ss));
    if ctx.optional(inputs, 2).is_some() {
        let (b, bs) = ctx.float(inputs, 2)?;
        y = y + b.reshape(padded(&bs));
    }
    let kept: Vec<usize> = s.iter().enumerate().map(|(a, &d)| if a >= axis { 1 } else { d }).collect();
    Ok(vec![Value::Float { tensor: y, shape: s }, reshaped(mean, kept.clone()), reshaped(inv, kept)])
}

/// `GroupNormalization`: the channels split into `num_groups` groups, each normalised over its
/// channels and positions; then scale and bias — per group at opset 18, per channel from 21.
fn group_norm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let eps = ctx.attr_float("epsilon", 1e-5)?;
    let groups = ctx.attr_int("num_groups", 0)? as usize;
    let (x, s) = ctx.float(inputs, 0)?;
    if s.len() < 2 || groups == 0 || s[1] % groups != 0 {
        return Err(ctx.err(format!("{groups} groups for an input of shape {s:?}")));
    }
    let (n, c) = (s[0], s[1]);
    let rest: usize = s[2..].iter().product();
    let g = x.reshape(padded(&[n, groups, c / groups * rest]));
    let gs = [n, groups, c / groups * rest];
    let (mean, var) = stats_from(&g, &gs, 2);
    let normed = ((g - mean) / (var + eps).sqrt()).reshape(padded(&s));
    let (scale, ss) = ctx.float(inputs, 1)?;
    let (bias, _) = ctx.float(inputs, 2)?;
    let per_channel = ctx.opset >= 21;
    let expect = if per_channel { c } else { groups };
    if ss != [expect] {
        return Err(ctx.err(format!("scale of shape {ss:?}, expected [{expect}] at opset {}", ctx.opset)));
    }
    let (scale, bias) = if per_channel {
        (scale, bias)
    } else {
        // Per group: each group's value repeated over its channels.
        let rep = |t: Phys| t.reshape(padded(&[groups, 1])).expand(padded(&[groups, c / groups])).reshape(padded(&[c]));
        (rep(scale), rep(bias))
    };
    let ps = padded(&along(s.len(), 1, c));
    let y = normed * scale.reshape(ps) + bias.reshape(ps);
    Ok(vec![Value::Float { tensor: y, shape: s }])
}

/// `LRN` (local response normalisation across channels, Krizhevsky et al. 2012):
/// `y = x / (bias + α/size · Σ x²)^β`, the sum over channels `c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉`.
fn lrn(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let size = ctx.attr_int("size", 0)? as usize;
    if size == 0 {
        return Err(ctx.err("size must be at least 1"));
    }
    let (alpha, beta, bias) =
        (ctx.attr_float("alpha", 1e-4)?, ctx.attr_float("beta", 0.75)?, ctx.attr_float("bias", 1.0)?);
    let (x, s) = ctx.float(inputs, 0)?;
    if s.len() < 3 {
        return Err(ctx.err(format!("expected [batch, channels, spatial…], found {s:?}")));
    }
    let c = s[1];
    let (before, after) = ((size - 1) / 2, (size - 1).div_ceil(2));
    let axis = phys_axis(1, s.len());
    let sq = x.clone() * x.clone();
    let mut padded_shape = s.clone();
    padded_shape[1] = c + before + after;
    let zeros = |k: usize| {
        let mut z = s.clone();
        z[1] = k;
        Tensor::<{ super::MAX_RANK }>::zeros(padded(&z), ctx.device)
    };
    let mut parts = vec![];
    if before > 0 {
        parts.push(zeros(before));
    }
    parts.push(sq);
    if after > 0 {
        parts.push(zeros(after));
    }
    let wide = Tensor::cat(parts, axis);
    let mut sum = wide.clone().narrow(axis, 0, c);
    for k in 1..size {
        sum = sum + wide.clone().narrow(axis, k, c);
    }
    let y = x / (sum * (alpha / size as f32) + bias).powf_scalar(beta);
    Ok(vec![Value::Float { tensor: y, shape: s }])
}

/// `LpNormalization`: `x / ‖x‖_p` along `axis` (p = 1 or 2).
fn lp_norm(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let p = ctx.attr_int("p", 2)?;
    let (x, s) = ctx.float(inputs, 0)?;
    let d = phys_axis(ctx.axis(ctx.attr_int("axis", -1)?, s.len())?, s.len());
    let norm = match p {
        1 => x.clone().abs().sum_dim(d),
        2 => (x.clone() * x.clone()).sum_dim(d).sqrt(),
        _ => return Err(ctx.err(format!("p = {p}; only 1 and 2 are defined"))),
    };
    Ok(vec![Value::Float { tensor: x / norm, shape: s }])
}
