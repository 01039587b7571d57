//! 2-D convolution on the `flex` CPU backend: im2col + matrix products for the forward pass, the
//! input gradient and the weight gradient.
//!
//! burn's `flex` backend computes a convolution's weight gradient (burn-backend's default
//! `conv2d_weight_backward`) as a convolution of the swapped input with the swapped output
//! gradient, whose "kernel" is the whole output map: one small matrix product per input channel
//! that re-packs the output gradient each time. `bench/conv_routes.py` measured it 9.7× slower
//! than PyTorch over the CNN's seven convolutions, and `flex`'s forward pass 2.8× slower. Here all
//! three passes are the textbook lowering (Chellapilla et al. 2006, "High performance
//! convolutional neural networks for document processing"): for a group of `n` images,
//! `cols = im2col(x)` of shape `[c_in·kh·kw, n·h_out·w_out]` (the images side by side), then
//! - forward: `y = W · cols` with `W` viewed as `[c_out, c_in·kh·kw]`;
//! - input gradient: `dx = col2im(Wᵀ · dy)` with `dy` gathered as `[c_out, n·h_out·w_out]`;
//! - weight gradient: `dW = Σ_groups dy · colsᵀ`;
//!
//! the products run in the `gemm` crate (AVX-512 where the CPU has it), in the orientation that
//! spares gemm from packing the large operand. For stride-1 "same" convolutions im2col and col2im
//! move whole shifted planes instead of one output line at a time. The op is a burn backend
//! extension with its own backward step, so autodiff records it like burn's `conv2d`.
//!
//! Other devices (wgpu, cuda, CubeCL's cpu), grouped or dilated convolutions and asymmetric
//! padding go through burn's `conv2d` unchanged.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::activation;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::FlexTensor;
use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

/// Convolution ops with netlens's own CPU kernels (see the module docs). Every backend gets burn's
/// own as the default; `Flex` overrides both, and `Autodiff` records [`ConvBackend::conv2d_nobias`]
/// with a backward step that calls [`ConvBackend::conv2d_weight_grad`].
#[backend_extension(Flex, Autodiff)]
pub trait ConvBackend: Backend {
    /// `x` `[batch, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]` → `[batch, c_out, h_out, w_out]`.
    fn conv2d_nobias(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// `act(conv(x, weight) + bias)`: `x` `[batch, c_in, h, w]`, `weight` `[c_out, c_in, kh, kw]`,
    /// `bias` `[c_out]` → `[batch, c_out, h_out, w_out]`, where `act` is a ReLU when `relu` and the
    /// identity otherwise. One op, so that the bias and the ReLU are applied as the output is
    /// written, and their gradients taken in one step ([`ConvBackend::relu_grad`],
    /// [`ConvBackend::bias_grad`]).
    fn conv2d_bias_act(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        conv2d_bias_act_by_burn::<Self>(x, weight, bias, options, relu)
    }

    /// The gradient through a ReLU: `grad` where its `output` is positive (or NaN, as burn's
    /// `relu_backward`), zero elsewhere; both `[batch, c, h, w]`.
    fn relu_grad(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::relu_backward(output, grad)
    }

    /// The gradient of a per-channel bias: `grad` `[batch, c, h, w]` summed over the batch and
    /// the pixels → `[c]`.
    fn bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        bias_grad_by_sums::<Self>(grad)
    }

    /// The gradient of the loss with respect to `x` (`[batch, c_in, h, w]`; `x` gives the shape),
    /// given the gradient `grad` of the output (`[batch, c_out, h_out, w_out]`).
    fn conv2d_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }

    /// The gradient of the loss with respect to `weight` (`[c_out, c_in, kh, kw]`), given the
    /// gradient `grad` of the output (`[batch, c_out, h_out, w_out]`).
    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }
}

impl ConvBackend for Flex {
    fn conv2d_nobias(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        match Geometry::of(&x, &weight, &options) {
            Some(g) => {
                let (x, w) = (x.to_contiguous(), weight.to_contiguous());
                let y = g.forward(f32s(&x), f32s(&w), Epilogue::default());
                FlexTensor::from_data(TensorData::new(y, [g.batch, g.c_out, g.h_out, g.w_out]))
            }
            None => Self::conv2d(x, weight, None, options),
        }
    }

    fn conv2d_bias_act(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FlexTensor {
        match Geometry::of(&x, &weight, &options).filter(|_| bias.dtype() == DType::F32) {
            Some(g) => {
                let (x, w, b) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
                let y = g.forward(f32s(&x), f32s(&w), Epilogue { bias: Some(f32s(&b)), relu });
                FlexTensor::from_data(TensorData::new(y, [g.batch, g.c_out, g.h_out, g.w_out]))
            }
            None => conv2d_bias_act_by_burn::<Self>(x, weight, bias, options, relu),
        }
    }

    fn relu_grad(output: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if output.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Self::relu_backward(output, grad);
        }
        let shape = grad.layout().shape().clone();
        let (y, g) = (output.to_contiguous(), grad.to_contiguous());
        let masked: Vec<f32> =
            f32s(&y).iter().zip(f32s(&g)).map(|(y, g)| if *y > 0.0 || y.is_nan() { *g } else { 0.0 }).collect();
        FlexTensor::from_data(TensorData::new(masked, shape))
    }

    fn bias_grad(grad: FlexTensor) -> FlexTensor {
        if grad.dtype() != DType::F32 {
            return bias_grad_by_sums::<Self>(grad);
        }
        let [_, c, h, w]: [usize; 4] = grad.layout().shape().dims();
        let g = grad.to_contiguous();
        let plane = h * w;
        // Per image and channel, then over the images in order: the same bits for any thread count.
        let sums: Vec<f32> = f32s(&g).chunks(plane.max(1)).map(plane_sum).collect();
        let mut db = vec![0.0f32; c];
        for image in sums.chunks(c) {
            add(&mut db, image);
        }
        FlexTensor::from_data(TensorData::new(db, [c]))
    }

    fn conv2d_input_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        match Geometry::of(&x, &weight, &options) {
            Some(g) => {
                let (w, dy) = (weight.to_contiguous(), grad.to_contiguous());
                let dx = g.input_grad(f32s(&w), f32s(&dy));
                FlexTensor::from_data(TensorData::new(dx, [g.batch, g.c_in, g.h, g.w]))
            }
            None => Self::conv2d_x_backward(x, weight, grad, options),
        }
    }

    fn conv2d_weight_grad(x: FlexTensor, weight: FlexTensor, grad: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        match Geometry::of(&x, &weight, &options) {
            Some(g) => {
                let (x, dy) = (x.to_contiguous(), grad.to_contiguous());
                let dw = g.weight_grad(f32s(&x), f32s(&dy));
                FlexTensor::from_data(TensorData::new(dw, [g.c_out, g.c_in, g.kh, g.kw]))
            }
            None => Self::conv2d_weight_backward(x, weight, grad, options),
        }
    }
}

