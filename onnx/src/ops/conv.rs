//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Conv.html>
//!
//! 2-D convolution (`Conv` with a 2-D kernel), opsets 1–22: explicit `pads`, `auto_pad`
//! (`NOTSET`, `VALID`, `SAME_UPPER`, `SAME_LOWER`), strides, dilations and groups.
//! `y[n, o] = b[o] + Σ_c Σ_ij w[o, c, i, j] · x[n, g·C/G + c, s·h + d·i − p, s·w + d·j − p]`.

use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use onnx_ir::node::conv2d::Conv2dConfig;
use onnx_ir::node::padding::AutoPad;

use super::Ctx;
use crate::error::Result;
use crate::executor::value::Value;

/// Output size of one spatial axis, or `None` when the window does not fit.
pub(crate) fn out_len(len: usize, kernel: usize, stride: usize, dilation: usize, pad: (usize, usize)) -> Option<usize> {
    let span = dilation * (kernel - 1) + 1;
    let padded = len + pad.0 + pad.1;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

/// `(begin, end)` padding of one axis for `auto_pad = SAME_*` (output = ceil(len / stride)).
pub(crate) fn same_pad(len: usize, kernel: usize, stride: usize, dilation: usize, upper: bool) -> (usize, usize) {
    let out = len.div_ceil(stride);
    let span = dilation * (kernel - 1) + 1;
    let total = ((out - 1) * stride + span).saturating_sub(len);
    if upper { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) }
}

/// Padding pairs `[(top, bottom), (left, right)]` for an input of spatial size `hw`.
pub(crate) fn pads(
    auto_pad: &AutoPad,
    explicit: (usize, usize, usize, usize),
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> [(usize, usize); 2] {
    let same = |upper| [0, 1].map(|a| same_pad(hw[a], kernel[a], stride[a], dilation[a], upper));
    match auto_pad {
        AutoPad::SameUpper => same(true),
        AutoPad::SameLower => same(false),
        AutoPad::Valid => [(0, 0), (0, 0)],
        AutoPad::NotSet => {
            let (top, left, bottom, right) = explicit;
            [(top, bottom), (left, right)]
        }
    }
}

/// Evaluates a 2-D `Conv`.
///
/// # Shapes
/// `x`: `[batch, channels_in, height, width]`; `w`: `[channels_out, channels_in / groups, kh, kw]`;
/// `b`: `[channels_out]`; output `[batch, channels_out, height_out, width_out]`.
pub(crate) fn conv2d(ctx: &Ctx, cfg: &Conv2dConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let x = ctx.float_rank::<4>(inputs, 0)?;
    let w = ctx.float_rank::<4>(inputs, 1)?;
    let [n, c, h, wd] = x.dims();
    let [o, cg, kh, kw] = w.dims();
    if cfg.groups == 0 || c != cg * cfg.groups || o % cfg.groups != 0 {
        return Err(ctx.err(format!(
            "input has {c} channels; the weight {:?} with {} groups expects {}",
            [o, cg, kh, kw],
            cfg.groups,
            cg * cfg.groups
        )));
    }
    let bias = match inputs.get(2).and_then(Option::as_ref) {
        Some(_) => Some(ctx.float_rank::<1>(inputs, 2)?),
        None => None,
    };
    if let Some(b) = &bias
        && b.dims() != [o]
    {
        return Err(ctx.err(format!("bias of shape {:?}, expected [{o}]", b.dims())));
    }
    let padding = pads(&cfg.auto_pad, cfg.padding.as_tuple(), [h, wd], [kh, kw], cfg.stride, cfg.dilation);
    for a in 0..2 {
        let len = [h, wd][a];
        if out_len(len, [kh, kw][a], cfg.stride[a], cfg.dilation[a], padding[a]).is_none() {
            return Err(ctx.err(format!("input {:?} is smaller than the kernel {:?}", [n, c, h, wd], [kh, kw])));
        }
    }
    let options = ConvOptions::new_with_padding(cfg.stride, padding, cfg.dilation, cfg.groups);
    Ok(Value::float(module::conv2d(x, w, bias, options)))
}
