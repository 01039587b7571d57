//! A ×2 nearest-neighbour upsampling followed by a 3×3 convolution (padding 1), computed as one
//! 2×2 convolution on the small image and a pixel interleave: the resize-convolution of the VAE's
//! decoder at under half the work.
//!
//! Output pixel `(2i + py, 2j + px)` of `conv3×3(upsample×2(x))` reads the upsampled rows
//! `2i + py − 1 … 2i + py + 1`, which are the input rows `i − 1, i, i` when `py = 0` and `i, i,
//! i + 1` when `py = 1` (and likewise for columns). So each of the four output parities `(py, px)`
//! is a 2×2 convolution of the input with the 3×3 kernel's taps summed where they read the same
//! input pixel: rows `[W₀, W₁ + W₂]` for `py = 0`, `[W₀ + W₁, W₂]` for `py = 1`. Aitken et al.,
//! "Checkerboard artifact free sub-pixel convolution" (2017, arXiv:1707.02937, section 3) show
//! this equivalence of resize-convolution and sub-pixel convolution with tied weights.
//!
//! One 2×2 convolution with padding 1 and `4·c_out` filters (the parities' kernels stacked)
//! computes all four on an `(h + 1) × (w + 1)` grid, parity `(py, px)` at offset `(py, px)`;
//! [`SubpixelBackend::interleave_parities`] then places them. That is `16·(1 + 1/h)²` multiply-adds
//! per output channel, input channel and input pixel instead of `36`, the input gradient comes out
//! at the input's resolution (no upsampling gradient to sum), and the upsampled image is never
//! written. The kernel stacking is built from burn tensor ops, so autodiff carries the weight
//! gradient back to the 3×3 kernel.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use crate::conv::{conv2d_act, conv2d_with_act};
use crate::resize::upsample_nearest;

/// The pixel interleave of the four parities (see the module docs). Every backend gets a default
/// built from burn's slices and concatenations; `Flex` has its own loops, and `Autodiff` records
/// [`SubpixelBackend::interleave_parities`] with [`SubpixelBackend::interleave_parities_grad`] as
/// its backward step.
#[backend_extension(Flex, Autodiff)]
pub trait SubpixelBackend: Backend {
    /// `parities` `[batch, 4·c, h + 1, w + 1]` (channel `p·c + k` is channel `k` of parity `p = 2·py
    /// + px`) → `[batch, c, 2h, 2w]` with pixel `(2i + py, 2j + px)` of channel `k` taken from
    /// `parities[·, p·c + k, i + py, j + px]`. `size` is `[h, w]`.
    fn interleave_parities(parities: FloatTensor<Self>, size: [usize; 2]) -> FloatTensor<Self>;

    /// The gradient of [`SubpixelBackend::interleave_parities`]: `grad` `[batch, c, 2h, 2w]` →
    /// `[batch, 4·c, h + 1, w + 1]`, zero where no output pixel reads.
    fn interleave_parities_grad(grad: FloatTensor<Self>, size: [usize; 2]) -> FloatTensor<Self>;
}

impl SubpixelBackend for Flex {
    fn interleave_parities(parities: FlexTensor, [h, w]: [usize; 2]) -> FlexTensor {
        let [batch, c4, _, _]: [usize; 4] = parities.layout().shape().dims();
        let c = c4 / 4;
        let src = parities.to_contiguous();
        let src = src.as_slice::<f32>().expect("a contiguous f32 tensor");
        let (plane, out_plane) = ((h + 1) * (w + 1), 4 * h * w);
        let mut y = vec![0.0f32; batch * c * out_plane];
        y.par_chunks_mut(c * out_plane.max(1)).zip(src.par_chunks(4 * c * plane.max(1))).for_each(|(ys, image)| {
            for (k, out) in ys.chunks_mut(out_plane.max(1)).enumerate() {
                for (r, line) in out.chunks_mut(2 * w.max(1)).enumerate() {
                    let (i, py) = (r / 2, r % 2);
                    let row = |px: usize| &image[((2 * py + px) * c + k) * plane + (i + py) * (w + 1) + px..][..w];
                    for ((o, a), b) in line.chunks_exact_mut(2).zip(row(0)).zip(row(1)) {
                        o[0] = *a;
                        o[1] = *b;
                    }
                }
            }
        });
        FlexTensor::from_data(TensorData::new(y, [batch, c, 2 * h, 2 * w]))
    }

