//! `netlens explain` on the PyTorch-made small CNN fixture and the small Fashion-MNIST set.

use std::path::PathBuf;

use crate::common::{fails, fashion_small, netlens, ok, shared, usage_error};

/// Shapley efficiency holds per sampled order; float rounding only.
const EFFICIENCY_TOLERANCE: f64 = 1e-6;

fn torch_cnn() -> String {
    shared().join("fixtures/torch-small-cnn.onnx").display().to_string()
}

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

#[test]
fn explains_test_images_with_all_three_methods() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("explain");
    let stdout = ok(netlens(&[
        "explain",
        &torch_cnn(),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0,1",
        "--steps",
        "16",
        "--permutations",
        "20",
        "--faithfulness",
        "--curve-steps",
        "8",
        "--out",
        &s(&out),
    ]));
    for name in ["test-0.png", "test-1.png", "explanations.json"] {
        assert!(out.join(name).is_file() && stdout.contains(name), "{name} missing; stdout: {stdout}");
    }
    let png = image::open(out.join("test-0.png")).unwrap();
    // Four panels of at least 160 px side by side, titles above and colour bars below.
    assert!(
        png.width() >= 4 * 160 && 2 * png.height() < png.width(),
        "four panels side by side: {}×{}",
        png.width(),
        png.height()
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    let first = &json["images"][0];
    assert_eq!(first["target"], first["predicted"]);
    assert_eq!(first["grad_cam"]["layer"], "/relu2/Relu_output_0");
    assert_eq!(first["grad_cam"]["map"]["data"].as_array().unwrap().len(), 32 * 32);
    assert_eq!(first["integrated_gradients"]["attributions"].as_array().unwrap().len(), 32 * 32);
    let gap = first["shapley"]["efficiency_gap"].as_f64().unwrap();
    assert!(gap < EFFICIENCY_TOLERANCE, "efficiency gap {gap}");
    assert!(first["rank_correlation"]["grad_cam~integrated_gradients"].is_number());
    assert!(first["deletion_insertion"]["random"]["deletion_auc"].is_number());
    assert!(!first["predicted_name"].as_str().unwrap().is_empty());
}

