//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Identity.html>,
//! <https://onnx.ai/onnx/operators/onnx__Dropout.html>,
//! <https://onnx.ai/onnx/operators/onnx__Constant.html>
//!
//! Ops that pass their first input through: `Identity`; `Dropout` in inference (the identity,
//! opsets 1–22; its optional mask output is not produced); `Constant`, whose value onnx-ir
//! lifts into the node's input.

use super::Ctx;
use crate::error::Result;
use crate::executor::value::Value;

/// Returns input 0 as the node's first output. A later node that reads a second output (the
/// dropout mask) fails with an error naming the missing value.
pub(crate) fn pass(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    Ok(vec![ctx.input(inputs, 0)?.clone()])
}