/// The backward step's common part: registers, for the parents whose nodes are given (`[x,
/// weight]`), the input gradient and the weight gradient of a convolution whose output gradient
/// is `grad`, reading `x` and the weight from their checkpoints.
fn register_input_and_weight_grads<B: Backend + ConvBackend>(
    grads: &mut Gradients,
    checkpointer: &mut Checkpointer,
    [node_x, node_weight]: [Option<NodeId>; 2],
    [x_state, weight_state]: [NodeId; 2],
    grad: FloatTensor<B>,
    options: ConvOptions<2>,
) {
    let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
    let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
    if let Some(node) = node_x {
        grads.register::<B>(node, B::conv2d_input_grad(x.clone(), weight.clone(), grad.clone(), options.clone()));
    }
    if let Some(node) = node_weight {
        grads.register::<B>(node, B::conv2d_weight_grad(x, weight, grad, options));
    }
}

/// [`ConvBackend::conv2d_bias_act`] by burn's `conv2d` and `relu`.
fn conv2d_bias_act_by_burn<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    options: ConvOptions<2>,
    relu: bool,
) -> FloatTensor<B> {
    let y = B::conv2d(x, weight, Some(bias), options);
    if relu { B::relu(y) } else { y }
}

/// [`ConvBackend::bias_grad`] by burn's sums over the batch, height and width axes.
fn bias_grad_by_sums<B: Backend>(grad: FloatTensor<B>) -> FloatTensor<B> {
    let c = grad.shape().dims::<4>()[1];
    let summed = B::float_sum_dim(B::float_sum_dim(B::float_sum_dim(grad, 0), 2), 3);
    B::float_reshape(summed, [c].into())
}

/// Sum of a plane's values, in 16 running lanes (which the compiler vectorises).
fn plane_sum(plane: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = plane.chunks_exact(16);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    lanes.iter().sum::<f32>() + rest
}

impl<B: Backend + ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn conv2d_bias_act(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        relu: bool,
    ) -> FloatTensor<Self> {
        /// Gradients of the input, the weight and the bias, through the ReLU when there is one.
        #[derive(Debug)]
        struct ConvBiasAct;

        impl<B: Backend + ConvBackend> Backward<B, 3> for ConvBiasAct {
            /// Checkpoints of `x` and the weight, the op's output when it ends in a ReLU (its
            /// positive entries pass the gradient), the options.
            type State = (NodeId, NodeId, Option<FloatTensor<B>>, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, output, options) = ops.state;
                let grad = match output {
                    Some(output) => B::relu_grad(output, grad),
                    None => grad,
                };
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::bias_grad(grad.clone()));
                }
                let nodes = [node_x.map(|n| n.id), node_weight.map(|n| n.id)];
                register_input_and_weight_grads::<B>(
                    grads,
                    checkpointer,
                    nodes,
                    [x_state, weight_state],
                    grad,
                    options,
                );
            }
        }

        match ConvBiasAct.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::conv2d_bias_act(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options.clone(),
                    relu,
                );
                prep.finish((x_state, weight_state, relu.then(|| y.clone()), options), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_bias_act(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                options,
                relu,
            )),
        }
    }

    fn conv2d_nobias(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        /// Input and weight gradients: [`ConvBackend`]'s.
        #[derive(Debug)]
        struct ConvNoBias;

        impl<B: Backend + ConvBackend> Backward<B, 2> for ConvNoBias {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let nodes = [node_x.map(|n| n.id), node_weight.map(|n| n.id)];
                register_input_and_weight_grads::<B>(
                    grads,
                    checkpointer,
                    nodes,
                    [x_state, weight_state],
                    grad,
                    options,
                );
            }
        }

        match ConvNoBias.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let y = B::conv2d_nobias(x.into_primitive(), weight.into_primitive(), options.clone());
                prep.finish((x_state, weight_state, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv2d_nobias(x.into_primitive(), weight.into_primitive(), options))
            }
        }
    }
}

/// `conv`'s forward pass: `[batch, c_in, h, w]` → `[batch, c_out, h_out, w_out]`, the same value
/// as [`Conv2d::forward`], through [`conv2d_with`] (burn's own forward for "same" padding, which
/// depends on the input size).
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_act(conv, x, false)
}

/// `relu(conv(x))`: `[batch, c_in, h, w]` → `[batch, c_out, h_out, w_out]`, the value of
/// [`conv2d`] followed by burn's `relu`. On the `flex` device the bias and the ReLU are applied as
/// the convolution writes its output, and differentiated in one step of its backward pass.
pub fn conv2d_relu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_act(conv, x, true)
}

/// [`conv2d`], then a ReLU when `relu`.
pub(crate) fn conv2d_act(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let Some(options) = options_of(conv) else {
        let y = conv.forward(x);
        return if relu { activation::relu(y) } else { y };
    };
    conv2d_with_act(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), options, relu)
}

/// A 2-D convolution, the same value as burn's `module::conv2d`: `x` `[batch, c_in, h, w]`,
/// `weight` `[c_out, c_in / groups, kh, kw]`, `bias` `[c_out]` → `[batch, c_out, h_out, w_out]`.
/// On the `flex` device (with or without autodiff), ungrouped and undilated with symmetric
/// padding, it runs netlens's kernels (module docs); anything else is burn's `conv2d`.
pub fn conv2d_with(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    conv2d_with_act(x, weight, bias, options, false)
}

/// [`conv2d_with`], then a ReLU when `relu`.
pub(crate) fn conv2d_with_act(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    relu: bool,
) -> Tensor<4> {
    let act = |y: Tensor<4>| if relu { activation::relu(y) } else { y };
    if !covers(&x, &options) {
        return act(burn::tensor::module::conv2d(x, weight, bias, options));
    }
    match bias {
        Some(bias) => Tensor::from_dispatch(<Dispatch as ConvBackend>::conv2d_bias_act(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
            options,
            relu,
        )),
        None => act(conv2d_nobias(x, weight, options)),
    }
}

/// `conv`'s options, `None` for "same" padding (computed from the input size).
fn options_of(conv: &Conv2d) -> Option<ConvOptions<2>> {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => return None,
    };
    Some(ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups))
}

/// Whether netlens's kernels cover a convolution of `x` with `options` (module docs).
fn covers(x: &Tensor<4>, options: &ConvOptions<2>) -> bool {
    options.groups == 1
        && options.dilation == [1, 1]
        && !options.is_asymmetric()
        && x.dtype() == DType::F32
        && is_flex(&x.device())
}

/// [`ConvBackend::conv2d_nobias`] on tensors: `x` `[batch, c_in, h, w]`, `weight` `[c_out, c_in,
/// kh, kw]` → `[batch, c_out, h_out, w_out]`; recorded by autodiff on an autodiff device.
pub fn conv2d_nobias(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBackend>::conv2d_nobias(x.into_dispatch(), weight.into_dispatch(), options))
}