/// Two files of one stem (`fireboat.jpg` and `fireboat.png`) get one figure each, the
/// sampling engine is recorded, and a Shapley grid finer than the image names the image's size.
#[test]
fn files_of_one_name_keep_their_own_figures() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = shared().join("data/imagenet-samples/fireboat.jpg");
    let png = dir.path().join("fireboat.png");
    image::open(&jpeg).unwrap().save(&png).unwrap();
    let out = dir.path().join("out");
    let args = ["--methods", "gradcam,shapley", "--permutations", "4", "--out", &s(&out)];
    let run = netlens(&[&["explain", &torch_cnn(), "--image", &s(&jpeg), &s(&png)][..], &args].concat());
    let notes = String::from_utf8_lossy(&run.stderr).into_owned();
    ok(run);
    assert!(notes.contains("more than one image is named `fireboat`") && notes.contains("`fireboat-2.png`"), "{notes}");
    for figure in ["fireboat.png", "fireboat-2.png", "contact_sheet.png"] {
        assert!(out.join(figure).is_file(), "{figure} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    assert_eq!(json["images"][1]["name"], "fireboat-2");
    assert_eq!(json["sampling_engine"], "tract (CPU)", "32×32 images sample on tract");
    let err = fails(netlens(&["explain", &torch_cnn(), "--image", &s(&png), "--grid", "40", "--out", &s(&out)]));
    assert!(err.contains("grid = 40x40") && err.contains("32×32 image") && err.contains("--grid"), "{err}");
}

#[test]
fn an_rgb_photo_is_converted_and_resized_for_a_grey_model() {
    let dir = tempfile::tempdir().unwrap();
    let photo = shared().join("data/imagenet-samples/fireboat.jpg");
    ok(netlens(&["explain", &torch_cnn(), "--image", &s(&photo), "--methods", "gradcam", "--out", &s(dir.path())]));
    assert!(dir.path().join("fireboat.png").is_file());
    // Class names from --class-names for an image file (none come from the data then).
    let names = dir.path().join("names.txt");
    let fashion =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    std::fs::write(&names, fashion.join("\n")).unwrap();
    let out = dir.path().join("named");
    ok(netlens(&[
        "explain",
        &torch_cnn(),
        "--image",
        &s(&photo),
        "--methods",
        "gradcam",
        "--class-names",
        &s(&names),
        "--out",
        &s(&out),
    ]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    let predicted = json["images"][0]["predicted"].as_u64().unwrap() as usize;
    assert_eq!(json["images"][0]["predicted_name"], fashion[predicted]);
    std::fs::write(&names, "cat\ndog\n").unwrap();
    let err = fails(netlens(&[
        "explain",
        &torch_cnn(),
        "--image",
        &s(&photo),
        "--class-names",
        &s(&names),
        "--out",
        &s(&out),
    ]));
    assert!(err.contains("names.txt") && err.contains("expected 10 class names") && err.contains("found 2"), "{err}");
}

#[test]
fn an_unknown_layer_lists_the_available_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(netlens(&[
        "explain",
        &torch_cnn(),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0",
        "--methods",
        "gradcam",
        "--layer",
        "/relu9/Relu_output_0",
        "--out",
        &s(dir.path()),
    ]));
    assert!(err.contains("/relu9/Relu_output_0") && err.contains("/relu2/Relu_output_0"), "{err}");
}

#[test]
fn a_target_outside_the_classes_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(netlens(&[
        "explain",
        &torch_cnn(),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0",
        "--methods",
        "ig",
        "--target",
        "10",
        "--out",
        &s(dir.path()),
    ]));
    assert!(err.contains("target") && err.contains("10 classes"), "{err}");
    for bad in [["--grid", "0"], ["--permutations", "3"], ["--target", "10"]] {
        let out = dir.path().join(format!("out{}", bad[1]));
        fails(netlens(&[
            "explain",
            &torch_cnn(),
            "--data",
            &s(&fashion_small()),
            "--index",
            "0",
            bad[0],
            bad[1],
            "--out",
            &s(&out),
        ]));
        assert!(!out.exists(), "{bad:?} left {} behind", out.display());
    }
}

#[test]
fn a_blur_sigma_that_is_not_a_positive_number_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = usage_error(netlens(&[
        "explain",
        &torch_cnn(),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0",
        "--methods",
        "ig",
        "--blur-sigma",
        "0",
        "--out",
        &s(dir.path()),
    ]));
    assert!(err.contains("--blur-sigma") && err.contains("`0`"), "{err}");
}

#[test]
fn an_index_outside_the_data_and_a_non_image_file_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(netlens(&[
        "explain",
        &torch_cnn(),
        "--data",
        &s(&fashion_small()),
        "--index",
        "5000",
        "--out",
        &s(dir.path()),
    ]));
    assert!(err.contains("5000") && err.contains("1000 images"), "{err}");
    let not_image = dir.path().join("notes.png");
    std::fs::write(&not_image, "not an image").unwrap();
    let err = fails(netlens(&["explain", &torch_cnn(), "--image", &s(&not_image), "--out", &s(dir.path())]));
    assert!(err.contains("notes.png"), "{err}");
}

/// A classifier whose only convolution makes a 1×32 feature map (a 32×1 kernel on 32×32).
const ONE_ROW_CONV: &str = r#"
import sys, numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
r = np.random.RandomState(0)
w = nh.from_array(r.randn(4, 1, 32, 1).astype(np.float32) * 0.1, "w")
fc = nh.from_array(r.randn(128, 10).astype(np.float32) * 0.1, "fc")
nodes = [h.make_node("Conv", ["image", "w"], ["rows"], name="conv", kernel_shape=[32, 1]),
         h.make_node("Relu", ["rows"], ["act"], name="relu"),
         h.make_node("Flatten", ["act"], ["flat"], name="flatten"),
         h.make_node("MatMul", ["flat", "fc"], ["logits"], name="fc")]
g = h.make_graph(nodes, "one_row", [h.make_tensor_value_info("image", T.FLOAT, ["batch", 1, 32, 32])],
                 [h.make_tensor_value_info("logits", T.FLOAT, ["batch", 10])], initializer=[w, fc])
onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
"#;

