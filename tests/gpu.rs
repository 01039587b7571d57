//! The GPU path, run: training (LeNet-5, the CNN, the VAE), export and the gradient methods on
//! `--device wgpu`, each compared with `flex` from the same initial weights.
//!
//! Runs where the binary is built with `--features wgpu` and the machine offers a Vulkan (or
//! Metal/DX12) adapter; `.ci/run` installs Mesa's lavapipe, a software Vulkan device, so CI
//! runs it on the CPU. Anywhere else it prints why it is skipped and passes.

use std::path::{Path, PathBuf};

use netlens_fetch::runs::{DeviceName, Explanations};
use tract_onnx::prelude::*;

use crate::common::*;

/// Training images of the short runs (two batches of 32) and test images.
const TRAIN_IMAGES: usize = 64;
const TEST_IMAGES: usize = 32;

/// Largest |logit difference| between the devices after two Adam steps from the same weights,
/// relative to the largest |logit|. The devices sum in different orders (float rounding ~1e-7
/// per op), and Adam divides by √v, so a gradient that is rounding noise on one device moves a
/// weight by up to the learning rate: measured 3e-7 (LeNet-5) and 4e-4 (CNN) on lavapipe.
const TRAINED_LOGITS_RELATIVE: f32 = 1e-2;
/// The same for a forward/backward pass of fixed weights (no optimiser step in between):
/// measured below 1e-6 on lavapipe for the logits, Grad-CAM and HiResCAM.
const GRADIENT_RELATIVE: f32 = 1e-3;
/// Integrated Gradients per pixel: one of the path's images can sit at a ReLU kink or a
/// max-pool tie, where the two devices' rounding sends that point's gradient down different
/// branches (measured up to 5e-3 on the CNN on lavapipe). The attributions' sum, which
/// completeness ties to the logit difference, is held to [`GRADIENT_RELATIVE`].
const IG_PIXEL_RELATIVE: f32 = 2e-2;

