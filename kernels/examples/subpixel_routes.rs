//! The VAE decoder's resize-convolutions on the CPU: ×2 nearest upsampling then a 3×3 convolution
//! with ReLU (the plain route) against one 2×2 convolution on the small image and a pixel
//! interleave (the sub-pixel route, `kernels/src/subpixel.rs`), forward alone and forward with
//! backward (input, weight and bias gradients) on `flex` with autodiff, batch 32.
//!
//! `cargo run --release -p netlens-kernels --example subpixel_routes [-- --reps N]` prints one line
//! per layer: milliseconds of each route (median of `--reps` calls after a warm-up, default 20), the
//! GFLOP/s of the plain route's multiply-adds (two FLOPs each, three passes for forward with
//! backward) over each route's time, and the ratio sub-pixel / plain.

use std::time::Instant;

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use netlens_kernels::conv::conv2d_relu;
use netlens_kernels::resize::upsample_nearest;
use netlens_kernels::subpixel::upsample2_conv3x3;

/// The decoder's three upsampling stages: (input channels, output channels, input side).
const LAYERS: [(usize, usize, usize); 3] = [(128, 64, 4), (64, 32, 8), (32, 16, 16)];
const BATCH: usize = 32;

fn median_ms(reps: usize, f: &mut dyn FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn plain(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_relu(conv, upsample_nearest(x, 2))
}

fn main() {
    let reps =
        std::env::args().skip_while(|a| a != "--reps").nth(1).map_or(20, |r| r.parse().expect("--reps takes a count"));
    let device = Device::flex().autodiff();
    println!(
        "{:28} {:>9} {:>10} {:>7} {:>9} {:>10} {:>7} {:>13}",
        "layer", "fwd ms", "sub-pixel", "ratio", "fwd+bwd", "sub-pixel", "ratio", "GFLOP/s p / s"
    );
    for (c_in, c_out, side) in LAYERS {
        let conv =
            Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(&device);
        let x = Tensor::<4>::random([BATCH, c_in, side, side], Distribution::Normal(0.0, 1.0), &device).require_grad();
        let weights = Tensor::<4>::random([BATCH, c_out, 2 * side, 2 * side], Distribution::Normal(0.0, 1.0), &device);
        let (inner, x_inner) = (conv.valid(), x.clone().inner());
        let fwd = [
            median_ms(reps, &mut || drop(plain(&inner, x_inner.clone()).into_data())),
            median_ms(reps, &mut || drop(upsample2_conv3x3(&inner, x_inner.clone(), true).into_data())),
        ];
        let both = [
            median_ms(reps, &mut || drop((plain(&conv, x.clone()) * weights.clone()).sum().backward())),
            median_ms(reps, &mut || {
                drop((upsample2_conv3x3(&conv, x.clone(), true) * weights.clone()).sum().backward())
            }),
        ];
        let flops = 3.0 * 2.0 * (BATCH * c_out * 4 * side * side * c_in * 9) as f64;
        println!(
            "{:28} {:9.3} {:10.3} {:7.2} {:9.3} {:10.3} {:7.2} {:6.0} / {:4.0}",
            format!("{c_in}→{c_out} @{side}²→{}²", 2 * side),
            fwd[0],
            fwd[1],
            fwd[1] / fwd[0],
            both[0],
            both[1],
            both[1] / both[0],
            flops / both[0] / 1e6,
            flops / both[1] / 1e6,
        );
    }
}
