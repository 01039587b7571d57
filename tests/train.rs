//! `netlens train`: training on the real small set, ONNX export checked against tract and the
//! ONNX checker, exact resume, and bad input.

use std::path::Path;

use tract_onnx::prelude::*;

use crate::common::*;

/// Max |tract logit − burn logit| allowed for the exported model (issue acceptance).
const LOGIT_TOLERANCE: f32 = 1e-4;

fn train(model: &str, out: &Path, extra: &[&str]) -> String {
    let data = fashion_small();
    let mut args = vec!["train", model, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    ok(netlens(&args))
}

/// Runs `model.onnx` with tract on all 1,000 test images in batches of `batch` and returns the
/// logits, row-major `[1000, 10]`.
fn tract_logits(onnx: &Path, batch: usize) -> Vec<f32> {
    let model = tract_onnx::onnx().model_for_path(onnx).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let (shape, pixels) = read_npy_u8(&fashion_small().join("X_test.npy"));
    let n = shape[0];
    let mut logits = Vec::with_capacity(n * 10);
    for start in (0..n).step_by(batch) {
        let b = batch.min(n - start);
        let x: Vec<f32> = pixels[start * 1024..(start + b) * 1024].iter().map(|&v| v as f32 / 255.0).collect();
        let input = tract_ndarray::Array4::from_shape_vec((b, 1, 32, 32), x).unwrap();
        let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
        logits.extend(out[0].to_plain_array_view::<f32>().unwrap().iter().copied());
    }
    logits
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_export(run: &Path) {
    let onnx = run.join("model.onnx");
    assert_onnx_checker_passes(&onnx);
    let (shape, burn) = read_npy_f32(&run.join("test_logits.npy"));
    assert_eq!(shape, vec![1000, 10]);
    for batch in [1, 64] {
        let diff = max_abs_diff(&tract_logits(&onnx, batch), &burn);
        println!("{}: batch {batch}: max |tract − burn| = {diff:e}", run.display());
        assert!(diff <= LOGIT_TOLERANCE, "batch {batch}: {diff}");
    }
    let model = tract_onnx::onnx().model_for_path(&onnx).unwrap();
    let names: Vec<String> = model.nodes().iter().map(|n| n.name.clone()).collect();
    assert_eq!(model.input_outlets().unwrap().len(), 1);
    assert!(names.iter().any(|n| n == "image"), "input named image: {names:?}");
    assert!(names.iter().all(|n| !n.starts_with("node_")), "readable names: {names:?}");
    assert!(names.iter().any(|n| n.contains("/fc1/")), "{names:?}");
}

fn history_without_times(run: &Path) -> serde_json::Value {
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    for e in h["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    h
}

#[test]
fn lenet_and_cnn_export_to_onnx_that_matches_burn_in_tract() {
    let dir = tempfile::tempdir().unwrap();
    for (model, epochs) in [("lenet", "2"), ("cnn", "1")] {
        let run = dir.path().join(model);
        let stdout = train(model, &run, &["--epochs", epochs]);
        assert!(stdout.contains("test accuracy"), "{stdout}");
        let h = history_without_times(&run);
        assert_eq!(h["epochs"].as_array().unwrap().len(), epochs.parse::<usize>().unwrap());
        for key in ["train_loss", "train_accuracy", "test_loss", "test_accuracy"] {
            let v = h["epochs"][0][key].as_f64().unwrap();
            assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
        }
        for svg in ["loss.svg", "accuracy.svg"] {
            let text = std::fs::read_to_string(run.join(svg)).unwrap();
            assert!(text.starts_with("<svg") && text.contains("test"), "{svg}");
        }
        check_export(&run);
    }
}

/// Starts `netlens train` and kills it as soon as its first epoch's checkpoint is complete: a
/// real interruption, at whatever point of the next epoch it falls.
fn train_and_interrupt(model: &str, out: &Path, extra: &[&str]) {
    let data = fashion_small();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_netlens"))
        .args(["train", model, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(extra)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let latest = out.join("checkpoint/latest.json");
    while !latest.exists() {
        assert!(child.try_wait().unwrap().is_none(), "training ended before its first checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Same seed, same device ⇒ identical history; a run killed after its first checkpoint and
/// resumed ends exactly where the uninterrupted one does.
#[test]
fn resume_continues_exactly_and_seeds_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    train("shallow", &a, &["--epochs", "3", "--seed", "7"]);
    train_and_interrupt("shallow", &b, &["--epochs", "3", "--seed", "7"]);
    assert!(!b.join("model.onnx").exists(), "the interrupted run did not finish");
    train("shallow", &b, &["--resume"]);
    assert_eq!(history_without_times(&a), history_without_times(&b));
    assert_eq!(read_npy_f32(&a.join("test_logits.npy")), read_npy_f32(&b.join("test_logits.npy")));
}

/// `--limit N` trains on the first N training images and still evaluates every test image: the
/// training accuracy is a count over N (a multiple of 1/N), the test accuracy one over 1,000, and
/// the limit is recorded in `config.json`.
#[test]
fn limit_trains_on_the_first_images_only() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("lenet");
    train("lenet", &run, &["--epochs", "1", "--limit", "96"]);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["train_limit"], 96);
    let h = history_without_times(&run);
    let epoch = &h["epochs"][0];
    let counted = |key: &str, n: f64| {
        let v = epoch[key].as_f64().unwrap() * n;
        assert!((v - v.round()).abs() < 1e-6, "{key} × {n} = {v} is not a count");
        v.round()
    };
    let right = counted("train_accuracy", 96.0);
    assert!(right > 0.0 && right <= 96.0);
    counted("test_accuracy", 1000.0);
    assert_eq!(read_npy_f32(&run.join("test_logits.npy")).0, vec![1000, 10]);
}

/// Default hyper-parameters reach the course-level accuracy (PyTorch, same net: 0.784).
#[test]
fn lenet_with_defaults_reaches_078() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("lenet");
    train("lenet", &run, &[]);
    let h = history_without_times(&run);
    let last = h["epochs"].as_array().unwrap().last().unwrap()["test_accuracy"].as_f64().unwrap();
    println!("LeNet-5, default settings: test accuracy {last:.4}");
    assert!(last >= 0.78, "test accuracy {last}");
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing_half_done() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let data = fashion_small();
    let d = data.to_str().unwrap();
    let o = out.to_str().unwrap();
    // missing data folder
    let e = fails(netlens(&["train", "lenet", "--data", "/nonexistent/data", "--out", o]));
    assert!(e.contains("/nonexistent/data") && e.contains("X_train.npy"), "{e}");
    assert!(!out.exists(), "nothing written for a failed start");
    // bad hyper-parameters
    let e = fails(netlens(&["train", "lenet", "--data", d, "--out", o, "--epochs", "0"]));
    assert!(e.contains("epochs") && e.contains("at least 1"), "{e}");
    // a backend not compiled in
    if !cfg!(feature = "wgpu") {
        let e = fails(netlens(&["train", "lenet", "--data", d, "--out", o, "--device", "wgpu"]));
        assert!(e.contains("--features wgpu"), "{e}");
    }
    // resume without a run
    let e = fails(netlens(&["train", "lenet", "--data", d, "--out", o, "--resume"]));
    assert!(e.contains("no run to resume"), "{e}");
    // images that are not 1×32×32
    let faces = shared().join("data/lfw-small");
    let rgb = dir.path().join("rgb");
    std::fs::create_dir(&rgb).unwrap();
    for split in ["train", "test"] {
        std::fs::copy(faces.join("X_train.npy"), rgb.join(format!("X_{split}.npy"))).unwrap();
        std::fs::write(rgb.join(format!("Y_{split}.npy")), npy_u8_labels(1000)).unwrap();
    }
    let e = fails(netlens(&["train", "lenet", "--data", rgb.to_str().unwrap(), "--out", o]));
    assert!(e.contains("1×32×32") && e.contains("3×32×32"), "{e}");
    // an existing run is not overwritten
    train("lenet", &out, &["--epochs", "1"]);
    let e = fails(netlens(&["train", "lenet", "--data", d, "--out", o]));
    assert!(e.contains("already holds a run") && e.contains("--resume"), "{e}");
}

/// A `.npy` file of `n` zero labels (uint8, shape `(n,)`).
fn npy_u8_labels(n: usize) -> Vec<u8> {
    npy_u8(&[n as u64], std::iter::repeat_n(0u8, n))
}