#[test]
fn a_feature_map_one_position_wide_is_refused_for_grad_cam() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("one_row.onnx");
    let built =
        std::process::Command::new(crate::common::python()).args(["-c", ONE_ROW_CONV]).arg(&model).output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let explain = |layer: Option<&str>| {
        let (m, d, o) = (s(&model), s(&fashion_small()), s(&dir.path().join("out")));
        let mut args = vec!["explain", &m, "--data", &d, "--index", "0", "--methods", "gradcam", "--out", &o];
        args.extend(layer.map(|l| ["--layer", l]).iter().flatten());
        fails(netlens(&args))
    };
    // Named: refused with the map's size. Automatic: the 1×32 conv output is not a candidate.
    let named = explain(Some("rows"));
    assert!(named.contains("rows"), "{named}");
    assert!(named.contains("1×32") && named.contains("earlier layer"), "{named}");
    let auto = explain(None);
    assert!(auto.contains("at least 2×2"), "{auto}");
    assert!(!dir.path().join("out").join("explanations.json").exists());
}

#[test]
fn an_unsupported_op_names_the_op_and_the_node() {
    // Same-length rename of every `Relu` in the protobuf (op types and names): still valid.
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let renamed: Vec<u8> = {
        let mut b = bytes.clone();
        let mut i = 0;
        while i + 4 <= b.len() {
            if &b[i..i + 4] == b"Relu" {
                b[i..i + 4].copy_from_slice(b"Loop");
            }
            i += 1;
        }
        b
    };
    let dir = tempfile::tempdir().unwrap();
    let model: PathBuf = dir.path().join("loop.onnx");
    std::fs::write(&model, renamed).unwrap();
    let err = fails(netlens(&[
        "explain",
        &s(&model),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0",
        "--out",
        &s(dir.path()),
    ]));
    assert!(err.contains("`Loop`") && err.contains("/relu1/Loop"), "{err}");
}

