//! **ONNX Spec**: <https://onnx.ai/onnx/operators/onnx__Gemm.html>,
//! <https://onnx.ai/onnx/operators/onnx__MatMul.html>
//!
//! Fully connected layers, opsets 1–22. `Gemm`: `Y = α · A′ · B′ + β · C` with `A′ = Aᵀ` when
//! `transA` and `B′ = Bᵀ` when `transB`. onnx-ir turns `Gemm` with α = β = 1, `transB = 1` and a
//! constant `B` into `Linear` (`Y = X · Wᵀ + b`, `transpose_weight`), and a `MatMul` by a constant
//! 2-D weight, with the `Add` of a bias that follows it, into `Linear` without the transpose.
//! `MatMul` between tensors of rank ≥ 2 broadcasts the leading (batch) axes like NumPy.

use burn::tensor::Tensor;
use onnx_ir::node::gemm::GemmConfig;
use onnx_ir::node::linear::LinearConfig;

use super::Ctx;
use crate::error::Result;
use crate::executor::value::{Value, padded};

/// Evaluates onnx-ir's `Linear`.
///
/// # Shapes
/// `x`: `[batch, in]` (or `[…, in]`); weight `[out, in]` with `transpose_weight`, else `[in, out]`;
/// bias `[out]`; output `[batch, out]` (or `[…, out]`).
pub(crate) fn linear(ctx: &Ctx, cfg: &LinearConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let (x, xs) = ctx.float(inputs, 0)?;
    let w = ctx.float_rank::<2>(inputs, 1)?;
    let w = if cfg.transpose_weight { w.transpose() } else { w };
    let [inp, out] = w.dims();
    let Some(&last) = xs.last() else { return Err(ctx.err("scalar input")) };
    if last != inp {
        return Err(ctx.err(format!("input {xs:?} has {last} features, the weight expects {inp}")));
    }
    let rows = xs[..xs.len() - 1].iter().product::<usize>();
    let mut y = x.reshape([rows, inp]).matmul(w);
    if inputs.get(2).and_then(Option::as_ref).is_some() {
        let b = ctx.float_rank::<1>(inputs, 2)?;
        if b.dims() != [out] {
            return Err(ctx.err(format!("bias of shape {:?}, expected [{out}]", b.dims())));
        }
        y = y + b.unsqueeze::<2>();
    }
    let mut shape = xs;
    *shape.last_mut().expect("checked non-empty") = out;
    Ok(super::reshaped(y.reshape(padded(&shape)), shape))
}

/// Evaluates `Gemm` in its general form.
///
/// # Shapes
/// `A`: `[M, K]` (`[K, M]` with `transA`); `B`: `[K, N]` (`[N, K]` with `transB`);
/// `C`: broadcastable to `[M, N]`; output `[M, N]`.
pub(crate) fn gemm(ctx: &Ctx, cfg: &GemmConfig, inputs: &[Option<Value>]) -> Result<Value> {
    let a = ctx.float_rank::<2>(inputs, 0)?;
    let b = ctx.float_rank::<2>(inputs, 1)?;
    let a = if cfg.trans_a != 0 { a.transpose() } else { a };
    let b = if cfg.trans_b != 0 { b.transpose() } else { b };
    let ([m, k], [k2, n]) = (a.dims(), b.dims());
    if k != k2 {
        return Err(ctx.err(format!("A′ is [{m}, {k}] but B′ is [{k2}, {n}]")));
    }
    let mut y = a.matmul(b).mul_scalar(cfg.alpha);
    if inputs.get(2).and_then(Option::as_ref).is_some() {
        let (c, cs) = ctx.float(inputs, 2)?;
        let fits = cs.len() <= 2 && cs.iter().rev().zip([n, m]).all(|(&d, want)| d == 1 || d == want);
        if !fits {
            return Err(ctx.err(format!("C of shape {cs:?} does not broadcast to [{m}, {n}]")));
        }
        let c: Tensor<2> = c.reshape(padded_2(&cs));
        y = y + c.mul_scalar(cfg.beta);
    }
    Ok(Value::float(y))
}

fn padded_2(shape: &[usize]) -> [usize; 2] {
    let mut out = [1; 2];
    out[2 - shape.len()..].copy_from_slice(shape);
    out
}

/// Evaluates `MatMul` between tensors of rank ≥ 2.
///
/// # Shapes
/// `A`: `[…, M, K]`, `B`: `[…, K, N]`, leading axes broadcast; output `[…, M, N]`.
pub(crate) fn matmul(ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Value> {
    let (a, as_) = ctx.float(inputs, 0)?;
    let (b, bs) = ctx.float(inputs, 1)?;
    if as_.len() < 2 || bs.len() < 2 {
        return Err(ctx.err(format!("1-D operands are not supported: {as_:?} × {bs:?}")));
    }
    let (k, k2) = (as_[as_.len() - 1], bs[bs.len() - 2]);
    if k != k2 {
        return Err(ctx.err(format!("inner dimensions differ: {as_:?} × {bs:?}")));
    }
    let lead_a = &as_[..as_.len() - 2];
    let lead_b = &bs[..bs.len() - 2];
    let lead = super::binary::broadcast_shape(lead_a, lead_b)
        .ok_or_else(|| ctx.err(format!("batch axes do not broadcast: {as_:?} × {bs:?}")))?;
    let mut shape = lead;
    shape.extend([as_[as_.len() - 2], bs[bs.len() - 1]]);
    ctx.check_rank(&shape)?;
    Ok(super::reshaped(a.matmul(b), shape))
}
