//! Shapley values of one 224×224 input on an ONNX model (forward passes on the differentiable
//! executor, as `netlens explain` runs them at this size), 7×7 patches, zero baseline, for
//! `bench/shapley_resnet.py`, which measures netlens's and captum's error against a long run as a
//! function of model calls and seconds on a full-width ResNet-34.
//!
//! Usage: `cargo run --release -p netlens-analyze --example shapley_curve -- MODEL.onnx INPUT.npy
//! TARGET ORDERS[,ORDERS…] SEED[,SEED…]` with `INPUT.npy` a float32 `[1, 3, 224, 224]` array. Prints one
//! JSON line per (orders, seed): `{"orders", "seed", "seconds", "values"}`, the values in logit
//! units, row-major over the grid; netlens's default estimator (antithetic permutation sampling)
//! runs `orders` sampled orders with 49 coalitions per forward pass.

use std::path::Path;
use std::time::Instant;

use netlens_analyze::explain::{Baseline, ShapleyParams};
use netlens_fetch::Images;
use netlens_onnx::DifferentiableModel;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, input, target, orders, seeds] = args.as_slice() else {
        return Err("usage: shapley_curve MODEL.onnx INPUT.npy TARGET ORDERS[,ORDERS…] SEED[,SEED…]".into());
    };
    let model = DifferentiableModel::load(Path::new(model))?;
    let x = netlens_fetch::npy::read_f32(Path::new(input), "[1, 3, 224, 224]")?;
    let image = Images { data: x.data, shape: [1, 3, 224, 224] };
    let target: usize = target.parse()?;
    let params = ShapleyParams::default().grid(7, 7).batch_size(49).baseline(Baseline::Zeros);
    for orders in orders.split(',') {
        let orders: usize = orders.parse()?;
        for seed in seeds.split(',') {
            let seed: u64 = seed.parse()?;
            let params = params.clone().permutations(orders).seed(seed);
            let start = Instant::now();
            let phi = params.explain(&model, &image, target)?;
            let seconds = start.elapsed().as_secs_f64();
            let values: Vec<String> = phi.values.iter().map(|v| format!("{v}")).collect();
            println!(
                "{{\"orders\": {orders}, \"seed\": {seed}, \"seconds\": {seconds}, \"values\": [{}]}}",
                values.join(", ")
            );
        }
    }
    Ok(())
}
