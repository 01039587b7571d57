//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__BatchNormalization.html>
//!
//! `BatchNormalization` in inference mode, opsets 1–15 (Ioffe & Szegedy 2015,
//! <https://arxiv.org/abs/1502.03167>): `y = (x − μ) / √(σ² + ε) · γ + β` per channel, with the
//! running mean μ and variance σ² stored in the graph.

use onnx_ir::node::batch_norm::BatchNormConfig;

use super::Ctx;
use crate::error::Result;
use crate::executor::value::{Value, padded};

/// Evaluates `BatchNormalization` with the stored statistics.
///
/// # Shapes
/// `x`: `[batch, channels, …]`; γ, β, μ, σ²: `[channels]`; output like `x`.
pub(crate) fn batch_norm(ctx: &Ctx, cfg: &BatchNormConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let eps = match cfg {
        BatchNormConfig::Static(c) => c.epsilon,
        BatchNormConfig::Runtime(c) => c.epsilon,
    };
    let (x, shape) = ctx.float(inputs, 0)?;
    if shape.len() < 2 {
        return Err(ctx.err(format!("expected [batch, channels, …], found {shape:?}")));
    }
    let c = shape[1];
    let mut param_shape = vec![1; shape.len()];
    param_shape[1] = c;
    let mut params = Vec::with_capacity(4);
    for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
        let (t, s) = ctx.float(inputs, i)?;
        if s != [c] {
            return Err(ctx.err(format!("{what} of shape {s:?}, expected [{c}]")));
        }
        params.push(t.reshape(padded(&param_shape)));
    }
    let [gamma, beta, mean, var] = <[_; 4]>::try_from(params).expect("four parameters pushed");
    let scale = gamma / var.add_scalar(eps as f32).sqrt();
    Ok(Value::Float { tensor: (x - mean) * scale + beta, shape })
}
