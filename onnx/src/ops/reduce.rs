//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__ReduceMean.html>
//!
//! `ReduceMean`, opsets 1–18 (axes as an attribute before opset 18, as an input after), with
//! `keepdims` and `noop_with_empty_axes`.

use onnx_ir::node::reduce::{ReduceAxes, ReduceConfig};

use super::{Ctx, phys_axis, reshaped};
use crate::error::Result;
use crate::executor::value::Value;

/// Evaluates `ReduceMean`.
///
/// # Shapes
/// Any input; each reduced axis becomes 1 (`keepdims`) or is removed.
pub(crate) fn reduce_mean(ctx: &Ctx, cfg: &ReduceConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let (mut x, shape) = ctx.float(inputs, 0)?;
    let rank = shape.len();
    let axes: Vec<usize> = match &cfg.axes {
        ReduceAxes::Static(a) => a.clone(),
        ReduceAxes::Runtime(r) => {
            let (a, _) = ctx.ints(inputs, r.input_index)?;
            a.iter().map(|&a| ctx.axis(a, rank)).collect::<Result<_>>()?
        }
    };
    if axes.is_empty() && cfg.noop_with_empty_axes {
        return Ok(Value::Float { tensor: x, shape });
    }
    let axes: Vec<usize> = if axes.is_empty() { (0..rank).collect() } else { axes };
    if let Some(a) = axes.iter().find(|&&a| a >= rank) {
        return Err(ctx.err(format!("axis {a} outside rank {rank}")));
    }
    for &a in &axes {
        x = x.mean_dim(phys_axis(a, rank));
    }
    let out: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), cfg.keepdims) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    Ok(reshaped(x, out))
}