/// [`ConvBackend::conv2d_input_grad`] on tensors: the input gradient `[batch, c_in, h, w]` (the
/// shape of `x`) given the output gradient `grad` `[batch, c_out, h_out, w_out]`.
pub fn conv2d_input_grad(x: Tensor<4>, weight: Tensor<4>, grad: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBackend>::conv2d_input_grad(
        x.into_dispatch(),
        weight.into_dispatch(),
        grad.into_dispatch(),
        options,
    ))
}

/// [`ConvBackend::conv2d_weight_grad`] on tensors: the weight gradient `[c_out, c_in, kh, kw]`
/// given the input `x` and the output gradient `grad` `[batch, c_out, h_out, w_out]`.
pub fn conv2d_weight_grad(x: Tensor<4>, weight: Tensor<4>, grad: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBackend>::conv2d_weight_grad(
        x.into_dispatch(),
        weight.into_dispatch(),
        grad.into_dispatch(),
        options,
    ))
}

fn is_flex(device: &Device) -> bool {
    let flex = Device::flex();
    *device == flex || *device == flex.autodiff()
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

/// Shapes of one convolution (stride, symmetric zero padding, no dilation or groups).
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    pad: [usize; 2],
    h_out: usize,
    w_out: usize,
}

impl Geometry {
    /// `None` for what the kernels here do not cover (groups, dilation, asymmetric padding, a
    /// dtype other than f32): the caller falls back to burn.
    fn of(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> Option<Self> {
        if options.groups != 1
            || options.dilation != [1, 1]
            || options.is_asymmetric()
            || x.dtype() != DType::F32
            || weight.dtype() != DType::F32
        {
            return None;
        }
        let [batch, c_in, h, w]: [usize; 4] = x.layout().shape().dims();
        let [c_out, c_in_w, kh, kw]: [usize; 4] = weight.layout().shape().dims();
        let pad = options.padding_begin();
        let stride = options.stride;
        if c_in_w != c_in || h + 2 * pad[0] < kh || w + 2 * pad[1] < kw {
            return None;
        }
        let h_out = (h + 2 * pad[0] - kh) / stride[0] + 1;
        let w_out = (w + 2 * pad[1] - kw) / stride[1] + 1;
        Some(Geometry { batch, c_in, h, w, c_out, kh, kw, stride, pad, h_out, w_out })
    }

    fn pixels_in(&self) -> usize {
        self.c_in * self.h * self.w
    }

    fn pixels_out(&self) -> usize {
        self.h_out * self.w_out
    }

    /// Rows of im2col: `c_in·kh·kw`.
    fn patch(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// A 1×1, stride-1, unpadded convolution reads the image itself as its im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Whether the weight gradient's product packs the output gradient rather than the im2col
    /// matrix (see [`Self::weight_grad`]): measured faster up to 64 filters (the CNN's and the
    /// VAE's layers, ResNet-34's layer1), slower from 128 (ResNet-34's layer2 to layer4).
    fn few_filters(&self) -> bool {
        self.c_out <= 64
    }

    /// Chunks of images, one per thread, in a fixed order: the weight gradient sums per chunk and
    /// then over chunks in order, so the same thread count gives the same bits every time.
    fn images_per_chunk(&self) -> usize {
        self.batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
    }

    /// Images whose im2col matrices sit side by side in one matrix product: as many of a chunk's
    /// as fit in [`COLUMNS_BUDGET`] floats (at least one). One product over many images packs its
    /// small operand once and gives the weight gradient a long sum, where one product per image
    /// spent most of its time packing (the VAE's 32→16 layer at 32²: 36 GFLOP/s, PyTorch 339).
    fn images_per_group(&self) -> usize {
        (COLUMNS_BUDGET / (self.patch() * self.pixels_out()).max(1)).clamp(1, self.images_per_chunk())
    }

    /// Runs `work(images, outputs, parallel, scratch, partial)` over groups of images (see
    /// [`Self::images_per_group`]): the chunks in parallel (one per thread), the groups of a chunk
    /// in order. `outputs` is the group's slice of `outputs` (`per_image` floats per image);
    /// `parallel` says whether gemm should use threads itself (when there is a single chunk);
    /// `scratch` is the thread's two scratch buffers; `partial` is the chunk's running result,
    /// empty at its first group. Returns the chunks' `partial`s in order.
    fn for_groups(
        &self,
        outputs: &mut [f32],
        per_image: usize,
        work: impl Fn(Range<usize>, &mut [f32], bool, &mut [Vec<f32>; 2], &mut Vec<f32>) + Sync,
    ) -> Vec<Vec<f32>> {
        let chunk = self.images_per_chunk();
        let most = self.images_per_group();
        let group = chunk.div_ceil(chunk.div_ceil(most));
        let chunks = self.batch.div_ceil(chunk);
        let run = |(c, out): (usize, &mut [f32])| {
            let mut scratch = SCRATCH.with(RefCell::take);
            let mut partial = Vec::new();
            let images = c * chunk..((c + 1) * chunk).min(self.batch);
            let mut first = images.start;
            while first < images.end {
                let group = first..(first + group).min(images.end);
                let local = (group.start - images.start) * per_image..(group.end - images.start) * per_image;
                work(group.clone(), &mut out[local], chunks == 1, &mut scratch, &mut partial);
                first = group.end;
            }
            // Kept for the next call unless one huge image made them outgrow the budget.
            if scratch.iter().all(|b| b.capacity() <= 2 * COLUMNS_BUDGET) {
                SCRATCH.with(|s| s.replace(scratch));
            }
            partial
        };
        if per_image == 0 {
            (0..chunks).into_par_iter().map(|c| run((c, &mut []))).collect()
        } else {
            outputs.par_chunks_mut(chunk * per_image).enumerate().map(run).collect()
        }
    }

    /// `x` `[c_in, h, w]` of one image → its block of an im2col matrix `[c_in·kh·kw, ·]` whose rows
    /// are `row_stride` floats apart, `h_out·w_out` columns from `cols`'s start; zero outside the
    /// image.
    fn im2col(&self, x: &[f32], cols: &mut [f32], row_stride: usize) {
        if self.is_same_size() {
            return self.each_shift(|ci, row, [lines, span], [offset, dx]| {
                let out = &mut cols[row * row_stride..][..self.pixels_out()];
                let plane = &x[ci * self.h * self.w..][..self.h * self.w];
                let [lo, hi] = span;
                out[..lo].fill(0.0);
                out[hi..].fill(0.0);
                if lo < hi {
                    out[lo..hi].copy_from_slice(&plane[lo.wrapping_add_signed(offset)..hi.wrapping_add_signed(offset)]);
                }
                self.zero_wrapped_columns(out, lines, dx);
            });
        }
        self.each_window_line(|ci, row, oy, iy, [first, end], start| {
            let out = &mut cols[row * row_stride + oy * self.w_out..][..self.w_out];
            let Some(iy) = iy else {
                out.fill(0.0);
                return;
            };
            let line = &x[(ci * self.h + iy) * self.w..][..self.w];
            out[..first].fill(0.0);
            out[end..].fill(0.0);
            if self.stride[1] == 1 {
                out[first..end].copy_from_slice(&line[start..start + end - first]);
            } else {
                let inside = line[start..].iter().step_by(self.stride[1]);
                out[first..end].iter_mut().zip(inside).for_each(|(o, v)| *o = *v);
            }
        });
    }

    /// The transpose of [`Self::im2col`]: adds one image's block of an im2col-shaped matrix
    /// (rows `row_stride` apart) into `dx` `[c_in, h, w]` at the pixels each entry was read from.
    fn col2im_add(&self, cols: &mut [f32], row_stride: usize, dx: &mut [f32]) {
        if self.is_same_size() {
            return self.each_shift(|ci, row, [lines, span], [offset, shift_x]| {
                let from = &mut cols[row * row_stride..][..self.pixels_out()];
                self.zero_wrapped_columns(from, lines, shift_x);
                let plane = &mut dx[ci * self.h * self.w..][..self.h * self.w];
                let [lo, hi] = span;
                if lo == hi {
                    return;
                }
                let to = &mut plane[lo.wrapping_add_signed(offset)..hi.wrapping_add_signed(offset)];
                add(to, &from[lo..hi]);
            });
        }
        self.each_window_line(|ci, row, oy, iy, [first, end], start| {
            let Some(iy) = iy else { return };
            let from = &cols[row * row_stride + oy * self.w_out..][..self.w_out];
            let line = &mut dx[(ci * self.h + iy) * self.w..][..self.w];
            if self.stride[1] == 1 {
                add(&mut line[start..start + end - first], &from[first..end]);
            } else {
                let inside = line[start..].iter_mut().step_by(self.stride[1]);
                inside.zip(&from[first..end]).for_each(|(d, v)| *d += v);
            }
        });
    }

    /// A stride-1 convolution whose output is as large as its input ("same" padding, odd kernel):
    /// each im2col row is then the input plane shifted by one offset, with zeros where the window
    /// hangs over the border, so [`Self::each_shift`] handles a whole row at a time.
    fn is_same_size(&self) -> bool {
        self.stride == [1, 1] && self.h_out == self.h && self.w_out == self.w
    }

    /// For a [same-size](Self::is_same_size) convolution, calls `f(ci, row, [lines, span], [offset,
    /// dx])` for every im2col row `row = (ci·kh + ky)·kw + kx`: the row's entry `i` (an output
    /// pixel) reads input pixel `i + offset` of plane `ci` (`offset = dy·w + dx`, the window's
    /// shift) for `i` in `span`, except in the columns [`Self::zero_wrapped_columns`] clears, and
    /// is zero outside `span`; `lines` are the output lines whose input line lies in the image.
    fn each_shift(&self, mut f: impl FnMut(usize, usize, [[usize; 2]; 2], [isize; 2])) {
        let (h, w) = (self.h as isize, self.w as isize);
        let [py, px] = self.pad.map(|p| p as isize);
        for ci in 0..self.c_in {
            for ky in 0..self.kh {
                for kx in 0..self.kw {
                    let row = (ci * self.kh + ky) * self.kw + kx;
                    let (dy, dx) = (ky as isize - py, kx as isize - px);
                    let offset = dy * w + dx;
                    let lines = [(-dy).clamp(0, h), (h - dy).clamp(0, h)];
                    let lo = (lines[0] * w).max(-offset).min(h * w);
                    let hi = (lines[1] * w).min(h * w - offset).max(lo);
                    f(ci, row, [lines.map(|l| l as usize), [lo as usize, hi as usize]], [offset, dx]);
                }
            }
        }
    }

    /// Zeroes, on `lines` of an im2col row of a [same-size](Self::is_same_size) convolution whose
    /// window column is `dx` away from the output column, the columns whose window column falls outside the image: the contiguous
    /// shift in [`Self::each_shift`] wraps them to the neighbouring input line.
    fn zero_wrapped_columns(&self, row: &mut [f32], [first, end]: [usize; 2], dx: isize) {
        let columns =
            if dx > 0 { self.w - (dx as usize).min(self.w)..self.w } else { 0..(dx.unsigned_abs()).min(self.w) };
        if columns.is_empty() {
            return;
        }
        for line in first..end {
            row[line * self.w..][columns.clone()].fill(0.0);
        }
    }

    /// Calls `f(ci, row, oy, iy, [first, end], start)` for every im2col row `row = (ci·kh + ky)·kw
    /// + kx` and output line `oy`: `iy` is the input line it reads (`None` in the padding), output
    /// columns `first..end` read input columns `start, start + stride, …`, the others padding.
    fn each_window_line(&self, mut f: impl FnMut(usize, usize, usize, Option<usize>, [usize; 2], usize)) {
        let ([sy, sx], [py, px]) = (self.stride, self.pad);
        for ci in 0..self.c_in {
            for ky in 0..self.kh {
                for kx in 0..self.kw {
                    let row = (ci * self.kh + ky) * self.kw + kx;
                    let first = px.saturating_sub(kx).div_ceil(sx).min(self.w_out);
                    let end = (self.w + px).saturating_sub(kx).div_ceil(sx).clamp(first, self.w_out);
                    let start = (first * sx + kx).saturating_sub(px);
                    for oy in 0..self.h_out {
                        let iy = (oy * sy + ky).checked_sub(py).filter(|&iy| iy < self.h);
                        f(ci, row, oy, iy, [first, end], start);
                    }
                }
            }
        }
    }

    /// The im2col matrix `[c_in·kh·kw, n·h_out·w_out]` of the `n` images `xs` (`[n, c_in, h, w]`),
    /// image after image along the columns, written into `buffer`.
    fn columns<'a>(&self, xs: &[f32], buffer: &'a mut Vec<f32>) -> &'a [f32] {
        let (n, p) = (xs.len() / self.pixels_in(), self.pixels_out());
        grow(buffer, self.patch() * n * p);
        for (i, x) in xs.chunks(self.pixels_in()).enumerate() {
            if self.is_pointwise() {
                for (ci, plane) in x.chunks(p).enumerate() {
                    buffer[ci * n * p + i * p..][..p].copy_from_slice(plane);
                }
            } else {
                self.im2col(x, &mut buffer[i * p..], n * p);
            }
        }
        &buffer[..self.patch() * n * p]
    }

