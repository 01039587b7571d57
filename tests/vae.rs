//! `netlens vae` and `netlens interpolate`: a short training on the real `lfw-small` faces, the
//! ONNX encoder + decoder checked against burn's reconstructions in tract, exact resume,
//! interpolation strips from the real groups file, and bad input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tract_onnx::prelude::*;

use crate::common::*;

/// Max |ONNX (tract) − burn| per pixel of the held-out reconstructions (issue acceptance).
const RECONSTRUCTION_TOLERANCE: f32 = 1e-4;
/// Images the quick runs train on (10 % of them held out).
const LIMIT: &str = "200";

fn lfw() -> PathBuf {
    shared().join("data/lfw-small")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn train_vae(out: &Path, extra: &[&str]) -> String {
    let data = lfw();
    let mut args = vec!["vae", "--data", s(&data), "--out", s(out), "--limit", LIMIT];
    args.extend_from_slice(extra);
    ok(netlens(&args))
}

/// One short run shared by the tests that only read it: 1 epoch on 200 faces, in cargo's
/// target temp folder (replaced on every test run, kept afterwards for inspection).
fn shared_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let run = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vae-shared-run");
        if run.exists() {
            std::fs::remove_dir_all(&run).unwrap();
        }
        let stdout = train_vae(&run, &["--epochs", "1"]);
        assert!(stdout.contains("held-out MSE per pixel"), "{stdout}");
        run
    })
}

fn interpolate(run: &Path, data: &Path, a: &str, b: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let (enc, dec) = (run.join("encoder.onnx"), run.join("decoder.onnx"));
    let mut args = vec![
        "interpolate",
        "--encoder",
        s(&enc),
        "--decoder",
        s(&dec),
        "--data",
        s(data),
        "--a",
        a,
        "--b",
        b,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    netlens(&args)
}

type Plan = Arc<TypedRunnableModel>;

/// `path` optimised by tract for a fixed input shape (tract 0.23 cannot optimise the decoder's
/// Resize with a symbolic batch).
fn plan(path: &Path, shape: &[usize]) -> Plan {
    let model = tract_onnx::onnx().model_for_path(path).unwrap().with_input_fact(0, f32::fact(shape).into()).unwrap();
    model.into_optimized().unwrap().into_runnable().unwrap()
}

/// The held-out images of the run, `[n, 3, 32, 32]` values in `[0, 1]`, in split order.
fn heldout_images(run: &Path) -> (usize, Vec<f32>) {
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("split.json")).unwrap()).unwrap();
    let idx: Vec<usize> = split["heldout"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let (_, pixels) = read_npy_u8(&lfw().join("X_train.npy"));
    let x = idx.iter().flat_map(|&i| pixels[i * 3072..(i + 1) * 3072].iter().map(|&v| v as f32 / 255.0)).collect();
    (idx.len(), x)
}

