//! The three methods against captum 0.9 on `torch-small-cnn.onnx`
//! (`../shared/fixtures/torch-small-cnn.reference.json`, made with PyTorch 2.x; see the
//! fixtures README), plus their defining properties.

use std::path::{Path, PathBuf};

use netlens_fetch::{Images, Split, load_split};
use netlens_onnx::DifferentiableModel;
use serde_json::Value;

use super::compare::pearson;
use super::*;

/// Acceptance thresholds from issue 5.
const IG_MIN_R: f64 = 0.99;
const GRAD_CAM_MIN_R: f64 = 0.99;
const SHAPLEY_MIN_R: f64 = 0.9;
/// Efficiency Σφ = v(N) − v(∅) holds per permutation; only float rounding remains.
const EFFICIENCY_TOLERANCE: f64 = 1e-9;
/// Trapezoid IG with 64 steps: completeness gap relative to |F(x) − F(x′)|.
const IG_COMPLETENESS_RELATIVE: f32 = 0.05;
/// Our logits against captum's target logits (PyTorch vs burn float order).
const LOGIT_TOLERANCE: f64 = 1e-3;

fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
}

fn reference() -> Value {
    let text = std::fs::read_to_string(shared().join("fixtures/torch-small-cnn.reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn flat(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("unexpected JSON {other}"),
    }
}

fn setup() -> (DifferentiableModel, Images, Vec<usize>, Value) {
    let r = reference();
    let model = DifferentiableModel::load(&shared().join("fixtures/torch-small-cnn.onnx")).unwrap();
    let indices: Vec<usize> =
        r["indices_into_X_test"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
    let targets = r["target"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    (model, data.images.select(&indices), targets, r)
}

#[test]
fn integrated_gradients_match_captum_and_are_complete() {
    let (model, images, targets, r) = setup();
    let ig = &r["integrated_gradients"];
    assert_eq!((ig["steps"].as_u64(), ig["rule"].as_str()), (Some(64), Some("trapezoid")));
    let want = flat(&ig["attributions"]);
    let plane = 32 * 32;
    for (b, &t) in targets.iter().enumerate() {
        // captum's reference uses a zero baseline.
        let got = IntegratedGradientsParams::default()
            .steps(64)
            .baseline(Baseline::Zeros)
            .target(Target::Class(t))
            .explain(&model, &one_image(&images, b))
            .unwrap();
        let got = &got[0];
        let rr = pearson(&got.attributions, &want[b * plane..(b + 1) * plane]);
        let gap = got.completeness_error / (got.logit - got.baseline_logit).abs();
        println!(
            "image {b}: IG r = {rr:.5}, completeness error {:.2e} ({:.2}% of F(x) − F(x′))",
            got.completeness_error,
            100.0 * gap
        );
        assert!(rr > IG_MIN_R, "image {b}: r = {rr}");
        assert!(gap < IG_COMPLETENESS_RELATIVE, "image {b}: completeness gap {gap}");
        assert!((got.logit as f64 - r["target_logit"][b].as_f64().unwrap()).abs() < LOGIT_TOLERANCE);
        assert!(
            (got.baseline_logit as f64 - r["baseline_logit_zero_image"][b].as_f64().unwrap()).abs() < LOGIT_TOLERANCE
        );
    }
}

#[test]
fn grad_cam_matches_captum_at_layer_resolution_and_is_non_negative_and_input_sized() {
    let (model, images, targets, r) = setup();
    let gc = &r["grad_cam"];
    let layer = gc["onnx_tensor"].as_str().unwrap().to_string();
    let want = flat(&gc["map_at_layer_resolution"]);
    let want_up = flat(&gc["map_bilinear_32x32"]);
    for (b, &t) in targets.iter().enumerate() {
        let params = GradCamParams::default().layer(Some(layer.clone())).target(Target::Class(t));
        let got = &params.explain(&model, &one_image(&images, b)).unwrap()[0];
        let n = got.layer_map.data.len();
        assert_eq!((got.layer_map.height, got.layer_map.width), (16, 16));
        assert_eq!((got.map.height, got.map.width), (32, 32));
        assert!(got.map.data.iter().chain(&got.layer_map.data).all(|&v| v >= 0.0));
        let rr = pearson(&got.layer_map.data, &want[b * n..(b + 1) * n]);
        let ru = pearson(&got.map.data, &want_up[b * 1024..(b + 1) * 1024]);
        println!("image {b}: Grad-CAM r = {rr:.6} at 16×16, {ru:.6} upsampled");
        assert!(rr > GRAD_CAM_MIN_R && ru > GRAD_CAM_MIN_R, "image {b}: r = {rr}, {ru}");
    }
}

#[test]
fn auto_layer_is_the_reference_layer() {
    let (model, _, _, r) = setup();
    let layer = GradCamParams::default().resolve_layer(&model).unwrap();
    assert_eq!(layer, r["grad_cam"]["onnx_tensor"].as_str().unwrap());
}

#[test]
fn shapley_values_match_captum_and_are_efficient() {
    let (_, images, targets, r) = setup();
    let tract = netlens_onnx::TractModel::load(
        &shared().join("fixtures/torch-small-cnn.onnx"),
        netlens_onnx::BatchAxis::Symbolic,
    )
    .unwrap();
    let want = flat(&r["shapley_value_sampling"]["values_per_patch"]);
    for (b, &t) in targets.iter().enumerate() {
        let s = ShapleyParams::default()
            .grid(4, 4)
            .permutations(200)
            .baseline(Baseline::Zeros)
            .explain(&tract, &one_image(&images, b), t)
            .unwrap();
        let got: Vec<f32> = s.values.iter().map(|&v| v as f32).collect();
        let rr = pearson(&got, &want[b * 16..(b + 1) * 16]);
        let mean_se = s.std_errors.iter().sum::<f64>() / 16.0;
        println!(
            "image {b}: Shapley r = {rr:.4}, efficiency gap {:.1e}, mean std error {mean_se:.4}",
            s.efficiency_gap
        );
        assert!(rr > SHAPLEY_MIN_R, "image {b}: r = {rr}");
        assert!(s.efficiency_gap < EFFICIENCY_TOLERANCE, "image {b}: gap {}", s.efficiency_gap);
        assert!((s.full_logit - r["target_logit"][b].as_f64().unwrap()).abs() < LOGIT_TOLERANCE);
    }
}

/// Deletion/insertion (RISE) over 20 test images of the trained torch CNN, with the baseline
/// `netlens explain` uses by default (the image blurred with σ = 32/6 pixels) for IG, Shapley
/// and the curves alike. Measured (2026-11-29), deletion / insertion AUC:
///
/// | baseline | Grad-CAM | IG | Shapley | random |
/// | --- | --- | --- | --- | --- |
/// | blurred | 0.508 / 0.636 | 0.158 / 0.898 | 0.257 / 0.835 | 0.505 / 0.491 |
/// | zeros | 0.335 / 0.494 | 0.149 / 0.541 | 0.138 / 0.753 | 0.298 / 0.300 |
///
/// IG and Shapley beat a random order on both curves with either baseline; Grad-CAM's 16×16
/// map (this model's last convolutional layer) inserts evidence faster than random but deletes
/// it no faster — at random level with the blurred baseline, slower with zeros, where zeroing a
/// dark pixel of these black-background images changes nothing. So deletion is asserted for IG
/// and Shapley, insertion for all three, and both tables are printed. (On netlens's own CNN,
/// `tests/explain.rs`, Grad-CAM does beat random on deletion with the blurred baseline.)
#[test]
fn maps_beat_a_random_order_on_deletion_and_insertion() {
    use super::compare::{CurveKind, curve, order_by_map, random_order_curve};
    const IMAGES: usize = 20;
    const STEPS: usize = 16;
    let (model, _, _, _) = setup();
    let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
    let tract = netlens_onnx::TractModel::load(
        &shared().join("fixtures/torch-small-cnn.onnx"),
        netlens_onnx::BatchAxis::Symbolic,
    )
    .unwrap();
    let names = ["grad_cam", "integrated_gradients", "shapley", "random"];
    let faithfulness = |baseline: Baseline| {
        let (mut del, mut ins) = ([0f64; 4], [0f64; 4]);
        for i in 0..IMAGES {
            let image = one_image(&data.images, i);
            let target = argmax(&model.forward(&image).unwrap().data);
            let base = baseline_image(&baseline, &image.data, [1, 32, 32]);
            let gc =
                GradCamParams::default().target(Target::Class(target)).explain(&model, &image).unwrap().remove(0).map;
            let ig = IntegratedGradientsParams::default()
                .steps(32)
                .baseline(baseline)
                .target(Target::Class(target))
                .explain(&model, &image)
                .unwrap()
                .remove(0);
            let ig = Map::channel_sum(&ig.attributions, 1, 32, 32);
            let sv = ShapleyParams::default()
                .permutations(40)
                .baseline(baseline)
                .explain(&tract, &image, target)
                .unwrap()
                .pixel_map(32, 32);
            for (m, map) in [gc, ig, sv].iter().enumerate() {
                let order = order_by_map(map);
                del[m] += curve(&tract, &image, target, &order, CurveKind::Deletion, STEPS, &base).unwrap().auc
                    / IMAGES as f64;
                ins[m] += curve(&tract, &image, target, &order, CurveKind::Insertion, STEPS, &base).unwrap().auc
                    / IMAGES as f64;
            }
            let random =
                |kind| random_order_curve(&tract, &image, target, kind, STEPS, &base, 3, i as u64).unwrap().auc;
            del[3] += random(CurveKind::Deletion) / IMAGES as f64;
            ins[3] += random(CurveKind::Insertion) / IMAGES as f64;
        }
        println!("baseline: {}", baseline.describe());
        for m in 0..4 {
            println!("  {:<22} deletion AUC {:.3}  insertion AUC {:.3}", names[m], del[m], ins[m]);
        }
        (del, ins)
    };
    faithfulness(Baseline::Zeros);
    let (del, ins) = faithfulness(Baseline::default());
    for m in 1..3 {
        assert!(del[m] < del[3], "{}: deletion AUC {} not below random {}", names[m], del[m], del[3]);
    }
    for m in 0..3 {
        assert!(ins[m] > ins[3], "{}: insertion AUC {} not above random {}", names[m], ins[m], ins[3]);
    }
}

/// The tract classifier splits a batch across threads: the logits of 7 images in one call
/// equal those of 7 single-image calls, in order.
#[test]
fn tract_batches_split_across_threads_keep_the_image_order() {
    const LOGIT_TOLERANCE: f32 = 1e-5;
    let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
    let tract = netlens_onnx::TractModel::load(
        &shared().join("fixtures/torch-small-cnn.onnx"),
        netlens_onnx::BatchAxis::Symbolic,
    )
    .unwrap();
    let batch = data.images.select(&(0..7).collect::<Vec<_>>());
    let all = tract.logits(&batch).unwrap();
    assert_eq!(all.shape, vec![7, 10]);
    for i in 0..7 {
        let one = tract.logits(&one_image(&batch, i)).unwrap();
        let diff =
            one.data.iter().zip(&all.data[i * 10..(i + 1) * 10]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < LOGIT_TOLERANCE, "image {i}: max |diff| {diff}");
    }
}