    fn interleave_parities_grad(grad: FlexTensor, [h, w]: [usize; 2]) -> FlexTensor {
        let [batch, c, _, _]: [usize; 4] = grad.layout().shape().dims();
        let dy = grad.to_contiguous();
        let dy = dy.as_slice::<f32>().expect("a contiguous f32 tensor");
        let (plane, out_plane) = ((h + 1) * (w + 1), 4 * h * w);
        let mut d = vec![0.0f32; batch * 4 * c * plane];
        d.par_chunks_mut(4 * c * plane.max(1)).zip(dy.par_chunks(c * out_plane.max(1))).for_each(|(image, dys)| {
            for (k, out) in dys.chunks(out_plane.max(1)).enumerate() {
                for (r, line) in out.chunks(2 * w.max(1)).enumerate() {
                    let (i, py) = (r / 2, r % 2);
                    for px in 0..2 {
                        let row = &mut image[((2 * py + px) * c + k) * plane + (i + py) * (w + 1) + px..][..w];
                        row.iter_mut().zip(line.chunks_exact(2)).for_each(|(d, g)| *d = g[px]);
                    }
                }
            }
        });
        FlexTensor::from_data(TensorData::new(d, [batch, 4 * c, h + 1, w + 1]))
    }
}

impl<B: Backend + SubpixelBackend, C: CheckpointStrategy> SubpixelBackend for Autodiff<B, C> {
    fn interleave_parities(parities: FloatTensor<Self>, size: [usize; 2]) -> FloatTensor<Self> {
        /// The parities' gradient: [`SubpixelBackend::interleave_parities_grad`].
        #[derive(Debug)]
        struct Interleave;

        impl<B: Backend + SubpixelBackend> Backward<B, 1> for Interleave {
            type State = [usize; 2];

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = node {
                    grads.register::<B>(node.id, B::interleave_parities_grad(grad, ops.state));
                }
            }
        }

        match Interleave.prepare::<C>([parities.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(size, B::interleave_parities(parities.into_primitive(), size)),
            OpsKind::UnTracked(prep) => prep.finish(B::interleave_parities(parities.into_primitive(), size)),
        }
    }

    /// Not itself differentiated (no second-order gradients): computed on the inner backend.
    fn interleave_parities_grad(grad: FloatTensor<Self>, size: [usize; 2]) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::interleave_parities_grad(grad.into_primitive(), size))
    }
}

/// `act(conv(upsample×2(x)))` for a 3×3 convolution with padding 1: `x` `[batch, c_in, h, w]` →
/// `[batch, c_out, 2h, 2w]`, where `act` is a ReLU when `relu`; the value (to rounding) and
/// gradients of nearest upsampling followed by the convolution. On the `flex` device, for inputs of
/// at least 8×8 pixels, it runs as one 2×2 convolution and a pixel interleave (module
/// docs); other devices, sizes, kernels and paddings upsample and convolve.
pub fn upsample2_conv3x3(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let [_, _, kh, kw] = conv.weight.dims();
    let flex = Device::flex();
    let fits = [kh, kw] == [3, 3]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && matches!(conv.padding, PaddingConfig2d::Explicit(1, 1, 1, 1))
        && h * w >= SUBPIXEL_MIN_PIXELS
        && x.dtype() == DType::F32
        && (x.device() == flex || x.device() == flex.autodiff());
    if !fits {
        return conv2d_act(conv, upsample_nearest(x, 2), relu);
    }
    subpixel(conv, x, relu)
}

/// [`upsample2_conv3x3`] by the 2×2 route, for a 3×3 convolution with stride 1 and padding 1 on
/// the `flex` device.
fn subpixel(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let weight = parity_kernels(conv.weight.val());
    let bias = conv.bias.as_ref().map(|b| Tensor::cat(vec![b.val(); 4], 0));
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let parities = conv2d_with_act(x, weight, bias, options, relu);
    Tensor::from_dispatch(<Dispatch as SubpixelBackend>::interleave_parities(parities.into_dispatch(), [h, w]))
}