#[test]
fn a_converted_resnet_gets_imagenet_preprocessing_and_class_names() {
    let dir = tempfile::tempdir().unwrap();
    ok(netlens(&[
        "fetch",
        "resnet34",
        "--from",
        &s(&shared().join("fixtures/tiny-resnet34.pth")),
        "--out",
        &s(dir.path()),
    ]));
    let model = dir.path().join("resnet34/resnet34.onnx");
    let out = dir.path().join("explain");
    let photo = shared().join("data/imagenet-samples/cat_dog.jpg");
    ok(netlens(&[
        "explain",
        &s(&model),
        "--image",
        &s(&photo),
        "--methods",
        "gradcam,ig",
        "--steps",
        "4",
        "--out",
        &s(&out),
    ]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    let first = &json["images"][0];
    let names = std::fs::read_to_string(shared().join("data/imagenet-classes.txt")).unwrap();
    let predicted = first["predicted"].as_u64().unwrap() as usize;
    assert_eq!(first["predicted_name"].as_str().unwrap(), names.lines().nth(predicted).unwrap().trim_end());
    assert_eq!(first["shape"], serde_json::json!([3, 224, 224]));
    assert_eq!(first["grad_cam"]["layer_map"]["height"], 7, "layer4 of a ResNet at 224²");
    // Grey 32×32 test images are made RGB 224×224 by the model's preprocessing (recorded in its
    // metadata); fed as stored (`--preprocess none`) they do not fit, and the error says so.
    let err = fails(netlens(&[
        "explain",
        &s(&model),
        "--data",
        &s(&fashion_small()),
        "--index",
        "0",
        "--preprocess",
        "none",
        "--out",
        &s(&out),
    ]));
    assert!(err.contains("1×32×32") && err.contains("3×224×224") && err.contains("resnet34.onnx"), "{err}");
}

/// Mean of `pick` over the images of an `explanations.json`.
fn mean_over_images(json: &serde_json::Value, pick: impl Fn(&serde_json::Value) -> f64) -> f64 {
    let images = json["images"].as_array().unwrap();
    images.iter().map(&pick).sum::<f64>() / images.len() as f64
}

/// Deletion (RISE) on netlens's own CNN, trained here for 4 epochs (test accuracy ≈ 0.81), over
/// 20 test images, with `netlens explain`'s default baseline (the image blurred by σ = 32/6
/// pixels, shared by IG, Shapley and the curves): a faithful map deletes the evidence first, so
/// each method's deletion AUC is below a random order's. Measured (2026-11-29, same model):
/// blurred — Grad-CAM 0.376, IG 0.169, Shapley 0.192, random 0.496; with `--baseline zeros` Grad-CAM
/// is *worse* than random (0.31 vs 0.25: on black backgrounds zeroing a dark pixel is a no-op,
/// and half of Grad-CAM's top-ranked pixels are dark), which is why blurred is the default.
#[test]
fn on_our_trained_cnn_every_method_deletes_evidence_faster_than_random() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("cnn");
    ok(netlens(&["train", "cnn", "--data", &s(&fashion_small()), "--epochs", "4", "--out", &s(&run)]));
    let out = dir.path().join("explain");
    let indices: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    ok(netlens(&[
        "explain",
        &s(&run.join("model.onnx")),
        "--data",
        &s(&fashion_small()),
        "--index",
        &indices.join(","),
        "--steps",
        "32",
        "--permutations",
        "40",
        "--faithfulness",
        "--curve-steps",
        "16",
        "--out",
        &s(&out),
    ]));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    assert_eq!(json["baseline"]["baseline"]["kind"], "blurred");
    let random = mean_over_images(&json, |i| i["deletion_insertion"]["random"]["deletion_auc"].as_f64().unwrap());
    println!(
        "mean deletion AUC over 20 test images, netlens CNN, {}: random {random:.4}",
        json["baseline"]["description"]
    );
    for method in ["grad_cam", "integrated_gradients", "shapley"] {
        let auc = mean_over_images(&json, |i| i["deletion_insertion"][method]["deletion"]["auc"].as_f64().unwrap());
        println!("  {method}: {auc:.4}");
        assert!(auc < random, "{method}: deletion AUC {auc} not below random {random}");
    }
}

/// The bias of the node that writes the graph output `logits` (an `Add` of the last dense
/// layer's product and an initializer, maybe reshaped), read from the ONNX file.
fn logits_bias(onnx: &std::path::Path) -> Vec<f32> {
    use tract_onnx::prelude::Framework;
    let proto = tract_onnx::onnx().proto_model_for_path(onnx).unwrap();
    let graph = proto.graph.unwrap();
    let add = graph.node.iter().find(|n| n.output.iter().any(|o| o == "logits")).unwrap();
    assert_eq!(add.op_type, "Add", "the logits come from {}", add.op_type);
    // The bias is an initializer, added directly or through a Reshape to `[1, classes]`.
    let mut names = add.input.clone();
    for n in graph.node.iter().filter(|n| n.op_type == "Reshape" && n.output.iter().any(|o| add.input.contains(o))) {
        names.push(n.input[0].clone());
    }
    let init = graph.initializer.iter().find(|t| names.contains(&t.name)).expect("a bias initializer");
    if init.float_data.is_empty() {
        init.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        init.float_data.clone()
    }
}

/// HiResCAM's defining property (Draelos & Carin 2020, arXiv:2011.08891) on netlens's shallow
/// net, whose last feature map `/relu2` reaches the logit only through max-pooling, flattening
/// and one dense layer: each step is positively homogeneous, so by Euler's theorem the map
/// before its ReLU sums to the logit minus the dense layer's bias. Grad-CAM's mean gradient
/// does not split the logit this way.
#[test]
fn hires_cam_of_the_shallow_net_splits_the_logit_over_positions() {
    use netlens_analyze::explain::{CamWeighting, GradCamParams, Target};
    const RELATIVE_TOLERANCE: f64 = 1e-3;
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("shallow");
    ok(netlens(&["train", "shallow", "--data", &s(&fashion_small()), "--epochs", "1", "--out", &s(&run)]));
    let onnx = run.join("model.onnx");
    let bias = logits_bias(&onnx);
    let model = netlens_onnx::DifferentiableModel::load(&onnx).unwrap();
    let test = netlens_fetch::load_split(&fashion_small(), netlens_fetch::Split::Test).unwrap();
    let images = test.images.select(&[0, 1, 2, 3]);
    for class in [0, 6, 9] {
        let params = GradCamParams::default().relu(false).target(Target::Class(class));
        let maps = params.explain_weighted(&model, &images, &[CamWeighting::Elementwise]).unwrap().remove(0);
        for (b, m) in maps.iter().enumerate() {
            assert_eq!(m.layer, "/relu2/Relu_output_0");
            let sum: f64 = m.layer_map.data.iter().map(|&v| f64::from(v)).sum();
            let want = f64::from(m.logit) - f64::from(bias[class]);
            let err = (sum - want).abs() / want.abs().max(1.0);
            println!("image {b}, class {class}: Σ HiResCAM {sum:.5}, logit − bias {want:.5}");
            assert!(err < RELATIVE_TOLERANCE, "image {b}, class {class}: Σ HiResCAM {sum} against logit − bias {want}");
        }
    }
}
