//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Relu.html>, `Clip`, `Sigmoid`, `Tanh`,
//! <https://onnx.ai/onnx/operators/onnx__Softmax.html>
//!
//! Activations, opsets 6–22 (Clip: bounds as attributes before opset 11, as inputs after;
//! Softmax: the opset-13 single-axis form, which onnx-ir normalises every opset to).

use burn::tensor::activation;
use onnx_ir::node::clip::{ClipConfig, ClipInput};

use super::{Ctx, phys_axis};
use crate::error::Result;
use crate::executor::value::Value;

fn map(ctx: &Ctx, inputs: &[Option<Value>], f: impl FnOnce(super::Phys) -> super::Phys) -> Result<Value> {
    let (x, shape) = ctx.float(inputs, 0)?;
    Ok(Value::Float { tensor: f(x), shape })
}

/// `max(x, 0)`; the gradient at 0 is 0, as in PyTorch.
pub(crate) fn relu(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Value> {
    map(ctx, inputs, activation::relu)
}

/// `1 / (1 + e^(−x))`.
pub(crate) fn sigmoid(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Value> {
    map(ctx, inputs, activation::sigmoid)
}

/// `tanh(x)`.
pub(crate) fn tanh(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Value> {
    map(ctx, inputs, activation::tanh)
}

/// `min(max(x, lo), hi)`, either bound optional.
pub(crate) fn clip(ctx: &Ctx, cfg: &ClipConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let bound = |b: &Option<ClipInput>| -> Result<Option<f32>> {
        match b {
            None => Ok(None),
            Some(ClipInput::Static(v)) => Ok(Some(*v as f32)),
            Some(ClipInput::Runtime(r)) => match ctx.input(inputs, r.input_index)? {
                Value::Int { data, .. } if data.len() == 1 => Ok(Some(data[0] as f32)),
                Value::Float { tensor, shape } if shape.iter().product::<usize>() == 1 => {
                    Ok(Some(tensor.clone().into_data().try_to_vec::<f32>().map_err(|e| ctx.err(format!("{e:?}")))?[0]))
                }
                v => Err(ctx.err(format!("bound `{}` of shape {:?}, expected a scalar", r.name, v.shape()))),
            },
        }
    };
    let (lo, hi) = (bound(&cfg.min)?, bound(&cfg.max)?);
    map(ctx, inputs, |x| match (lo, hi) {
        (Some(lo), Some(hi)) => x.clamp(lo, hi),
        (Some(lo), None) => x.clamp_min(lo),
        (None, Some(hi)) => x.clamp_max(hi),
        (None, None) => x,
    })
}

/// `e^(x_i) / Σ_j e^(x_j)` along `axis`.
pub(crate) fn softmax(ctx: &Ctx, axis: usize, inputs: &[Option<Value>]) -> Result<Value> {
    let rank = ctx.input(inputs, 0)?.shape().len();
    if axis >= rank {
        return Err(ctx.err(format!("axis {axis} outside rank {rank}")));
    }
    map(ctx, inputs, |x| activation::softmax(x, phys_axis(axis, rank)))
}