    /// `ys` `[n, c_out, h_out·w_out]` (one tensor's images) gathered into `[c_out, n·h_out·w_out]`
    /// in `buffer`, the layout of [`Self::columns`]; a single image is returned as it is.
    fn gather_channels<'a>(&self, ys: &'a [f32], buffer: &'a mut Vec<f32>) -> &'a [f32] {
        let (p, co) = (self.pixels_out(), self.c_out);
        let n = ys.len() / (co * p);
        if n == 1 {
            return ys;
        }
        grow(buffer, ys.len());
        for (i, y) in ys.chunks(co * p).enumerate() {
            for (c, plane) in y.chunks(p).enumerate() {
                buffer[c * n * p + i * p..][..p].copy_from_slice(plane);
            }
        }
        &buffer[..ys.len()]
    }

    /// A [same-size](Self::is_same_size) convolution with a kernel larger than 1×1 on planes of
    /// at least [`SHIFTED_MIN_PIXELS`]: one the shifted products can compute.
    fn is_shiftable(&self) -> bool {
        self.is_same_size() && !self.is_pointwise() && self.h * self.w >= SHIFTED_MIN_PIXELS
    }

    /// Whether the forward pass runs [`Self::forward_shifted`]: [shiftable](Self::is_shiftable),
    /// with at most half as many output channels as input channels. The shifted products read and
    /// write the `[c_out, n·plane]` output once per window position, where im2col writes `kh·kw`
    /// copies of the `[c_in, n·plane]` input once; measured (`kernels/examples/conv_routes.rs`)
    /// 2.3× faster on the VAE's 16→3 layer and ~10 % on its 32→16, 3× slower on the CNN's 1→16,
    /// 40 % slower on ResNet-34's 64→64 at 56².
    fn is_shifted_forward(&self) -> bool {
        self.is_shiftable() && 2 * self.c_out <= self.c_in
    }