#[test]
fn onnx_encoder_and_decoder_reproduce_burns_reconstructions() {
    let run = shared_run();
    for f in [
        "config.json",
        "model_card.json",
        "history.json",
        "reconstructions.png",
        "samples.png",
        "loss.svg",
        "loss_terms.svg",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let (n, x) = heldout_images(run);
    assert_eq!(n, 20, "10 % of {LIMIT} held out");
    let (shape, burn) = read_npy_f32(&run.join("heldout_reconstructions.npy"));
    assert_eq!(shape, vec![n, 3, 32, 32]);
    let input = tract_ndarray::Array4::from_shape_vec((n, 3, 32, 32), x).unwrap();
    let enc = plan(&run.join("encoder.onnx"), &[n, 3, 32, 32]).run(tvec!(Tensor::from(input).into())).unwrap();
    assert_eq!(enc.len(), 2, "μ and log σ²");
    let mu = enc[0].clone().into_tensor();
    assert_eq!(mu.shape(), &[n, 64]);
    let out = plan(&run.join("decoder.onnx"), &[n, 64]).run(tvec!(mu.into())).unwrap();
    let onnx: Vec<f32> = out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
    let diff = onnx.iter().zip(&burn).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("max |ONNX − burn| reconstruction = {diff:e}");
    assert!(diff <= RECONSTRUCTION_TOLERANCE, "max diff {diff}");
    for (file, input, outputs, layer) in
        [("encoder.onnx", "image", &["mu", "log_var"][..], "/convs/0/"), ("decoder.onnx", "z", &["image"][..], "/fc/")]
    {
        let model = tract_onnx::onnx().model_for_path(run.join(file)).unwrap();
        let nodes: Vec<String> = model.nodes().iter().map(|n| n.name.clone()).collect();
        assert!(nodes.iter().any(|n| n == input), "{file}: input {input}: {nodes:?}");
        assert!(nodes.iter().any(|n| n.contains(layer)), "{file}: {layer}: {nodes:?}");
        assert!(nodes.iter().all(|n| !n.starts_with("node_")), "{file}: readable names: {nodes:?}");
        let labels: Vec<&str> =
            model.output_outlets().unwrap().iter().map(|&o| model.outlet_label(o).unwrap_or("")).collect();
        assert_eq!(labels, outputs, "{file}");
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model_card.json")).unwrap()).unwrap();
    let last = card["layers"].as_array().unwrap().last().unwrap();
    assert_eq!(last["output"], serde_json::json!([3, 32, 32]));
}

#[test]
fn interpolation_between_groups_writes_gradual_strips() {
    let run = shared_run();
    let out = tempfile::tempdir().unwrap();
    for (a, b) in [("female", "male"), ("older", "younger")] {
        let stdout = ok(interpolate(run, &lfw(), a, b, out.path(), &[]));
        let png = out.path().join(format!("interpolation_{a}_{b}.png"));
        assert!(stdout.contains(s(&png)), "{stdout}");
        let img = image::open(&png).unwrap();
        assert!(img.width() > 6 * 128 && img.height() > 128, "{}×{}", img.width(), img.height());
        let (shape, faces) = read_npy_f32(&out.path().join(format!("interpolation_{a}_{b}.npy")));
        assert_eq!(shape, vec![6, 3, 32, 32], "z₂, four α, z₁");
        // Decoding is smooth in z: each step between neighbours is smaller than the whole way.
        let dist = |i: usize, j: usize| {
            faces[i * 3072..(i + 1) * 3072]
                .iter()
                .zip(&faces[j * 3072..(j + 1) * 3072])
                .map(|(p, q)| (p - q).abs())
                .sum::<f32>()
        };
        for k in 0..5 {
            assert!(dist(k, k + 1) < dist(0, 5), "{a}/{b} step {k}");
        }
    }
    ok(interpolate(run, &lfw(), "3,8", "12", out.path(), &["--alphas", "0.5"]));
    assert!(out.path().join("interpolation_3-8_12.png").is_file());
}

/// `female:medoid` ends at one real member of the group: its decoded z₁ equals that of exactly
/// one female face given by index.
#[test]
fn a_medoid_end_is_one_member_of_the_group() {
    const DECODE_TOLERANCE: f32 = 1e-5;
    let run = shared_run();
    let out = tempfile::tempdir().unwrap();
    ok(interpolate(run, &lfw(), "female:medoid", "male", out.path(), &["--alphas", "0.5"]));
    let (_, medoid) = read_npy_f32(&out.path().join("interpolation_female-medoid_male.npy"));
    let z1 = |faces: &[f32]| faces[2 * 3072..3 * 3072].to_vec();
    let groups: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lfw().join("groups.json")).unwrap()).unwrap();
    let mut matches = 0;
    for i in groups["female"].as_array().unwrap() {
        let i = i.as_u64().unwrap().to_string();
        ok(interpolate(run, &lfw(), &i, "male", out.path(), &["--alphas", "0.5"]));
        let (_, one) = read_npy_f32(&out.path().join(format!("interpolation_{i}_male.npy")));
        let diff = z1(&one).iter().zip(&z1(&medoid)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        matches += usize::from(diff < DECODE_TOLERANCE);
    }
    assert_eq!(matches, 1, "the medoid is one female face");
}

/// `--edit` decodes z = μ(x) + α d with d = μ̄_toward − μ̄_away and the face left out of both
/// means: checked against the same arithmetic done here on tract's own runs of the two graphs.
#[test]
fn an_edit_decodes_the_face_plus_the_leave_one_out_difference_of_the_means() {
    // netlens and this test run the same graphs on the same latents (in batches of other sizes).
    const DECODE_TOLERANCE: f32 = 1e-6;
    let run = shared_run();
    let out = tempfile::tempdir().unwrap();
    let (enc, dec) = (run.join("encoder.onnx"), run.join("decoder.onnx"));
    let data = lfw();
    let args = [
        "interpolate",
        "--encoder",
        s(&enc),
        "--decoder",
        s(&dec),
        "--data",
        s(&data),
        "--edit",
        "3",
        "--toward",
        "female",
        "--away",
        "male",
        "--alphas",
        "0.5",
        "--out",
        s(out.path()),
    ];
    let stdout = ok(netlens(&args));
    assert!(stdout.contains("α = 0.5: the decoded edit re-encodes at"), "{stdout}");
    let (shape, faces) = read_npy_f32(&out.path().join("edit_3_male-to-female.npy"));
    assert_eq!(shape, vec![3, 3, 32, 32], "α = 0, 0.5, 1");
    assert!(out.path().join("edit_3_male-to-female.png").is_file());

    let groups: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("groups.json")).unwrap()).unwrap();
    let members = |g: &str| -> Vec<usize> {
        groups[g].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect()
    };
    let (female, male) = (members("female"), members("male"));
    assert!(male.contains(&3) && !female.contains(&3), "face 3 is one of the men");
    let (_, pixels) = read_npy_u8(&data.join("X_train.npy"));
    let all: Vec<usize> = female.iter().chain(&male).copied().collect();
    let x: Vec<f32> =
        all.iter().flat_map(|&i| pixels[i * 3072..(i + 1) * 3072].iter().map(|&v| v as f32 / 255.0)).collect();
    let input = tract_ndarray::Array4::from_shape_vec((all.len(), 3, 32, 32), x).unwrap();
    let enc = plan(&enc, &[all.len(), 3, 32, 32]).run(tvec!(Tensor::from(input).into())).unwrap();
    let mu: Vec<f32> = enc[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
    let latent = mu.len() / all.len();
    let mu_of = |i: usize| &mu[all.iter().position(|&j| j == i).unwrap() * latent..][..latent];
    let mean = |group: &[usize], left_out: Option<usize>| -> Vec<f64> {
        let kept: Vec<usize> = group.iter().copied().filter(|&i| Some(i) != left_out).collect();
        (0..latent).map(|k| kept.iter().map(|&i| f64::from(mu_of(i)[k])).sum::<f64>() / kept.len() as f64).collect()
    };
    let decode = |z: Vec<f32>| -> Vec<f32> {
        let z = tract_ndarray::Array2::from_shape_vec((3, latent), z).unwrap();
        let out = plan(&dec, &[3, latent]).run(tvec!(Tensor::from(z).into())).unwrap();
        out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
    };
    let edits = |toward: &[f64], away: &[f64]| -> Vec<f32> {
        [0.0, 0.5, 1.0]
            .iter()
            .flat_map(|&a| (0..latent).map(move |k| (f64::from(mu_of(3)[k]) + a * (toward[k] - away[k])) as f32))
            .collect()
    };
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    let left_out = decode(edits(&mean(&female, Some(3)), &mean(&male, Some(3))));
    let diff = max_diff(&faces, &left_out);
    assert!(diff <= DECODE_TOLERANCE, "max |netlens − reference| {diff}");
    // Counting face 3 in the mean of the men would have given another edit.
    let counted = decode(edits(&mean(&female, None), &mean(&male, None)));
    let other = max_diff(&faces[2 * 3072..], &counted[2 * 3072..]);
    assert!(other > 10.0 * DECODE_TOLERANCE, "leaving face 3 out changes the α = 1 edit: {other}");
    // The printed position of the face's own μ along d: (μ − μ̄_male)·d / |d|², 3 decimals.
    let fraction = |toward: &[f64], away: &[f64]| {
        let d: Vec<f64> = toward.iter().zip(away).map(|(a, b)| a - b).collect();
        let along: f64 = (0..latent).map(|k| (f64::from(mu_of(3)[k]) - away[k]) * d[k]).sum();
        along / d.iter().map(|x| x * x).sum::<f64>()
    };
    let printed: f64 =
        stdout.split("its μ lies at ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let expected = fraction(&mean(&female, Some(3)), &mean(&male, Some(3)));
    assert!((printed - expected).abs() <= 0.0005 + 1e-9, "printed {printed}, computed {expected}");
    let with_face = fraction(&mean(&female, None), &mean(&male, None));
    assert!((with_face - expected).abs() > 0.01, "with face 3 in the mean: {with_face} against {expected}");
}

#[test]
fn bad_specs_and_inputs_are_clear_errors() {
    let run = shared_run();
    let out = tempfile::tempdir().unwrap();
    let err = fails(interpolate(run, &lfw(), "teen", "male", out.path(), &[]));
    assert!(err.contains("`teen`") && err.contains("female, male, older, younger"), "{err}");
    let err = fails(interpolate(run, &lfw(), "1000", "male", out.path(), &[]));
    assert!(err.contains("1000") && err.contains("0–999"), "{err}");
    let gray = shared().join("data/fashion-mnist-small");
    let err = fails(interpolate(run, &gray, "1", "2", out.path(), &[]));
    assert!(err.contains("3×32×32") && err.contains("1×32×32"), "{err}");
    let err = fails(netlens(&["vae", "--data", s(&gray), "--out", s(&out.path().join("g")), "--epochs", "1"]));
    assert!(err.contains("RGB") && err.contains("1×32×32"), "{err}");
    let err = fails(interpolate(run, &lfw(), "1", "2", out.path(), &["--alphas", "0.5,1.5"]));
    assert!(err.contains("alphas") && err.contains("1.5"), "{err}");
    // An edit needs both ends, and is not also a strip.
    let (enc, dec, data) = (run.join("encoder.onnx"), run.join("decoder.onnx"), lfw());
    let base = ["interpolate", "--encoder", s(&enc), "--decoder", s(&dec), "--data", s(&data), "--out", s(out.path())];
    let with = |extra: &[&str]| netlens(&[&base[..], extra].concat());
    let err = usage_error(with(&["--edit", "3", "--toward", "female"]));
    assert!(err.contains("--away"), "{err}");
    let err = usage_error(with(&["--edit", "3", "--toward", "female", "--away", "male", "--a", "1", "--b", "2"]));
    assert!(err.contains("--edit") && err.contains("--a"), "{err}");
    let err = usage_error(with(&["--a", "1"]));
    assert!(err.contains("--b"), "{err}");
    let err = fails(with(&["--edit", "3", "--toward", "female:medoid", "--away", "male"]));
    assert!(err.contains("medoid"), "{err}");
    let err = fails(with(&["--edit", "1000", "--toward", "female", "--away", "male"]));
    assert!(err.contains("1000") && err.contains("0–999"), "{err}");
}

#[test]
fn decoder_of_another_latent_size_is_refused() {
    let run = shared_run();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("small");
    let data = lfw();
    ok(netlens(&["vae", "--data", s(&data), "--out", s(&other), "--limit", "40", "--epochs", "1", "--latent", "8"]));
    let (enc, dec) = (run.join("encoder.onnx"), other.join("decoder.onnx"));
    let out = netlens(&[
        "interpolate",
        "--encoder",
        s(&enc),
        "--decoder",
        s(&dec),
        "--data",
        s(&data),
        "--a",
        "1",
        "--b",
        "2",
        "--out",
        s(dir.path()),
    ]);
    let err = fails(out);
    assert!(err.contains("latent size mismatch") && err.contains("64") && err.contains('8'), "{err}");
}

fn history_without_times(run: &Path) -> serde_json::Value {
    let mut h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).unwrap()).unwrap();
    for e in h["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    h
}

