//! Convolution routes on the CPU: seconds and GFLOP/s of a 2-D convolution's forward pass, its
//! input gradient and its weight gradient on burn's `flex` backend, for the CNN's layers (batch
//! 32, the training batch) and the VAE's (batch 32) and ResNet-34's (one 224² image, what Grad-CAM and IG differentiate).
//! `bench/conv_routes.py` times the same shapes in PyTorch and prints the ratios.
//!
//! Two routes: `flex` (burn's kernels: tiled im2col forward, transposed-convolution input gradient,
//! burn-backend's weight gradient) and `netlens` (kernels/src/conv.rs: im2col + one gemm per group
//! of images for each pass, col2im for the input gradient).
//!
//! `cargo run --release -p netlens-kernels --example conv_routes` prints one JSON object per line:
//! `{"route", "layer", "op", "seconds", "gflops"}` with the median of `--reps` timed calls after
//! one warm-up.

use std::time::Instant;

use burn::tensor::module::{conv_transpose2d, conv2d, conv2d_weight_backward};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Tensor};
use netlens_kernels::conv;

/// One convolution: `[batch, c_in, h, w]` input, `c_out` filters of `kernel`², `stride`, "same"-style
/// padding `kernel / 2`.
struct Layer {
    name: &'static str,
    batch: usize,
    c_in: usize,
    c_out: usize,
    size: usize,
    kernel: usize,
    stride: usize,
}

const LAYERS: &[Layer] = &[
    Layer { name: "cnn.block1 1→16 3×3 @32²", batch: 32, c_in: 1, c_out: 16, size: 32, kernel: 3, stride: 1 },
    Layer { name: "cnn.block2 16→16 3×3 @32²", batch: 32, c_in: 16, c_out: 16, size: 32, kernel: 3, stride: 1 },
    Layer { name: "cnn.block3 16→32 3×3 @16²", batch: 32, c_in: 16, c_out: 32, size: 16, kernel: 3, stride: 1 },
    Layer { name: "cnn.block4 32→24 1×1 @16²", batch: 32, c_in: 32, c_out: 24, size: 16, kernel: 1, stride: 1 },
    Layer { name: "cnn.block5 24→32 3×3 @16²", batch: 32, c_in: 24, c_out: 32, size: 16, kernel: 3, stride: 1 },
    Layer { name: "cnn.block6 32→64 3×3 @8²", batch: 32, c_in: 32, c_out: 64, size: 8, kernel: 3, stride: 1 },
    Layer { name: "cnn.block7 64→64 1×1 @8²", batch: 32, c_in: 64, c_out: 64, size: 8, kernel: 1, stride: 1 },
    Layer { name: "vae.encoder.0 3→32 3×3/2 @32²", batch: 32, c_in: 3, c_out: 32, size: 32, kernel: 3, stride: 2 },
    Layer {
        name: "vae.encoder.1 32→64 3×3/2 @16²", batch: 32, c_in: 32, c_out: 64, size: 16, kernel: 3, stride: 2
    },
    Layer {
        name: "vae.encoder.2 64→128 3×3/2 @8²", batch: 32, c_in: 64, c_out: 128, size: 8, kernel: 3, stride: 2
    },
    Layer { name: "vae.decoder.0 128→64 3×3 @8²", batch: 32, c_in: 128, c_out: 64, size: 8, kernel: 3, stride: 1 },
    Layer { name: "vae.decoder.1 64→32 3×3 @16²", batch: 32, c_in: 64, c_out: 32, size: 16, kernel: 3, stride: 1 },
    Layer { name: "vae.decoder.2 32→16 3×3 @32²", batch: 32, c_in: 32, c_out: 16, size: 32, kernel: 3, stride: 1 },
    Layer { name: "vae.to_image 16→3 3×3 @32²", batch: 32, c_in: 16, c_out: 3, size: 32, kernel: 3, stride: 1 },
    Layer {
        name: "resnet34.conv1 3→64 7×7/2 @224²", batch: 1, c_in: 3, c_out: 64, size: 224, kernel: 7, stride: 2
    },
    Layer { name: "resnet34.layer1 64→64 3×3 @56²", batch: 1, c_in: 64, c_out: 64, size: 56, kernel: 3, stride: 1 },
    Layer {
        name: "resnet34.layer2 128→128 3×3 @28²", batch: 1, c_in: 128, c_out: 128, size: 28, kernel: 3, stride: 1
    },
    Layer {
        name: "resnet34.layer3 256→256 3×3 @14²", batch: 1, c_in: 256, c_out: 256, size: 14, kernel: 3, stride: 1
    },
    Layer {
        name: "resnet34.layer4 512→512 3×3 @7²", batch: 1, c_in: 512, c_out: 512, size: 7, kernel: 3, stride: 1
    },
];

