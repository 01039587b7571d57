//! 2-D convolution for training on the `flex` CPU backend: im2col + one matrix product per image
//! for the forward pass and for the weight gradient.
//!
//! burn's `flex` backend computes a convolution's weight gradient (burn-backend's default
//! `conv2d_weight_backward`) as a convolution of the swapped input with the swapped output
//! gradient, whose "kernel" is the whole output map: one small matrix product per input channel
//! that re-packs the output gradient each time. `bench/conv_routes.py` measured it 9.7× slower
//! than PyTorch over the CNN's seven convolutions, and `flex`'s forward pass 2.8× slower. Here both
//! are the textbook lowering (Chellapilla et al. 2006, "High performance convolutional neural
//! networks for document processing"): per image, `cols = im2col(x)` of shape
//! `[c_in·kh·kw, h_out·w_out]`, then
//! - forward: `y = W · cols` with `W` viewed as `[c_out, c_in·kh·kw]`;
//! - weight gradient: `dW = Σ_images dy · colsᵀ` with `dy` viewed as `[c_out, h_out·w_out]`;
//!
//! the products run in the `gemm` crate (AVX-512 where the CPU has it). The input gradient stays
//! burn's (`flex`'s transposed convolution, at parity with PyTorch). The op is a burn backend
//! extension with its own backward step, so autodiff records it like burn's `conv2d`.
//!
//! Other devices (wgpu, cuda, CubeCL's cpu), grouped or dilated convolutions and asymmetric
//! padding go through burn's `conv2d` unchanged.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::FlexTensor;
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
                let y = g.forward(f32s(&x), f32s(&w));
                FlexTensor::from_data(TensorData::new(y, [g.batch, g.c_out, g.h_out, g.w_out]))
            }
            None => Self::conv2d(x, weight, None, options),
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

