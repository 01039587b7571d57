//! The ONNX operators of the differentiable executor, one file per op family, each opening
//! with the ONNX spec link and the opsets it handles. Every op evaluates with burn tensor ops
//! on the autodiff device, so gradients flow through it; an op outside this list is an
//! [`OnnxError::UnsupportedOp`] naming the op and the node, never a wrong answer.

mod activation;
mod binary;
mod conv;
mod gemm;
mod identity;
mod normalization;
mod pool;
mod reduce;
mod shape;

use burn::tensor::{Device, Tensor};
use onnx_ir::Node;

use crate::error::{OnnxError, Result};
use crate::executor::value::{MAX_RANK, Phys, Value, padded};

/// The ONNX op types the executor evaluates (as they appear in an ONNX file).
pub const SUPPORTED_OPS: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "Div",
    "Dropout",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "Identity",
    "MatMul",
    "MaxPool",
    "Mul",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

/// Where an op runs: the node's original ONNX name and op type (for errors) and the device.
pub(crate) struct Ctx<'a> {
    /// The node's name in the ONNX file (or its onnx-ir name when the file has none).
    pub node: &'a str,
    /// The ONNX op type, e.g. `Conv`.
    pub op: &'a str,
    pub device: &'a Device,
}

impl Ctx<'_> {
    /// An [`OnnxError::Op`] for this node.
    pub fn err(&self, reason: impl Into<String>) -> OnnxError {
        OnnxError::Op { node: self.node.to_string(), op: self.op.to_string(), reason: reason.into() }
    }

    /// Input `i`, which must be present.
    pub fn input<'v>(&self, inputs: &'v [Option<Value>], i: usize) -> Result<&'v Value> {
        inputs.get(i).and_then(Option::as_ref).ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Input `i` as a float tensor with its logical shape (integers are converted).
    pub fn float(&self, inputs: &[Option<Value>], i: usize) -> Result<(Phys, Vec<usize>)> {
        match self.input(inputs, i)? {
            Value::Float { tensor, shape } => Ok((tensor.clone(), shape.clone())),
            Value::Int { data, shape } => {
                let v = Value::float_from_host(data.iter().map(|&x| x as f32).collect(), shape.clone(), self.device);
                let Value::Float { tensor, shape } = v else { unreachable!("float_from_host returns a float") };
                Ok((tensor, shape))
            }
        }
    }

    /// Input `i` as a float tensor of logical rank `D` (`[batch, channels, height, width]` for 4).
    pub fn float_rank<const D: usize>(&self, inputs: &[Option<Value>], i: usize) -> Result<Tensor<D>> {
        let (t, shape) = self.float(inputs, i)?;
        if shape.len() != D {
            return Err(self.err(format!("input {i}: expected rank {D}, found shape {shape:?}")));
        }
        let dims: [usize; D] = shape.try_into().expect("length checked above");
        Ok(t.reshape(dims))
    }

    /// Input `i` as host integers (shapes, axes, indices).
    pub fn ints(&self, inputs: &[Option<Value>], i: usize) -> Result<(Vec<i64>, Vec<usize>)> {
        match self.input(inputs, i)? {
            Value::Int { data, shape } => Ok((data.clone(), shape.clone())),
            Value::Float { shape, .. } => {
                Err(self.err(format!("input {i}: expected an integer tensor, found float {shape:?}")))
            }
        }
    }

    /// Checks a logical rank before it is padded to the physical rank.
    pub fn check_rank(&self, shape: &[usize]) -> Result<()> {
        if shape.len() > MAX_RANK {
            return Err(self.err(format!("rank {} above the executor's maximum {MAX_RANK}", shape.len())));
        }
        Ok(())
    }

    /// Resolves a possibly negative ONNX axis against `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        if a < 0 || a as usize >= rank {
            return Err(self.err(format!("axis {axis} outside rank {rank}")));
        }
        Ok(a as usize)
    }
}

/// A float value from a physical tensor with a new logical shape of the same element count.
pub(crate) fn reshaped(t: Phys, shape: Vec<usize>) -> Value {
    Value::Float { tensor: t.reshape(padded(&shape)), shape }
}

/// The physical axis of logical axis `axis` of a tensor of logical rank `rank`.
pub(crate) fn phys_axis(axis: usize, rank: usize) -> usize {
    MAX_RANK - rank + axis
}