/// An interrupted run (`--stop-after 1` of 2) resumed with `--resume` ends exactly as an
/// uninterrupted one: same history (times aside) and same held-out reconstructions.
#[test]
fn resume_ends_exactly_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = lfw();
    let quick = |out: &Path, extra: &[&str]| {
        let mut args =
            vec!["vae", "--data", s(&data), "--out", s(out), "--limit", "64", "--epochs", "2", "--latent", "8"];
        args.extend_from_slice(extra);
        netlens(&args)
    };
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    ok(quick(&straight, &[]));
    let stdout = ok(quick(&resumed, &["--stop-after", "1"]));
    assert!(stdout.contains("stopped after epoch 1 of 2"), "{stdout}");
    let err = fails(quick(&resumed, &[]));
    assert!(err.contains("already holds a run"), "{err}");
    // Resumed on other images (no --limit: all 1,000 faces) it refuses before training: the
    // held-out split would differ, and epoch 2 would overwrite the checkpoint before failing.
    let history = std::fs::read_to_string(resumed.join("history.json")).unwrap();
    let err = fails(netlens(&["vae", "--data", s(&data), "--out", s(&resumed), "--epochs", "2", "--resume"]));
    assert!(err.contains("started on 64 images and is resumed on"), "{err}");
    assert_eq!(std::fs::read_to_string(resumed.join("history.json")).unwrap(), history);
    ok(quick(&resumed, &["--resume"]));
    assert_eq!(history_without_times(&straight), history_without_times(&resumed));
    let (_, a) = read_npy_f32(&straight.join("heldout_reconstructions.npy"));
    let (_, b) = read_npy_f32(&resumed.join("heldout_reconstructions.npy"));
    assert_eq!(a, b);
    let err = fails(quick(&dir.path().join("none"), &["--resume"]));
    assert!(err.contains("no VAE run to resume"), "{err}");
}
