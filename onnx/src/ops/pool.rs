//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__MaxPool.html>,
//! <https://onnx.ai/onnx/operators/onnx__AveragePool.html>,
//! <https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html>
//!
//! 2-D pooling, opsets 1–22: kernel, strides, pads, `auto_pad`, `ceil_mode`, dilations (max
//! pooling only) and `count_include_pad` (average pooling). Padded cells never win a max.

use burn::tensor::module;
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use onnx_ir::node::avg_pool2d::AvgPool2dConfig;
use onnx_ir::node::max_pool2d::MaxPool2dConfig;

use super::Ctx;
use super::conv::{out_len, pads};
use crate::error::Result;
use crate::executor::value::Value;

fn check_fits(
    ctx: &Ctx,
    hw: [usize; 2],
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    p: [(usize, usize); 2],
) -> Result<()> {
    if (0..2).any(|a| out_len(hw[a], k[a], s[a], d[a], p[a]).is_none()) {
        return Err(ctx.err(format!("input of spatial size {hw:?} is smaller than the window {k:?}")));
    }
    if (0..2).any(|a| p[a].0 >= k[a] || p[a].1 >= k[a]) {
        return Err(ctx.err(format!("pads {p:?} must be smaller than the kernel {k:?}")));
    }
    Ok(())
}

/// Evaluates `MaxPool`.
///
/// # Shapes
/// `[batch, channels, height, width]` → `[batch, channels, height_out, width_out]`.
pub(crate) fn max_pool2d(ctx: &Ctx, cfg: &MaxPool2dConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let x = ctx.float_rank::<4>(inputs, 0)?;
    let [_, _, h, w] = x.dims();
    let p = pads(&cfg.auto_pad, cfg.padding.as_tuple(), [h, w], cfg.kernel_size, cfg.strides, cfg.dilation);
    check_fits(ctx, [h, w], cfg.kernel_size, cfg.strides, cfg.dilation, p)?;
    let options = MaxPoolOptions::new(cfg.kernel_size)
        .with_stride(cfg.strides)
        .with_padding_pairs(p)
        .with_dilation(cfg.dilation)
        .with_ceil_mode(cfg.ceil_mode);
    Ok(Value::float(module::max_pool2d(x, options)))
}

/// Evaluates `AveragePool`.
///
/// # Shapes
/// `[batch, channels, height, width]` → `[batch, channels, height_out, width_out]`.
pub(crate) fn avg_pool2d(ctx: &Ctx, cfg: &AvgPool2dConfig, inputs: &[Option<Value>]) -> Result<Value> {
    if cfg.dilation != [1, 1] {
        return Err(ctx.err(format!("dilations {:?} are not supported for average pooling", cfg.dilation)));
    }
    let x = ctx.float_rank::<4>(inputs, 0)?;
    let [_, _, h, w] = x.dims();
    let p = pads(&cfg.auto_pad, cfg.padding.as_tuple(), [h, w], cfg.kernel_size, cfg.strides, [1, 1]);
    check_fits(ctx, [h, w], cfg.kernel_size, cfg.strides, [1, 1], p)?;
    let options = AvgPoolOptions::new(cfg.kernel_size)
        .with_stride(cfg.strides)
        .with_padding_pairs(p)
        .with_count_include_pad(cfg.count_include_pad)
        .with_ceil_mode(cfg.ceil_mode);
    Ok(Value::float(module::avg_pool2d(x, options)))
}

/// Evaluates `GlobalAveragePool`: the mean over every axis after the channels.
///
/// # Shapes
/// `[batch, channels, d1, …]` → `[batch, channels, 1, …]`.
pub(crate) fn global_avg_pool(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Value> {
    let (mut x, shape) = ctx.float(inputs, 0)?;
    if shape.len() < 3 {
        return Err(ctx.err(format!("expected [batch, channels, spatial…], found {shape:?}")));
    }
    for axis in 2..shape.len() {
        x = x.mean_dim(super::phys_axis(axis, shape.len()));
    }
    let out: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| if i < 2 { d } else { 1 }).collect();
    Ok(Value::Float { tensor: x, shape: out })
}