/// Evaluates one node on its resolved inputs (`None` for an omitted optional input).
///
/// # Errors
/// [`OnnxError::UnsupportedOp`] for an op outside [`SUPPORTED_OPS`]; [`OnnxError::Op`] when the
/// inputs do not fit the op (shapes, ranks, attributes this executor does not handle).
pub(crate) fn eval(node: &Node, ctx: &Ctx, inputs: &[Option<Value>]) -> Result<Vec<Value>> {
    let one = |v: Result<Value>| v.map(|v| vec![v]);
    match node {
        Node::Conv2d(n) => one(conv::conv2d(ctx, &n.config, inputs)),
        Node::Linear(n) => one(gemm::linear(ctx, &n.config, inputs)),
        Node::Gemm(n) => one(gemm::gemm(ctx, &n.config, inputs)),
        Node::MatMul(_) => one(gemm::matmul(ctx, inputs)),
        Node::Add(_) => one(binary::eval(ctx, binary::Op::Add, inputs)),
        Node::Sub(_) => one(binary::eval(ctx, binary::Op::Sub, inputs)),
        Node::Mul(_) => one(binary::eval(ctx, binary::Op::Mul, inputs)),
        Node::Div(_) => one(binary::eval(ctx, binary::Op::Div, inputs)),
        Node::Relu(_) => one(activation::relu(ctx, inputs)),
        Node::Clip(n) => one(activation::clip(ctx, &n.config, inputs)),
        Node::Sigmoid(_) => one(activation::sigmoid(ctx, inputs)),
        Node::Tanh(_) => one(activation::tanh(ctx, inputs)),
        Node::Softmax(n) => one(activation::softmax(ctx, n.config.axis, inputs)),
        Node::MaxPool2d(n) => one(pool::max_pool2d(ctx, &n.config, inputs)),
        Node::AveragePool2d(n) => one(pool::avg_pool2d(ctx, &n.config, inputs)),
        Node::GlobalAveragePool(_) => one(pool::global_avg_pool(ctx, inputs)),
        Node::ReduceMean(n) => one(reduce::reduce_mean(ctx, &n.config, inputs)),
        Node::BatchNormalization(n) => one(normalization::batch_norm(ctx, &n.config, inputs)),
        Node::Flatten(n) => one(shape::flatten(ctx, n.config.axis, inputs)),
        Node::Reshape(n) => one(shape::reshape(ctx, &n.config, inputs)),
        Node::Transpose(n) => one(shape::transpose(ctx, &n.config.perm, inputs)),
        Node::Concat(n) => one(shape::concat(ctx, n.config.axis, inputs)),
        Node::Shape(n) => one(shape::shape(ctx, &n.config, inputs)),
        Node::Gather(n) => one(shape::gather(ctx, n.config.axis, inputs)),
        Node::Unsqueeze(n) => one(shape::unsqueeze(ctx, &n.config, inputs)),
        Node::Squeeze(n) => one(shape::squeeze(ctx, &n.config, inputs)),
        Node::Cast(n) => one(shape::cast(ctx, n.config.to, inputs)),
        Node::Identity(_) | Node::Dropout(_) | Node::Constant(_) => identity::pass(ctx, inputs),
        other => Err(unsupported(ctx, other)),
    }
}

/// Whether [`eval`] handles this node.
pub(crate) fn is_supported(node: &Node) -> bool {
    matches!(
        node,
        Node::Conv2d(_)
            | Node::Linear(_)
            | Node::Gemm(_)
            | Node::MatMul(_)
            | Node::Add(_)
            | Node::Sub(_)
            | Node::Mul(_)
            | Node::Div(_)
            | Node::Relu(_)
            | Node::Clip(_)
            | Node::Sigmoid(_)
            | Node::Tanh(_)
            | Node::Softmax(_)
            | Node::MaxPool2d(_)
            | Node::AveragePool2d(_)
            | Node::GlobalAveragePool(_)
            | Node::ReduceMean(_)
            | Node::BatchNormalization(_)
            | Node::Flatten(_)
            | Node::Reshape(_)
            | Node::Transpose(_)
            | Node::Concat(_)
            | Node::Shape(_)
            | Node::Gather(_)
            | Node::Unsqueeze(_)
            | Node::Squeeze(_)
            | Node::Cast(_)
            | Node::Identity(_)
            | Node::Dropout(_)
            | Node::Constant(_)
    )
}

fn unsupported(ctx: &Ctx, _node: &Node) -> OnnxError {
    OnnxError::UnsupportedOp { node: ctx.node.to_string(), op: ctx.op.to_string(), supported: SUPPORTED_OPS.join(", ") }
}