    /// Whether the weight gradient runs [`Self::weight_grad_shifted`]: [shiftable](Self::is_shiftable),
    /// with a small `[c_out, c_in]` block per window position (at most
    /// [`SHIFTED_WEIGHT_GRAD_MAX_BLOCK`] entries, `c_in ≥ 8`): measured 5× faster on the VAE's 16→3
    /// layer and 1.4–2.6× on the CNN's 16→16, slower on the VAE's 32→16 (10–30 %), on a single
    /// input channel and on ResNet-34's 64→64 (2×).
    fn is_shifted_weight_grad(&self) -> bool {
        self.is_shiftable() && self.c_in >= 8 && self.c_out * self.c_in <= SHIFTED_WEIGHT_GRAD_MAX_BLOCK
    }

    /// The `n` images `xs` (`[n, c_in, h, w]`) zero-padded by `pad` into `buffer` as `[c_in, L]`
    /// rows, each holding the images' padded planes (`(h + 2·py)·(w + 2·px)` floats) one after
    /// another and then `(kh − 1)·(w + 2·px) + kw − 1` zeros, so that every window shift of
    /// [`Self::forward_shifted`] stays inside the row. Returns the row length `L`.
    fn padded_planes(&self, xs: &[f32], buffer: &mut Vec<f32>) -> usize {
        let [py, px] = self.pad;
        let wp = self.w + 2 * px;
        let n = xs.len() / self.pixels_in();
        let row = n * (self.h + 2 * py) * wp + (self.kh - 1) * wp + self.kw - 1;
        self.onto_padded_grid(xs, self.c_in, row, py * wp + px, buffer);
        row
    }

    /// Writes `images` (`[n, channels, h, w]`) into `buffer` as `[channels, row]` zero-filled
    /// rows, image `b`'s plane at `b·(h + 2·py)·(w + 2·px) + origin` of its channel's row, its
    /// lines `w + 2·px` apart: the layout of [`Self::padded_planes`] (origin inside the padding)
    /// and of the padded output gradient of [`Self::weight_grad_shifted`] (origin 0).
    fn onto_padded_grid(&self, images: &[f32], channels: usize, row: usize, origin: usize, buffer: &mut Vec<f32>) {
        let [py, px] = self.pad;
        let wp = self.w + 2 * px;
        let plane = (self.h + 2 * py) * wp;
        let (h, w) = (self.h, self.w);
        buffer.clear();
        buffer.resize(channels * row, 0.0);
        for (b, image) in images.chunks(channels * h * w).enumerate() {
            for (c, src) in image.chunks(h * w).enumerate() {
                let dst = &mut buffer[c * row + b * plane + origin..];
                for (r, line) in src.chunks(w).enumerate() {
                    dst[r * wp..][..w].copy_from_slice(line);
                }
            }
        }
    }

    /// The forward pass of a [same-size](Self::is_same_size) convolution over `n` images without
    /// an im2col matrix: on the padded planes of [`Self::padded_planes`], output pixel `q` (counted
    /// on the padded grid) is `Σ_(ky, kx) W[:, :, ky, kx] · x_padded[:, q + ky·(w + 2·px) + kx]`,
    /// one matrix product per window position over all images at once, accumulated in `product`
    /// (`[c_out, n·padded plane]`; the padding's positions are computed and dropped). Writes
    /// `ys` `[n, c_out, h, w]` through `epilogue`.
    #[allow(clippy::too_many_arguments)]
    fn forward_shifted(
        &self,
        xs: &[f32],
        w: &[f32],
        ys: &mut [f32],
        epilogue: Epilogue,
        parallel: bool,
        padded: &mut Vec<f32>,
        product: &mut Vec<f32>,
    ) {
        let [py, px] = self.pad;
        let wp = self.w + 2 * px;
        let plane = (self.h + 2 * py) * wp;
        let n = xs.len() / self.pixels_in();
        let (co, ci, taps) = (self.c_out, self.c_in, self.kh * self.kw);
        let row = self.padded_planes(xs, padded);
        let columns = n * plane;
        grow(product, co * columns);
        for ky in 0..self.kh {
            for kx in 0..self.kw {
                let tap = ky * self.kw + kx;
                // product [co, n·plane] (+)= W[:, :, ky, kx] [co, ci] · shifted planes [ci, n·plane].
                unsafe {
                    matmul(
                        co,
                        columns,
                        ci,
                        product.as_mut_ptr(),
                        [columns, 1],
                        tap > 0,
                        w.as_ptr().add(tap),
                        [ci * taps, taps],
                        padded.as_ptr().add(ky * wp + kx),
                        [row, 1],
                        parallel,
                    )
                };
            }
        }
        let p = self.pixels_out();
        for (b, y) in ys.chunks_mut(co * p).enumerate() {
            for (c, out) in y.chunks_mut(p).enumerate() {
                let src = &product[c * columns + b * plane..];
                for (r, line) in out.chunks_mut(self.w).enumerate() {
                    epilogue.write(c, line, &src[r * wp..][..self.w]);
                }
            }
        }
    }