/// Input pixels from which [`upsample2_conv3x3`] takes the 2×2 route. Its grid is `(h + 1)·(w +
/// 1)`, so on a 4×4 input 56 % of its work is dropped at the interleave, and with its four times
/// as many filters the VAE decoder's 128→64 layer at 4×4 took 6.7 ms forward and backward against
/// 5.3 ms upsampled; its 64→32 at 8×8 took 2.9 ms against 3.8 and its 32→16 at 16×16 2.8 against
/// 5.0 (`batch 32`, `flex`).
const SUBPIXEL_MIN_PIXELS: usize = 8 * 8;

/// The four parities' 2×2 kernels of a 3×3 kernel `w` `[c_out, c_in, 3, 3]`, stacked as `[4·c_out,
/// c_in, 2, 2]` in parity order `p = 2·py + px` (module docs): along each axis, parity 0 takes
/// taps `[W₀, W₁ + W₂]` and parity 1 `[W₀ + W₁, W₂]`.
fn parity_kernels(w: Tensor<4>) -> Tensor<4> {
    let [c_out, c_in, _, _] = w.dims();
    let tap = |t: &Tensor<4>, axis: usize, i: usize| {
        let mut ranges = [0..c_out, 0..c_in, 0..t.dims()[2], 0..t.dims()[3]];
        ranges[axis] = i..i + 1;
        t.clone().slice(ranges)
    };
    let halves = |t: &Tensor<4>, axis: usize| {
        [
            Tensor::cat(vec![tap(t, axis, 0), tap(t, axis, 1) + tap(t, axis, 2)], axis),
            Tensor::cat(vec![tap(t, axis, 0) + tap(t, axis, 1), tap(t, axis, 2)], axis),
        ]
    };
    let kernels = halves(&w, 2).iter().flat_map(|rows| halves(rows, 3)).collect();
    Tensor::cat(kernels, 0)
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;
    use burn::tensor::activation::relu;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

    use super::*;
    use crate::conv::check::{assert_same_values_and_gradients, relative_gap};

    /// Value, input gradient and weight and bias gradients of the 2×2 route against burn's nearest
    /// `interpolate` ×2 followed by burn's `Conv2d::forward` (and `relu`), on flex with autodiff:
    /// the VAE decoder's shapes at a smaller batch, non-square and one-pixel images, with and
    /// without bias and ReLU.
    #[test]
    fn matches_burn_upsampling_then_convolution() {
        let device = Device::flex().autodiff();
        device.seed(9);
        // (batch, c_in, c_out, h, w, bias, relu)
        let cases = [
            (4, 128, 64, 4, 4, true, true),
            (3, 32, 16, 16, 16, true, true),
            (2, 5, 3, 3, 7, true, false),
            (2, 4, 6, 1, 1, false, true),
            (1, 3, 2, 2, 5, false, false),
        ];
        for (batch, c_in, c_out, h, w, bias, act) in cases {
            let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([batch, c_in, h, w], Distribution::Normal(0.0, 1.0), &device).require_grad();
            let ours = subpixel(&conv, x.clone(), act);
            let options = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([2 * h, 2 * w]);
            let theirs = conv.forward(interpolate(x.clone(), options));
            let theirs = if act { relu(theirs) } else { theirs };
            let case = format!("batch {batch}, {c_in}→{c_out}, {h}×{w}, bias {bias}, relu {act}");
            assert_eq!(ours.dims(), [batch, c_out, 2 * h, 2 * w], "{case}");
            assert_same_values_and_gradients(&case, ours, theirs, &x, &conv);
        }
    }

    /// The public function takes the 2×2 route from 8×8 and upsamples and convolves for smaller
    /// images and for kernels and paddings the decomposition does not cover; the values agree.
    #[test]
    fn routes_agree_with_upsampling_then_convolution() {
        let device = Device::flex();
        device.seed(4);
        let same = PaddingConfig2d::Explicit(1, 1, 1, 1);
        for (kernel, padding, size) in
            [(3, same.clone(), 8), (3, same, 4), (5, PaddingConfig2d::Explicit(2, 2, 2, 2), 8)]
        {
            let conv = Conv2dConfig::new([2, 3], [kernel, kernel]).with_padding(padding).init(&device);
            let x = Tensor::<4>::random([2, 2, size, size], Distribution::Normal(0.0, 1.0), &device);
            let ours = upsample2_conv3x3(&conv, x.clone(), true);
            let theirs = relu(conv.forward(upsample_nearest(x, 2)));
            assert!(relative_gap(ours, theirs) < 1e-5, "{kernel}×{kernel} at {size}²");
        }
    }
}