/// (route, pass, the call to time).
type Timed<'a> = (&'static str, &'static str, Box<dyn Fn() + 'a>);

fn median_seconds(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[reps / 2]
}

fn main() {
    let reps =
        std::env::args().skip_while(|a| a != "--reps").nth(1).map_or(20, |r| r.parse().expect("--reps takes a count"));
    let device = Device::flex();
    for l in LAYERS {
        let pad = l.kernel / 2;
        let out = (l.size + 2 * pad - l.kernel) / l.stride + 1;
        let x = Tensor::<4>::random([l.batch, l.c_in, l.size, l.size], Distribution::Default, &device);
        let w = Tensor::<4>::random([l.c_out, l.c_in, l.kernel, l.kernel], Distribution::Default, &device);
        let dy = Tensor::<4>::random([l.batch, l.c_out, out, out], Distribution::Default, &device);
        let options = ConvOptions::new([l.stride; 2], [pad; 2], [1, 1], 1);
        // The input size a transposed convolution must give back when the stride drops a row.
        let extra = l.size + 2 * pad - l.kernel - (out - 1) * l.stride;
        let transpose = ConvTransposeOptions::new([l.stride; 2], [pad; 2], [extra; 2], [1, 1], 1);
        // Multiply-adds of one pass, two FLOPs each; the three passes cost the same.
        let flops = 2.0 * (l.batch * l.c_out * out * out * l.c_in * l.kernel * l.kernel) as f64;
        let ops: [Timed; 6] = [
            ("flex", "forward", Box::new(|| drop(conv2d(x.clone(), w.clone(), None, options.clone()).into_data()))),
            (
                "netlens",
                "forward",
                Box::new(|| drop(conv::conv2d_nobias(x.clone(), w.clone(), options.clone()).into_data())),
            ),
            (
                "flex",
                "input_grad",
                Box::new(|| drop(conv_transpose2d(dy.clone(), w.clone(), None, transpose.clone()).into_data())),
            ),
            (
                "netlens",
                "input_grad",
                Box::new(|| {
                    drop(conv::conv2d_input_grad(x.clone(), w.clone(), dy.clone(), options.clone()).into_data())
                }),
            ),
            (
                "flex",
                "weight_grad",
                Box::new(|| {
                    drop(conv2d_weight_backward(x.clone(), w.clone(), dy.clone(), options.clone()).into_data())
                }),
            ),
            (
                "netlens",
                "weight_grad",
                Box::new(|| {
                    drop(conv::conv2d_weight_grad(x.clone(), w.clone(), dy.clone(), options.clone()).into_data())
                }),
            ),
        ];
        for (route, op, f) in ops {
            let seconds = median_seconds(reps, f);
            println!(
                "{{\"route\": \"{route}\", \"layer\": \"{}\", \"op\": \"{op}\", \"seconds\": {seconds:.6}, \"gflops\": {:.1}}}",
                l.name,
                flops / seconds / 1e9
            );
        }
    }
}
