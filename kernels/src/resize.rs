//! Nearest-neighbour upsampling by an integer factor on the `flex` CPU backend, forward and
//! backward.
//!
//! The VAE's decoder upsamples ×2 before each convolution (resize-convolution, Odena et al.,
//! "Deconvolution and Checkerboard Artifacts", Distill 2016). burn's `interpolate` computes every
//! output pixel's source through a general index mapping, and its backward pass likewise; over the
//! decoder's three upsamplings that took ~1.3 ms of each 32-image training step (forward and
//! backward, `flex`), 5 % of an epoch. Here an output line is its input line with every value
//! repeated `factor` times, written `factor` times, and the gradient of an input pixel is the sum
//! of its `factor × factor` output block.
//!
//! For an integer factor `f` this is the same mapping as burn's (and ONNX `Resize`'s) nearest
//! mode with `align_corners = false` and output size `f·h × f·w`: output pixel `(y, x)` reads
//! input pixel `(⌊y / f⌋, ⌊x / f⌋)`. Other devices go through burn's `interpolate` unchanged.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// Nearest-neighbour upsampling with netlens's CPU kernels (see the module docs). Every backend
/// gets burn's `interpolate` as the default; `Flex` overrides both directions, and `Autodiff`
/// records [`UpsampleBackend::upsample_nearest`] with a backward step that calls
/// [`UpsampleBackend::upsample_nearest_grad`].
#[backend_extension(Flex, Autodiff)]
pub trait UpsampleBackend: Backend {
    /// `x` `[batch, c, h, w]` (`size` is `[h, w]`) → `[batch, c, factor·h, factor·w]`, each pixel
    /// repeated into a `factor × factor` block.
    fn upsample_nearest(x: FloatTensor<Self>, factor: usize, size: [usize; 2]) -> FloatTensor<Self> {
        let out = size.map(|s| factor * s);
        Self::interpolate(x, out, options(out))
    }

    /// The gradient of the loss with respect to the input `x` (`[batch, c, h, w]`, `size` is
    /// `[h, w]`) given the gradient `grad` of the output (`[batch, c, factor·h, factor·w]`): each
    /// input pixel's is the sum over its output block.
    fn upsample_nearest_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        factor: usize,
        size: [usize; 2],
    ) -> FloatTensor<Self> {
        let out = size.map(|s| factor * s);
        Self::interpolate_backward(x, grad, out, options(out))
    }
}

/// burn's nearest mode with the output size given, no corner alignment.
fn options(size: [usize; 2]) -> InterpolateOptions {
    InterpolateOptions::new(InterpolateMode::Nearest).with_align_corners(false).with_output_size(size)
}

impl UpsampleBackend for Flex {
    fn upsample_nearest(x: FlexTensor, factor: usize, size: [usize; 2]) -> FlexTensor {
        let [batch, c, h, w]: [usize; 4] = x.layout().shape().dims();
        if x.dtype() != DType::F32 || factor == 0 || size != [h, w] {
            let out = size.map(|s| factor * s);
            return Self::interpolate(x, out, options(out));
        }
        let x = x.to_contiguous();
        let x = x.as_slice::<f32>().expect("a contiguous f32 tensor");
        let (fh, fw) = (factor * h, factor * w);
        let mut y = vec![0.0f32; batch * c * fh * fw];
        y.par_chunks_mut((fh * fw).max(1)).zip(x.par_chunks((h * w).max(1))).for_each(|(out, plane)| {
            for (iy, line) in plane.chunks(w.max(1)).enumerate() {
                let block = &mut out[iy * factor * fw..][..factor * fw];
                let (first, rest) = block.split_at_mut(fw);
                if factor == 2 {
                    // The VAE's case, written out so that it compiles to vector shuffles.
                    first.chunks_exact_mut(2).zip(line).for_each(|(o, v)| {
                        o[0] = *v;
                        o[1] = *v;
                    });
                } else {
                    first.chunks_mut(factor).zip(line).for_each(|(o, v)| o.fill(*v));
                }
                rest.chunks_mut(fw).for_each(|copy| copy.copy_from_slice(first));
            }
        });
        FlexTensor::from_data(TensorData::new(y, [batch, c, fh, fw]))
    }

