//! Times netlens's three explanations of one 224×224 input on an ONNX model (run by
//! `bench/explain.sh` on a random-weights ResNet-34): Grad-CAM at the last convolutional feature
//! map, Integrated Gradients with 32 steps (trapezoid, zero baseline, 8 path points per
//! backward pass), Shapley values of 7×7 patches with 20 orders (antithetic), forward passes on
//! the executor as `netlens explain` runs them at this size.
//! Prints one JSON line of seconds (and each figure to stderr as it comes); Grad-CAM is timed
//! after a warm-up run, IG and Shapley (minutes each) once.
//!
//! Usage: `cargo run --release -p netlens-analyze --example explain_bench -- MODEL.onnx`, or
//! `-- --random-resnet34` to build a full-width ResNet-34 with random weights itself.

use std::time::Instant;

use netlens_analyze::explain::{Baseline, GradCamParams, IntegratedGradientsParams, ShapleyParams, Target};
use netlens_fetch::Images;
use netlens_onnx::DifferentiableModel;

fn timed(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn once(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = std::env::args().nth(1).ok_or("usage: explain_bench MODEL.onnx | --random-resnet34")?;
    let dir = std::env::temp_dir().join(format!("netlens-bench-{}", std::process::id()));
    let path = if arg == "--random-resnet34" {
        use netlens_onnx::resnet::{ResNet, ResNetArchitecture, export_resnet};
        let device = burn::tensor::Device::flex();
        let net = ResNet::new(&ResNetArchitecture::resnet34(), &device);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("resnet34-random.onnx");
        std::fs::write(&path, export_resnet(&net, 224, &device)?)?;
        path
    } else {
        std::path::PathBuf::from(arg)
    };
    let path = path.as_path();
    let model = DifferentiableModel::load(path)?;
    let n = 3 * 224 * 224;
    let image =
        Images { data: (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect(), shape: [1, 3, 224, 224] };
    let target = netlens_analyze::explain::argmax(&model.forward(&image)?.data);
    let grad_cam = GradCamParams::default().target(Target::Class(target));
    let ig = IntegratedGradientsParams::default()
        .steps(32)
        .batch_size(8)
        .baseline(Baseline::Zeros)
        .target(Target::Class(target));
    let shapley = ShapleyParams::default().grid(7, 7).permutations(20).batch_size(49).baseline(Baseline::Zeros);
    let grad_cam_s = timed(|| drop(grad_cam.explain(&model, &image).expect("Grad-CAM runs")));
    eprintln!("Grad-CAM: {grad_cam_s:.3} s");
    let ig_s = once(|| drop(ig.explain(&model, &image).expect("IG runs")));
    eprintln!("IG, 32 steps: {ig_s:.3} s");
    let shapley_s = once(|| drop(shapley.explain(&model, &image, target).expect("Shapley runs")));
    eprintln!("Shapley, 49 patches x 20 orders: {shapley_s:.3} s");
    println!("{{\"grad_cam_s\": {grad_cam_s}, \"ig_s\": {ig_s}, \"shapley_s\": {shapley_s}}}");
    Ok(())
}
