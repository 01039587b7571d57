//! `netlens fetch`: offline preparation and conversion (`--from`), and downloads from a local
//! server on 127.0.0.1 (nothing reaches the internet).

use std::io::Write;
use std::path::Path;

use netlens_fetch::idx::encode_idx_u8;
use netlens_fetch::npy::read_u8;

use crate::common::{fails, netlens, ok, shared};

#[path = "../fetch/src/download/test_server.rs"]
mod test_server;

/// The reference logits of `tiny-resnet34.expected.json` (PyTorch 2.x, eval mode) hold to this
/// absolute tolerance (`../shared/fixtures/README.md`).
const LOGIT_TOLERANCE: f32 = 1e-3;

/// Side of the fixture's synthetic input.
const INPUT_SIZE: usize = 224;

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap();
}

/// Four gzip'd IDX files: `n` 28×28 images per split, image `i` a horizontal ramp offset by
/// `i`, label `i % 10`.
fn write_fashion_idx(dir: &Path, train: usize, test: usize) {
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let images: Vec<u8> = (0..n).flat_map(|i| (0..28 * 28).map(move |p| ((p % 28) * 8 + i) as u8)).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_gz(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), &encode_idx_u8(&[n, 28, 28], &images));
        write_gz(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), &encode_idx_u8(&[n], &labels));
    }
}

#[test]
fn fashion_mnist_from_local_idx_files_writes_the_course_layout() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw");
    std::fs::create_dir(&raw).unwrap();
    write_fashion_idx(&raw, 12, 7);
    let out = dir.path().join("data");
    let stdout =
        ok(netlens(&["fetch", "fashion-mnist", "--from", raw.to_str().unwrap(), "--out", out.to_str().unwrap()]));
    assert!(stdout.contains("12 train + 7 test images"), "{stdout}");
    let folder = out.join("fashion-mnist");
    let x = read_u8(&folder.join("X_train.npy"), "(12, 32, 32)").unwrap();
    assert_eq!(x.shape, vec![12, 32, 32]);
    let y = read_u8(&folder.join("Y_test.npy"), "(7,)").unwrap();
    assert_eq!(y.data, (0..7).collect::<Vec<u8>>());
    assert_eq!(read_u8(&folder.join("X_test.npy"), "(7, 32, 32)").unwrap().shape, vec![7, 32, 32]);
    // A ramp stays a ramp after the 28→32 resize: increasing along each row.
    let row = &x.data[5 * 32 * 32 + 10 * 32..5 * 32 * 32 + 11 * 32];
    assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
}

#[test]
fn mirror_with_wrong_bytes_fails_on_the_pinned_checksum_and_keeps_nothing() {
    let server = test_server::TestServer::start();
    server.add("/mirror/train-images-idx3-ubyte.gz", b"these are not the official bytes".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = dir.path().join("data");
    let url = server.url("/mirror/");
    let args =
        ["fetch", "fashion-mnist", "--url", &url, "--cache", cache.to_str().unwrap(), "--out", out.to_str().unwrap()];
    let stderr = fails(netlens(&[&args[..], &["--retries", "0"]].concat()));
    assert!(stderr.contains("checksum mismatch for `train-images-idx3-ubyte.gz`"), "{stderr}");
    assert!(stderr.contains("expected sha256 08dc20ab"), "{stderr}");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0, "the bad download is removed");
    assert!(!out.exists());
}

#[test]
fn missing_file_on_the_mirror_is_an_http_404_error() {
    let server = test_server::TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = server.url("/nothing/");
    let cache = dir.path().join("cache");
    let stderr =
        fails(netlens(&["fetch", "resnet34", "--url", &url, "--cache", cache.to_str().unwrap(), "--retries", "0"]));
    assert!(stderr.contains("/nothing/resnet34-b627a593.pth: HTTP 404"), "{stderr}");
}

/// The fixture's synthetic input: `x[c][y][x] = 0.5*sin(0.013*(y*224+x) + 0.7*c) + 0.25*cos(0.071*x - 0.029*y)`.
fn synthetic_input() -> Vec<f32> {
    let n = INPUT_SIZE;
    let mut out = Vec::with_capacity(3 * n * n);
    for c in 0..3 {
        for y in 0..n {
            for x in 0..n {
                let (c, y, x) = (c as f64, y as f64, x as f64);
                out.push(
                    (0.5 * (0.013 * (y * n as f64 + x) + 0.7 * c).sin() + 0.25 * (0.071 * x - 0.029 * y).cos()) as f32,
                );
            }
        }
    }
    out
}

#[test]
fn resnet34_from_a_local_checkpoint_converts_and_runs_in_tract() {
    use tract_onnx::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = shared().join("fixtures/tiny-resnet34.pth");
    let stdout = ok(netlens(&[
        "fetch",
        "resnet34",
        "--from",
        checkpoint.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]));
    assert!(stdout.contains("blocks [3, 4, 6, 3], widths [4, 8, 16, 32], 1000 classes"), "{stdout}");
    let folder = dir.path().join("resnet34");
    let classes = std::fs::read_to_string(folder.join("imagenet-classes.txt")).unwrap();
    assert_eq!(classes.lines().count(), 1000);

    let n = INPUT_SIZE;
    let model = tract_onnx::onnx()
        .model_for_path(folder.join("resnet34.onnx"))
        .unwrap()
        .with_input_fact(0, f32::fact([1, 3, n, n]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array4::from_shape_vec((1, 3, n, n), synthetic_input()).unwrap();
    let logits: Vec<f32> = model.run(tvec!(Tensor::from(input).into())).unwrap()[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let text = std::fs::read_to_string(shared().join("fixtures/tiny-resnet34.expected.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let want: Vec<f32> = json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(logits.len(), want.len());
    for (i, (a, b)) in logits.iter().zip(&want).enumerate() {
        assert!((a - b).abs() < LOGIT_TOLERANCE, "logit {i}: found {a}, expected {b}");
    }
}

#[test]
fn a_file_that_is_not_a_checkpoint_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_pth = shared().join("data/imagenet-classes.txt");
    let stderr = fails(netlens(&[
        "fetch",
        "resnet34",
        "--from",
        not_pth.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]));
    assert!(stderr.contains("imagenet-classes.txt") && stderr.contains("PyTorch checkpoint"), "{stderr}");
    assert!(!dir.path().join("resnet34/resnet34.onnx").exists());
}