    /// `y = epilogue(W · im2col(x))` over groups of images; `x` `[batch, c_in, h, w]`, `w` `[c_out,
    /// c_in, kh, kw]` → `[batch, c_out, h_out, w_out]`.
    fn forward(&self, x: &[f32], w: &[f32], epilogue: Epilogue) -> Vec<f32> {
        let (k, p, co) = (self.patch(), self.pixels_out(), self.c_out);
        let mut y = vec![0.0f32; self.batch * co * p];
        let group = |images: Range<usize>,
                     ys: &mut [f32],
                     parallel: bool,
                     buffers: &mut [Vec<f32>; 2],
                     _: &mut Vec<f32>| {
            let n = images.len();
            let [cols, product] = buffers;
            let xs = &x[images.start * self.pixels_in()..images.end * self.pixels_in()];
            if self.is_shifted_forward() {
                return self.forward_shifted(xs, w, ys, epilogue, parallel, cols, product);
            }
            let cols = self.columns(xs, cols);
            // [co, n·p] = W [co, k] · cols [k, n·p], written straight into y for one image.
            let dst = if n == 1 {
                ys.as_mut_ptr()
            } else {
                grow(product, co * n * p);
                product.as_mut_ptr()
            };
            unsafe {
                matmul(co, n * p, k, dst, [n * p, 1], false, w.as_ptr(), [k, 1], cols.as_ptr(), [n * p, 1], parallel)
            };
            for (i, y) in ys.chunks_mut(co * p).enumerate() {
                for (c, plane) in y.chunks_mut(p).enumerate() {
                    if n > 1 {
                        epilogue.write(c, plane, &product[c * n * p + i * p..][..p]);
                    } else {
                        epilogue.apply(c, plane);
                    }
                }
            }
        };
        self.for_groups(&mut y, co * p, group);
        y
    }

    /// The input gradient `dx = col2im(Wᵀ · dy)` over groups of images; `w` `[c_out, c_in, kh,
    /// kw]`, `dy` `[batch, c_out, h_out, w_out]` → `[batch, c_in, h, w]`.
    fn input_grad(&self, w: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p, co) = (self.patch(), self.pixels_out(), self.c_out);
        let mut dx = vec![0.0f32; self.batch * self.pixels_in()];
        let group =
            |images: Range<usize>, dxs: &mut [f32], parallel: bool, buffers: &mut [Vec<f32>; 2], _: &mut Vec<f32>| {
                let n = images.len();
                let [gathered, cols] = buffers;
                let dys = self.gather_channels(&dy[images.start * co * p..images.end * co * p], gathered);
                // dcols [k, n·p] = Wᵀ [k, co] · dy [co, n·p]; a pointwise convolution's is dx itself.
                let pointwise_single = self.is_pointwise() && n == 1;
                let dst = if pointwise_single {
                    dxs.as_mut_ptr()
                } else {
                    grow(cols, k * n * p);
                    cols.as_mut_ptr()
                };
                unsafe {
                    matmul(k, n * p, co, dst, [n * p, 1], false, w.as_ptr(), [1, k], dys.as_ptr(), [n * p, 1], parallel)
                };
                if pointwise_single {
                    return;
                }
                for (i, dx) in dxs.chunks_mut(self.pixels_in()).enumerate() {
                    if self.is_pointwise() {
                        for (ci, plane) in dx.chunks_mut(p).enumerate() {
                            plane.copy_from_slice(&cols[ci * n * p + i * p..][..p]);
                        }
                    } else {
                        self.col2im_add(&mut cols[i * p..], n * p, dx);
                    }
                }
            };
        self.for_groups(&mut dx, self.pixels_in(), group);
        dx
    }

    /// `dW = Σ_images dy · im2col(x)ᵀ`; `x` `[batch, c_in, h, w]`, `dy` `[batch, c_out, h_out,
    /// w_out]` → `[c_out, c_in, kh, kw]`. Each thread sums its chunk's groups in order, then the
    /// chunks are added in order.
    fn weight_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        if self.is_shifted_weight_grad() {
            return self.weight_grad_shifted(x, dy);
        }
        let (k, p, co) = (self.patch(), self.pixels_out(), self.c_out);
        let group =
            |images: Range<usize>, _: &mut [f32], parallel: bool, buffers: &mut [Vec<f32>; 2], dw: &mut Vec<f32>| {
                let n = images.len();
                let [gathered, cols] = buffers;
                let accumulate = !dw.is_empty();
                dw.resize(co * k, 0.0);
                let cols = self.columns(&x[images.start * self.pixels_in()..images.end * self.pixels_in()], cols);
                let dys = self.gather_channels(&dy[images.start * co * p..images.end * co * p], gathered);
                // Few filters: dW [co, k] (+)= dy [co, n·p] · colsᵀ [n·p, k], kept column-major (as
                // dWᵀ [k, co]), so gemm packs only dy (c_out rows) and reads the columns as they lie,
                // where the other orientation packs the whole im2col matrix to use each value c_out
                // times. Many filters: dWᵀ [k, co] (+)= cols [k, n·p] · dyᵀ [n·p, co], row-major.
                unsafe {
                    if self.few_filters() {
                        matmul(
                            co,
                            k,
                            n * p,
                            dw.as_mut_ptr(),
                            [1, co],
                            accumulate,
                            dys.as_ptr(),
                            [n * p, 1],
                            cols.as_ptr(),
                            [1, n * p],
                            parallel,
                        )
                    } else {
                        matmul(
                            k,
                            co,
                            n * p,
                            dw.as_mut_ptr(),
                            [1, k],
                            accumulate,
                            cols.as_ptr(),
                            [n * p, 1],
                            dys.as_ptr(),
                            [1, n * p],
                            parallel,
                        )
                    }
                };
            };
        let mut partials = self.for_groups(&mut [], 0, group).into_iter();
        let mut dw_t = partials.next().filter(|dw| !dw.is_empty()).unwrap_or_else(|| vec![0.0; co * k]);
        for part in partials {
            add(&mut dw_t, &part);
        }
        if !self.few_filters() {
            return dw_t;
        }
        // dWᵀ [k, co] → dW [co, k].
        let mut dw = vec![0.0f32; co * k];
        for (r, row) in dw_t.chunks(co).enumerate() {
            row.iter().enumerate().for_each(|(c, v)| dw[c * k + r] = *v);
        }
        dw
    }
}