impl<B: Backend + ConvBackend, C: CheckpointStrategy> ConvBackend for Autodiff<B, C> {
    fn conv2d_nobias(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        /// Input gradient: burn's (a transposed convolution); weight gradient: [`ConvBackend`]'s.
        #[derive(Debug)]
        struct ConvNoBias;

        impl<B: Backend + ConvBackend> Backward<B, 2> for ConvNoBias {
            type State = (NodeId, NodeId, ConvOptions<2>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, weight_state, options) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
                let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(weight_state);
                if let Some(node) = node_x {
                    let dx = B::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, B::conv2d_weight_grad(x, weight, grad, options));
                }
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
    let Some(options) = options_of(conv) else {
        return conv.forward(x);
    };
    conv2d_with(x, conv.weight.val(), conv.bias.as_ref().map(|b| b.val()), options)
}

/// A 2-D convolution, the same value as burn's `module::conv2d`: `x` `[batch, c_in, h, w]`,
/// `weight` `[c_out, c_in / groups, kh, kw]`, `bias` `[c_out]` → `[batch, c_out, h_out, w_out]`.
/// On the `flex` device (with or without autodiff), ungrouped and undilated with symmetric
/// padding, it runs netlens's kernels (module docs); anything else is burn's `conv2d`.
pub fn conv2d_with(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    if !covers(&x, &options) {
        return burn::tensor::module::conv2d(x, weight, bias, options);
    }
    let y = conv2d_nobias(x, weight, options);
    match bias {
        Some(bias) => {
            let c_out = bias.dims()[0];
            y + bias.reshape([1, c_out, 1, 1])
        }
        None => y,
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

    /// Chunks of images, one per thread, in a fixed order: the weight gradient sums per chunk and
    /// then over chunks in order, so the same thread count gives the same bits every time.
    fn images_per_chunk(&self) -> usize {
        self.batch.div_ceil(rayon::current_num_threads().max(1)).max(1)
    }

    /// `x` `[c_in, h, w]` of one image → `cols` `[c_in·kh·kw, h_out·w_out]`, zero outside the image.
    fn im2col(&self, x: &[f32], cols: &mut [f32]) {
        let (p, [sy, sx], [py, px]) = (self.pixels_out(), self.stride, self.pad);
        for ci in 0..self.c_in {
            let plane = &x[ci * self.h * self.w..][..self.h * self.w];
            for ky in 0..self.kh {
                for kx in 0..self.kw {
                    let row = &mut cols[((ci * self.kh + ky) * self.kw + kx) * p..][..p];
                    for oy in 0..self.h_out {
                        let out = &mut row[oy * self.w_out..][..self.w_out];
                        let iy = (oy * sy + ky) as isize - py as isize;
                        if iy < 0 || iy >= self.h as isize {
                            out.fill(0.0);
                            continue;
                        }
                        let line = &plane[iy as usize * self.w..][..self.w];
                        // Output columns whose input column ox·sx + kx − px lies inside the image.
                        let first = px.saturating_sub(kx).div_ceil(sx).min(self.w_out);
                        let end = (self.w + px).saturating_sub(kx).div_ceil(sx).clamp(first, self.w_out);
                        out[..first].fill(0.0);
                        out[end..].fill(0.0);
                        let start = first * sx + kx - px;
                        if sx == 1 {
                            out[first..end].copy_from_slice(&line[start..start + end - first]);
                        } else {
                            let inside = line[start..].iter().step_by(sx);
                            out[first..end].iter_mut().zip(inside).for_each(|(o, v)| *o = *v);
                        }
                    }
                }
            }
        }
    }

    /// The im2col matrix of one image `x` (`[c_in, h, w]`): `x` itself for a pointwise
    /// convolution, else written into `buffer`.
    fn columns<'a>(&self, x: &'a [f32], buffer: &'a mut Vec<f32>) -> &'a [f32] {
        if self.is_pointwise() {
            return x;
        }
        buffer.resize(self.patch() * self.pixels_out(), 0.0);
        self.im2col(x, buffer);
        buffer
    }

    /// `y = W · im2col(x)` per image; `x` `[batch, c_in, h, w]`, `w` `[c_out, c_in, kh, kw]`.
    fn forward(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (k, p, co) = (self.patch(), self.pixels_out(), self.c_out);
        let mut y = vec![0.0f32; self.batch * co * p];
        let one_image = |(x, y): (&[f32], &mut [f32]), buffer: &mut Vec<f32>, parallel: bool| {
            let cols = self.columns(x, buffer);
            // y [co, p] = W [co, k] · cols [k, p], all row-major.
            unsafe {
                matmul(co, p, k, y.as_mut_ptr(), [p, 1], false, w.as_ptr(), [k, 1], cols.as_ptr(), [p, 1], parallel)
            };
        };
        if self.batch == 1 {
            one_image((x, &mut y), &mut Vec::new(), true);
        } else {
            x.par_chunks(self.pixels_in())
                .zip(y.par_chunks_mut(co * p))
                .for_each_init(Vec::new, |cols, pair| one_image(pair, cols, false));
        }
        y
    }

    /// `dW = Σ_images dy · im2col(x)ᵀ`; `x` `[batch, c_in, h, w]`, `dy` `[batch, c_out, h_out,
    /// w_out]` → `[c_out, c_in, kh, kw]`.
    fn weight_grad(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (k, p, co) = (self.patch(), self.pixels_out(), self.c_out);
        let chunk = self.images_per_chunk();
        let parallel_inside = self.batch < 2;
        let partial = |(xs, dys): (&[f32], &[f32])| {
            let mut dw = vec![0.0f32; co * k];
            let mut buffer = Vec::new();
            for (i, (x, dy)) in xs.chunks(self.pixels_in()).zip(dys.chunks(co * p)).enumerate() {
                let cols = self.columns(x, &mut buffer);
                // dwᵀ [k, co] (+)= cols [k, p] · dyᵀ [p, co], written through dw's strides: gemm
                // runs faster with the long side (k) as rows than with c_out.
                unsafe {
                    matmul(
                        k,
                        co,
                        p,
                        dw.as_mut_ptr(),
                        [1, k],
                        i > 0,
                        cols.as_ptr(),
                        [p, 1],
                        dy.as_ptr(),
                        [1, p],
                        parallel_inside,
                    )
                };
            }
            dw
        };
        let partials: Vec<Vec<f32>> =
            x.par_chunks(chunk * self.pixels_in()).zip(dy.par_chunks(chunk * co * p)).map(partial).collect();
        let mut partials = partials.into_iter();
        let mut dw = partials.next().unwrap_or_else(|| vec![0.0; co * k]);
        for part in partials {
            dw.iter_mut().zip(&part).for_each(|(a, b)| *a += b);
        }
        dw
    }
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

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    use super::*;

    /// Largest |a − b| relative to the largest |b|.
    fn relative_gap(a: Tensor<4>, b: Tensor<4>) -> f32 {
        let scale = b.clone().abs().max().into_scalar::<f32>();
        (a - b).abs().max().into_scalar::<f32>() / scale
    }

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
            let ours = conv2d(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            assert_eq!(ours.dims(), theirs.dims());
            let case = format!("batch {batch}, {c_in}→{c_out}, {size}², {kernel}×{kernel}/{stride} pad {pad}");
            let gap = relative_gap(ours.clone().inner(), theirs.clone().inner());
            assert!(gap < 1e-5, "{case}: forward differs by {gap}");
            // A loss that weighs every output differently, so no gradient is a plain sum.
            let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let grads_ours = (ours * weights.clone()).sum().backward();
            let grads_theirs = (theirs * weights).sum().backward();
            let dx = relative_gap(x.grad(&grads_ours).unwrap(), x.grad(&grads_theirs).unwrap());
            assert!(dx < 1e-5, "{case}: input gradient differs by {dx}");
            let dw = relative_gap(conv.weight.grad(&grads_ours).unwrap(), conv.weight.grad(&grads_theirs).unwrap());
            assert!(dw < 1e-5, "{case}: weight gradient differs by {dw}");
            if let Some(b) = &conv.bias {
                let (ours, theirs) = (b.grad(&grads_ours).unwrap(), b.grad(&grads_theirs).unwrap());
                let db = relative_gap(ours.reshape([1, 1, 1, c_out]), theirs.reshape([1, 1, 1, c_out]));
                assert!(db < 1e-5, "{case}: bias gradient differs by {db}");
            }
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