    fn upsample_nearest_grad(x: FlexTensor, grad: FlexTensor, factor: usize, size: [usize; 2]) -> FlexTensor {
        let [batch, c, h, w]: [usize; 4] = x.layout().shape().dims();
        if grad.dtype() != DType::F32 || factor == 0 || size != [h, w] {
            let out = size.map(|s| factor * s);
            return Self::interpolate_backward(x, grad, out, options(out));
        }
        let dy = grad.to_contiguous();
        let dy = dy.as_slice::<f32>().expect("a contiguous f32 tensor");
        let fw = factor * w;
        let mut dx = vec![0.0f32; batch * c * h * w];
        dx.par_chunks_mut((h * w).max(1)).zip(dy.par_chunks((factor * h * fw).max(1))).for_each(|(plane, out)| {
            for (line, block) in plane.chunks_mut(w.max(1)).zip(out.chunks(factor * fw)) {
                // Rows of the block in order, columns of each row in order: a fixed summation order.
                if factor == 2 {
                    let (top, bottom) = block.split_at(fw);
                    let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
                    line.iter_mut().zip(pairs).for_each(|(d, (t, b))| *d = (t[0] + t[1]) + (b[0] + b[1]));
                    continue;
                }
                for row in block.chunks(fw) {
                    line.iter_mut().zip(row.chunks(factor)).for_each(|(d, g)| *d += g.iter().sum::<f32>());
                }
            }
        });
        FlexTensor::from_data(TensorData::new(dx, [batch, c, h, w]))
    }
}

impl<B: Backend + UpsampleBackend, C: CheckpointStrategy> UpsampleBackend for Autodiff<B, C> {
    fn upsample_nearest(x: FloatTensor<Self>, factor: usize, size: [usize; 2]) -> FloatTensor<Self> {
        /// The input gradient: [`UpsampleBackend::upsample_nearest_grad`].
        #[derive(Debug)]
        struct UpsampleNearest;

        impl<B: Backend + UpsampleBackend> Backward<B, 1> for UpsampleNearest {
            type State = (NodeId, usize, [usize; 2]);

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, factor, size) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, B::upsample_nearest_grad(x, grad, factor, size));
                }
            }
        }

        match UpsampleNearest.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let y = B::upsample_nearest(x.into_primitive(), factor, size);
                prep.finish((x_state, factor, size), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::upsample_nearest(x.into_primitive(), factor, size)),
        }
    }
}

/// Nearest-neighbour upsampling by `factor`: `x` `[batch, c, h, w]` → `[batch, c, factor·h,
/// factor·w]`, the same values and gradients as burn's `interpolate` in nearest mode without
/// corner alignment; netlens's kernels on the `flex` device (with or without autodiff), burn's
/// elsewhere.
pub fn upsample_nearest(x: Tensor<4>, factor: usize) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (flex, device) = (Device::flex(), x.device());
    if x.dtype() != DType::F32 || !(device == flex || device == flex.autodiff()) {
        return interpolate(x, options([factor * h, factor * w]));
    }
    Tensor::from_dispatch(<Dispatch as UpsampleBackend>::upsample_nearest(x.into_dispatch(), factor, [h, w]))
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    /// Values and input gradients against burn's `interpolate` (nearest, no corner alignment), for
    /// ×2 and ×3, square and non-square planes, on flex with autodiff.
    #[test]
    fn matches_burn_interpolate_and_its_gradient() {
        let device = Device::flex().autodiff();
        device.seed(5);
        for (shape, factor) in [([2, 3, 4, 4], 2), ([3, 2, 5, 7], 2), ([1, 4, 3, 2], 3), ([2, 1, 1, 1], 2)] {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let [_, _, h, w] = shape;
            let ours = upsample_nearest(x.clone(), factor);
            let theirs = interpolate(x.clone(), options([factor * h, factor * w]));
            assert_eq!(ours.clone().inner().into_data(), theirs.clone().inner().into_data(), "{shape:?} ×{factor}");
            let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
            let ours = x.grad(&(ours * weights.clone()).sum().backward()).unwrap();
            let theirs = x.grad(&(theirs * weights).sum().backward()).unwrap();
            let scale = theirs.clone().abs().max().into_scalar::<f32>();
            let gap = (ours - theirs).abs().max().into_scalar::<f32>() / scale;
            assert!(gap < 1e-6, "{shape:?} ×{factor}: input gradient differs by {gap}");
        }
    }
}