impl Geometry {
    /// The weight gradient of a [shiftable](Self::is_shiftable) convolution without an im2col matrix:
    /// `dW[:, :, ky, kx] = dy_padded [c_out, n·plane] · x_padded[:, · + ky·(w + 2·px) + kx]ᵀ`, one
    /// product per window position, where `dy_padded` is `dy` laid out on the padded grid of
    /// [`Self::padded_planes`] with zeros at the padding's positions (which the forward pass
    /// computed and dropped). Summed per chunk of images, then over chunks in order, as
    /// [`Self::weight_grad`]. `x` `[batch, c_in, h, w]`, `dy` `[batch, c_out, h, w]` → `[c_out,
    /// c_in, kh, kw]`.
    fn weight_grad_shifted(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (p, co, ci, taps) = (self.pixels_out(), self.c_out, self.c_in, self.kh * self.kw);
        let [py, px] = self.pad;
        let wp = self.w + 2 * px;
        let plane = (self.h + 2 * py) * wp;
        let group =
            |images: Range<usize>, _: &mut [f32], parallel: bool, buffers: &mut [Vec<f32>; 2], dw: &mut Vec<f32>| {
                let n = images.len();
                let [padded, dys] = buffers;
                let accumulate = !dw.is_empty();
                dw.resize(co * ci * taps, 0.0);
                let row =
                    self.padded_planes(&x[images.start * self.pixels_in()..images.end * self.pixels_in()], padded);
                let columns = n * plane;
                self.onto_padded_grid(&dy[images.start * co * p..images.end * co * p], co, columns, 0, dys);
                for ky in 0..self.kh {
                    for kx in 0..self.kw {
                        let tap = ky * self.kw + kx;
                        // dW[:, :, ky, kx] [co, ci] (+)= dy_padded [co, n·plane] · shiftedᵀ [n·plane, ci].
                        unsafe {
                            matmul(
                                co,
                                ci,
                                columns,
                                dw.as_mut_ptr().add(tap),
                                [ci * taps, taps],
                                accumulate,
                                dys.as_ptr(),
                                [columns, 1],
                                padded.as_ptr().add(ky * wp + kx),
                                [1, row],
                                parallel,
                            )
                        };
                    }
                }
            };
        let mut partials = self.for_groups(&mut [], 0, group).into_iter();
        let mut dw = partials.next().filter(|dw| !dw.is_empty()).unwrap_or_else(|| vec![0.0; co * ci * taps]);
        for part in partials {
            add(&mut dw, &part);
        }
        dw
    }
}

/// Makes a scratch buffer at least `len` floats long. It never shrinks: the callers overwrite what
/// they use, and a buffer cut down for a small layer and grown again for the next large one would
/// zero-fill the difference on every call.
fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

/// What the forward pass applies to each output value as it writes it: the channel's bias, then a
/// ReLU (burn's: NaN passes through).
#[derive(Debug, Clone, Copy, Default)]
struct Epilogue<'a> {
    /// `[c_out]`.
    bias: Option<&'a [f32]>,
    relu: bool,
}

impl Epilogue<'_> {
    /// `dst = epilogue(src)` for values of output channel `c`.
    fn write(&self, c: usize, dst: &mut [f32], src: &[f32]) {
        match (self.bias, self.relu) {
            (None, false) => dst.copy_from_slice(src),
            (bias, relu) => {
                let b = bias.map_or(0.0, |b| b[c]);
                dst.iter_mut().zip(src).for_each(|(d, s)| *d = activate(s + b, relu));
            }
        }
    }

    /// `values = epilogue(values)` for values of output channel `c`.
    fn apply(&self, c: usize, values: &mut [f32]) {
        if self.bias.is_none() && !self.relu {
            return;
        }
        let b = self.bias.map_or(0.0, |b| b[c]);
        values.iter_mut().for_each(|v| *v = activate(*v + b, self.relu));
    }
}

/// `v`, or burn's ReLU of it when `relu`.
#[inline(always)]
fn activate(v: f32, relu: bool) -> f32 {
    if relu && !(v > 0.0 || v.is_nan()) { 0.0 } else { v }
}

/// `y[i] += x[i]`, vectorised for the CPU it runs on: through [`pulp::Arch::dispatch`], which
/// picks AVX-512, AVX2 or SSE at run time (the crate itself is compiled for baseline x86-64, where
/// the loop ran in SSE).
fn add(y: &mut [f32], x: &[f32]) {
    pulp::Arch::new().dispatch(Add(y, x));
}

/// [`add`]'s loop. It sits in `with_simd` itself, which is inlined into pulp's
/// `#[target_feature]` functions and so auto-vectorised with their instructions; a closure called
/// from there stayed out of line, in SSE.
struct Add<'a>(&'a mut [f32], &'a [f32]);

impl pulp::WithSimd for Add<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        self.0.iter_mut().zip(self.1).for_each(|(y, x)| *y += x);
    }
}

/// Floats of im2col matrix one matrix product may take (4 MiB): bounds the memory of a group of
/// images (see [`Geometry::images_per_group`]). Of 1 (one image per product), 256 Ki, 1 Mi and
/// 4 Mi floats, 1 Mi was fastest over the CNN's and the VAE's layers (`examples/conv_routes.rs`);
/// at 4 Mi the columns no longer stay in cache between im2col and the product.
const COLUMNS_BUDGET: usize = 1 << 20;

/// Pixels per plane from which same-size convolutions may skip im2col ([`Geometry::is_shiftable`]):
/// the shifted products also compute the padding's positions, `(h + 2)(w + 2)/(h·w) − 1` of
/// extra work for a 3×3 kernel — 13 % at 32², against 27 % at 16² and 56 % at 8², where the
/// forward pass of the VAE's 64→32 and 128→64 layers was 12 % and 30 % slower than im2col's.
const SHIFTED_MIN_PIXELS: usize = 32 * 32;

/// Largest `c_out·c_in` for [`Geometry::is_shifted_weight_grad`].
const SHIFTED_WEIGHT_GRAD_MAX_BLOCK: usize = 256;

thread_local! {
    /// Each thread's two scratch buffers (im2col matrices, gathered output gradients, products),
    /// kept between calls: a fresh allocation per call cost a page fault per 4 KiB touched, ~6 %
    /// of a VAE epoch.
    static SCRATCH: RefCell<[Vec<f32>; 2]> = RefCell::default();
}