/// Prints `line` and, when `NETLENS_GPU_REPORT` names a file, appends it there: the test
/// harness hides a passing test's output, and `.ci/run` shows this file after the tests.
fn report(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("NETLENS_GPU_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

/// The wgpu device's name, or `None` (with the reason reported) where there is none; with
/// `NETLENS_REQUIRE_GPU` set (`.ci/run` sets it where it installed a Vulkan device) a missing
/// device fails the test instead.
fn wgpu_or_skip(test: &str) -> Option<String> {
    match netlens_train::describe_device(DeviceName::Wgpu) {
        Ok(name) => {
            report(&format!("{test}: device {name}"));
            Some(name)
        }
        Err(e) if std::env::var_os("NETLENS_REQUIRE_GPU").is_some() => {
            panic!("NETLENS_REQUIRE_GPU is set but there is no wgpu device: {e}")
        }
        Err(e) => {
            report(&format!("{test}: skipped, the GPU path needs a wgpu device: {e}"));
            None
        }
    }
}

/// The first `n` rows of the `.npy` array at `from`, written to `to` (uint8, same layout).
fn head_npy(from: &Path, to: &Path, n: usize) {
    let (shape, values) = read_npy_u8(from);
    let row: usize = shape[1..].iter().product();
    let mut new_shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    new_shape[0] = n as u64;
    std::fs::write(to, npy_u8(&new_shape, values[..n * row].iter().copied())).unwrap();
}

/// A Fashion-MNIST folder with the first [`TRAIN_IMAGES`] and [`TEST_IMAGES`] of the small set.
fn tiny_fashion(dir: &Path) -> PathBuf {
    let data = dir.join("fashion-tiny");
    std::fs::create_dir_all(&data).unwrap();
    for (split, n) in [("train", TRAIN_IMAGES), ("test", TEST_IMAGES)] {
        for x in ["X", "Y"] {
            let name = format!("{x}_{split}.npy");
            head_npy(&fashion_small().join(&name), &data.join(&name), n);
        }
    }
    data
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// max |a − b| / max |a|.
fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let gap = a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    gap / max_abs(a).max(1e-12)
}

/// Trains `model` for one epoch on `device` into `dir/<model>-<device>`; returns the run.
fn train_on(model: &str, data: &Path, dir: &Path, device: &str) -> PathBuf {
    let run = dir.join(format!("{model}-{device}"));
    let args = [
        "train",
        model,
        "--data",
        data.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--device",
        device,
    ];
    ok(netlens(&args));
    run
}

/// tract's logits of the exported `model.onnx` on the run's test images.
fn tract_logits(onnx: &Path, data: &Path) -> Vec<f32> {
    let model = tract_onnx::onnx().model_for_path(onnx).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let (shape, pixels) = read_npy_u8(&data.join("X_test.npy"));
    let x: Vec<f32> = pixels.iter().map(|&v| v as f32 / 255.0).collect();
    let input = tract_ndarray::Array4::from_shape_vec((shape[0], 1, 32, 32), x).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}

fn explanations(dir: &Path) -> Explanations {
    serde_json::from_str(&std::fs::read_to_string(dir.join("explanations.json")).unwrap()).unwrap()
}

#[test]
fn wgpu_trains_exports_and_explains_like_flex() {
    let Some(_) = wgpu_or_skip("classifiers") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_fashion(dir.path());
    for model in ["lenet", "cnn"] {
        let flex = train_on(model, &data, dir.path(), "flex");
        let wgpu = train_on(model, &data, dir.path(), "wgpu");
        if model == "cnn" {
            // Same seed and device ⇒ the same run, to the bit.
            let again = train_on(model, &data, &dir.path().join("again"), "wgpu");
            let same = read_npy_f32(&again.join("test_logits.npy")) == read_npy_f32(&wgpu.join("test_logits.npy"));
            report(&format!("{model}: a second wgpu run gives identical test logits: {same}"));
            assert!(same, "{model}: two wgpu runs with one seed differ");
        }
        // Same seed ⇒ same initial weights on both devices; two Adam steps later the logits
        // still agree up to rounding.
        let (_, flex_logits) = read_npy_f32(&flex.join("test_logits.npy"));
        let (_, wgpu_logits) = read_npy_f32(&wgpu.join("test_logits.npy"));
        let trained = relative_gap(&flex_logits, &wgpu_logits);
        report(&format!("{model}: test logits after 2 steps, max |flex − wgpu| / max |flex| = {trained:.2e}"));
        assert!(trained <= TRAINED_LOGITS_RELATIVE, "{model}: {trained}");
        // The wgpu run's export (loaded afresh on flex) gives tract the wgpu run's logits.
        let exported = relative_gap(&wgpu_logits, &tract_logits(&wgpu.join("model.onnx"), &data));
        report(&format!("{model}: exported ONNX in tract vs wgpu logits: {exported:.2e}"));
        assert!(exported <= GRADIENT_RELATIVE, "{model}: {exported}");
        // Grad-CAM, HiResCAM and IG of the same ONNX file on both devices.
        let onnx = wgpu.join("model.onnx");
        let mut runs = vec![];
        for device in ["flex", "wgpu"] {
            let out = dir.path().join(format!("explain-{model}-{device}"));
            let args = [
                "explain",
                onnx.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
                "--index",
                "0,1",
                "--methods",
                "gradcam,hirescam,ig",
                "--steps",
                "8",
                "--device",
                device,
                "--out",
                out.to_str().unwrap(),
            ];
            ok(netlens(&args));
            runs.push(explanations(&out));
        }
        for (f, w) in runs[0].images.iter().zip(&runs[1].images) {
            assert_eq!(f.target, w.target, "{model} {}: same predicted class", f.name);
            let cam = relative_gap(&f.hires_cam.as_ref().unwrap().map.data, &w.hires_cam.as_ref().unwrap().map.data);
            let (fg, wg) = (&f.grad_cam.as_ref().unwrap().map.data, &w.grad_cam.as_ref().unwrap().map.data);
            let grad_cam = if max_abs(fg) > 0.0 { relative_gap(fg, wg) } else { max_abs(wg) };
            let (fi, wi) = (f.integrated_gradients.as_ref().unwrap(), w.integrated_gradients.as_ref().unwrap());
            let ig = relative_gap(&fi.attributions, &wi.attributions);
            let sum = |a: &[f32]| a.iter().map(|&v| v as f64).sum::<f64>();
            let ig_sum = ((sum(&fi.attributions) - sum(&wi.attributions)).abs() / sum(&fi.attributions).abs()) as f32;
            report(&format!(
                "{model} {}: flex vs wgpu: Grad-CAM {grad_cam:.2e}, HiResCAM {cam:.2e}, IG {ig:.2e} (its sum {ig_sum:.2e})",
                f.name
            ));
            for (what, gap) in [("Grad-CAM", grad_cam), ("HiResCAM", cam), ("IG sum", ig_sum)] {
                assert!(gap <= GRADIENT_RELATIVE, "{model} {}: {what} {gap}", f.name);
            }
            assert!(ig <= IG_PIXEL_RELATIVE, "{model} {}: IG {ig}", f.name);
        }
    }
}

#[test]
fn wgpu_trains_the_vae_like_flex() {
    let Some(_) = wgpu_or_skip("VAE") else { return };
    let dir = tempfile::tempdir().unwrap();
    let faces = shared().join("data/lfw-small");
    let mut losses = vec![];
    for device in ["flex", "wgpu"] {
        let run = dir.path().join(format!("vae-{device}"));
        let args = [
            "vae",
            "--data",
            faces.to_str().unwrap(),
            "--limit",
            "64",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--device",
            device,
            "--out",
            run.to_str().unwrap(),
        ];
        ok(netlens(&args));
        let history: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
        let epoch = &history["epochs"][0];
        losses.push([epoch["train_loss"].as_f64().unwrap(), epoch["heldout_mse"].as_f64().unwrap()]);
    }
    for (i, what) in ["training loss", "held-out MSE"].iter().enumerate() {
        let gap = (losses[0][i] - losses[1][i]).abs() / losses[0][i].abs();
        report(&format!("VAE {what}: flex {:.6}, wgpu {:.6}, relative gap {gap:.2e}", losses[0][i], losses[1][i]));
        assert!(gap <= TRAINED_LOGITS_RELATIVE as f64, "{what}: {gap}");
    }
}