/// `dst [m, n] (+)= lhs [m, k] · rhs [k, n]`, each matrix given by its `[row, column]` strides
/// in elements; `accumulate` adds to `dst` instead of overwriting it; `parallel` lets gemm use
/// rayon's threads.
///
/// # Safety
/// The pointers must address buffers that hold every element the strides reach.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_strides: [usize; 2],
    accumulate: bool,
    lhs: *const f32,
    lhs_strides: [usize; 2],
    rhs: *const f32,
    rhs_strides: [usize; 2],
    parallel: bool,
) {
    let [dst_rs, dst_cs] = dst_strides.map(|s| s as isize);
    let [lhs_rs, lhs_cs] = lhs_strides.map(|s| s as isize);
    let [rhs_rs, rhs_cs] = rhs_strides.map(|s| s as isize);
    let parallelism = if parallel { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // SAFETY: forwarded from the caller; gemm computes dst := α·dst + β·lhs·rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    };
}

/// Checks shared by the kernels' tests.
#[cfg(test)]
pub(crate) mod check {
    use burn::nn::conv::Conv2d;
    use burn::tensor::{Distribution, Tensor};

    /// Largest |a − b| relative to the largest |b|.
    pub(crate) fn relative_gap<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>();
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

    /// Asserts that `ours` and `theirs`, two computations of one output from the input `x` and
    /// `conv`'s parameters (on an autodiff device), agree within 1e-5 relative in value and in the
    /// gradients of `x`, the weight and the bias, under a loss that weighs every output
    /// differently (so no gradient is a plain sum).
    pub(crate) fn assert_same_values_and_gradients(
        case: &str,
        ours: Tensor<4>,
        theirs: Tensor<4>,
        x: &Tensor<4>,
        conv: &Conv2d,
    ) {
        assert_eq!(ours.dims(), theirs.dims(), "{case}");
        let gap = relative_gap(ours.clone().inner(), theirs.clone().inner());
        assert!(gap < 1e-5, "{case}: forward differs by {gap}");
        let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &ours.device());
        let grads_ours = (ours * weights.clone()).sum().backward();
        let grads_theirs = (theirs * weights).sum().backward();
        let dx = relative_gap(x.grad(&grads_ours).unwrap(), x.grad(&grads_theirs).unwrap());
        assert!(dx < 1e-5, "{case}: input gradient differs by {dx}");
        let dw = relative_gap(conv.weight.grad(&grads_ours).unwrap(), conv.weight.grad(&grads_theirs).unwrap());
        assert!(dw < 1e-5, "{case}: weight gradient differs by {dw}");
        if let Some(b) = &conv.bias {
            let db = relative_gap(b.grad(&grads_ours).unwrap(), b.grad(&grads_theirs).unwrap());
            assert!(db < 1e-5, "{case}: bias gradient differs by {db}");
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::check::assert_same_values_and_gradients;
    use super::*;

    /// Value, input gradient and weight and bias gradients of [`conv2d`] against burn's own
    /// `Conv2d::forward` (an independent implementation: burn-flex's tiled im2col forward and
    /// burn-backend's weight gradient), on flex with autodiff, for the geometries the models use
    /// and a few they do not (stride 2, a 7×7 kernel, one image, uneven sizes).
    #[test]
    fn matches_burn_conv2d_and_its_gradients() {
        let device = Device::flex().autodiff();
        device.seed(7);
        // (batch, c_in, c_out, size, kernel, stride, padding, bias)
        let cases = [
            (32, 1, 16, 32, 3, 1, 1, false),
            (8, 16, 32, 16, 3, 1, 1, false),
            (8, 32, 24, 16, 1, 1, 0, false),
            (4, 1, 6, 32, 5, 1, 0, true),
            (3, 6, 16, 14, 5, 1, 0, true),
            (1, 3, 64, 38, 7, 2, 3, false),
            (2, 5, 7, 11, 3, 2, 1, true),
            (5, 4, 3, 9, 4, 3, 2, true),
            // Same-size 5×5, images narrower than the kernel, several groups per thread.
            (6, 3, 5, 12, 5, 1, 2, true),
            (3, 2, 4, 1, 3, 1, 1, false),
            (3, 2, 4, 2, 5, 1, 2, false),
            (64, 32, 16, 32, 3, 1, 1, false),
            // Few filters (the shifted forward and weight gradient at 32²).
            (6, 16, 3, 32, 3, 1, 1, true),
            (40, 8, 4, 32, 3, 1, 1, true),
            (5, 12, 2, 33, 5, 1, 2, false),
            (3, 2, 1, 5, 5, 1, 2, false),
        ];
        for (batch, c_in, c_out, size, kernel, stride, pad, bias) in cases {
            let conv = Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(bias)
                .init(&device);
            let x =
                Tensor::<4>::random([batch, c_in, size, size], Distribution::Normal(0.0, 1.0), &device).require_grad();
            assert!(covers(&x, &options_of(&conv).unwrap()), "netlens's kernels should take this case");
            let case = format!("batch {batch}, {c_in}→{c_out}, {size}², {kernel}×{kernel}/{stride} pad {pad}");
            assert_same_values_and_gradients(&case, conv2d(&conv, x.clone()), conv.forward(x.clone()), &x, &conv);
        }
    }

    /// [`conv2d_relu`] (bias and ReLU fused into the convolution) against burn's `relu` of burn's
    /// `Conv2d::forward`: value, input, weight and bias gradients, with and without a bias, for
    /// the im2col forward (one image and several), the shifted forward (few filters at 32²) and a
    /// strided layer. Half of the outputs are negative, so the ReLU's mask matters.
    #[test]
    fn conv2d_relu_matches_burn_relu_of_conv2d() {
        let device = Device::flex().autodiff();
        device.seed(5);
        // (batch, c_in, c_out, size, stride, bias)
        let cases = [
            (8, 3, 16, 16, 1, true),
            (1, 8, 12, 13, 1, true),
            (6, 16, 3, 32, 1, true),
            (5, 16, 4, 32, 1, false),
            (4, 3, 32, 17, 2, true),
        ];
        for (batch, c_in, c_out, size, stride, bias) in cases {
            let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(bias)
                .init(&device);
            let x =
                Tensor::<4>::random([batch, c_in, size, size], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ours = conv2d_relu(&conv, x.clone());
            let theirs = activation::relu(conv.forward(x.clone()));
            let case = format!("batch {batch}, {c_in}→{c_out}, {size}², stride {stride}, bias {bias}");
            let zeros = theirs.clone().inner().equal_elem(0.0).int().sum().into_scalar::<i64>() as usize;
            assert!(zeros > ours.shape().num_elements() / 4, "{case}: the ReLU should clip many outputs");
            assert_same_values_and_gradients(&case, ours, theirs, &x, &conv);
        }
    }

    /// Same inputs, same thread count ⇒ the same weight gradient to the bit (the per-chunk sums
    /// are added in a fixed order), as the exact-resume guarantee needs.
    #[test]
    fn weight_gradient_is_deterministic() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let conv =
            Conv2dConfig::new([16, 16], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&device);
        let x = Tensor::<4>::random([31, 16, 12, 12], Distribution::Normal(0.0, 1.0), &device);
        let grad = || conv.weight.grad(&conv2d(&conv, x.clone()).powi_scalar(2).sum().backward()).unwrap().into_data();
        let first = grad();
        for _ in 0..4 {
            assert_eq!(grad(), first);
        }
    }

    /// A non-square kernel with its own padding per axis (3×5, padding 1 and 2: same-size), which
    /// the whole-row shifts of same-size convolutions handle.
    #[test]
    fn matches_burn_for_a_non_square_kernel() {
        let device = Device::flex().autodiff();
        device.seed(11);
        let conv = Conv2dConfig::new([3, 4], [3, 5]).with_padding(PaddingConfig2d::Explicit(1, 2, 1, 2)).init(&device);
        let x = Tensor::<4>::random([5, 3, 7, 9], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let (ours, theirs) = (conv2d(&conv, x.clone()), conv.forward(x.clone()));
        assert_eq!(ours.dims(), [5, 4, 7, 9]);
        assert_same_values_and_gradients("3×5 kernel", ours, theirs, &x, &conv);
    }

    /// Grouped convolutions and other devices take burn's path; the values agree either way.
    #[test]
    fn grouped_convolution_falls_back_to_burn() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([4, 8], [3, 3]).with_groups(2).init(&device);
        let x = Tensor::<4>::random([2, 4, 9, 9], Distribution::Normal(0.0, 1.0), &device);
        assert!(!covers(&x, &options_of(&conv).unwrap()));
        assert_eq!(conv2d(&conv, x.clone()).into_data(), conv.forward(x).into_data());
    }
}
