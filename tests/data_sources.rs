//! Issue 17: any data a model takes. `netlens features` and `netlens explain` on image folders
//! (torchvision's `ImageFolder` layout), with class selection and the model's own
//! preprocessing; every test writes its images into a temporary folder.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fails, fashion_small, netlens, ok, read_npy_f32, read_npy_u8, shared};

/// Largest difference between embeddings of the same images read from PNG files and from the
/// course's `.npy` (both are the same uint8 values / 255, so equal up to float rounding).
const EMBEDDING_TOLERANCE: f32 = 1e-5;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// Writes the small Fashion-MNIST test split as grey PNGs into `root/<label>-<name>/<index>.png`
/// (zero-padded indices, so each class's files sort in the `.npy` order).
fn write_fashion_pngs(root: &Path) {
    let (shape, pixels) = read_npy_u8(&fashion_small().join("X_test.npy"));
    let (_, labels) = read_npy_u8(&fashion_small().join("Y_test.npy"));
    let (h, w) = (shape[1], shape[2]);
    for (i, (image, &label)) in pixels.chunks_exact(h * w).zip(&labels).enumerate() {
        let name = netlens_fetch::FASHION_MNIST_CLASSES[label as usize].replace('/', "-");
        let path = root.join(format!("{label}-{name}")).join(format!("{i:04}.png"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::GrayImage::from_raw(w as u32, h as u32, image.to_vec()).unwrap().save(&path).unwrap();
    }
}

/// Acceptance: the PNG folder gives the same embeddings as the `.npy` layout (same seed, same
/// class-balanced sample, t-SNE exact at n = 150).
#[test]
fn a_png_folder_of_the_test_split_embeds_as_the_npy_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("pngs");
    write_fashion_pngs(&folder);
    let model = shared().join("fixtures/torch-small-cnn.onnx");
    let (a, b) = (tmp.path().join("npy"), tmp.path().join("png"));
    let fast = ["--per-class", "15", "--perplexity", "10", "--iterations", "300"];
    for (data, out) in [(fashion_small(), &a), (folder.clone(), &b)] {
        let mut args = vec!["features", s(&model), "--data", s(&data), "--out", s(out)];
        args.extend(fast);
        let run = netlens(&args);
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        ok(run);
        assert!(stderr.contains("preprocessing unit") && stderr.contains("resize to 32×32"), "{stderr}");
    }
    let (sa, sb) = (summary(&a), summary(&b));
    assert_eq!(sa["data_format"], "course-npy");
    assert_eq!(sb["data_format"], "image-folder");
    assert_eq!(sb["class_names"][0], "0-T-shirt-top");
    assert_eq!(sb["class_counts"], serde_json::json!(vec![15; 10]));
    let mut compared = 0;
    for layer in sa["layers"].as_array().unwrap() {
        for e in layer["embeddings"].as_array().unwrap() {
            let file = PathBuf::from(e["files"][1].as_str().unwrap());
            let (shape_a, va) = read_npy_f32(&file);
            let (shape_b, vb) = read_npy_f32(&b.join(file.file_name().unwrap()));
            assert_eq!(shape_a, shape_b);
            for (i, (x, y)) in va.iter().zip(&vb).enumerate() {
                assert!((x - y).abs() <= EMBEDDING_TOLERANCE, "{}: value {i}: npy {x}, png {y}", file.display());
            }
            compared += 1;
        }
    }
    assert!(compared >= 6, "{compared} embeddings compared");
}

/// `tiny-resnet34.pth` (torchvision's ResNet-34 topology at widths 4/8/16/32, random weights)
/// converted by `netlens fetch resnet34 --from`, which records ImageNet preprocessing in the
/// ONNX metadata.
fn tiny_resnet(dir: &Path) -> PathBuf {
    let from = shared().join("fixtures/tiny-resnet34.pth");
    ok(netlens(&["fetch", "resnet34", "--from", s(&from), "--out", s(dir)]));
    dir.join("resnet34/resnet34.onnx")
}

/// Three classes of 20 RGB photos of mixed sizes: crops of the ImageNet sample photos.
fn write_photo_folder(root: &Path) {
    let photos = shared().join("data/imagenet-samples");
    for (class, file) in [("boat", "fireboat.jpg"), ("bridge", "viaduct.jpg"), ("pets", "cat_dog.jpg")] {
        let photo = image::open(photos.join(file)).unwrap().to_rgb8();
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..20u32 {
            let (w, h) = (120 + 5 * i, 100 + 4 * i);
            let crop = image::imageops::crop_imm(&photo, 3 * i, 2 * i, w.min(photo.width() - 3 * i), h).to_image();
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            crop.save(root.join(class).join(format!("{i:02}.{ext}"))).unwrap();
        }
    }
}

fn assert_pca_and_tsne_of_three_layers(summary: &Value, samples: usize) {
    assert_eq!(summary["samples"], samples);
    let layers = summary["layers"].as_array().unwrap();
    assert!(layers.len() >= 3, "{} layers", layers.len());
    for layer in layers {
        let methods: Vec<&str> =
            layer["embeddings"].as_array().unwrap().iter().map(|e| e["method"].as_str().unwrap()).collect();
        assert_eq!(methods, ["pca", "tsne"]);
    }
    assert_eq!(summary["preprocess"]["name"], "imagenet");
    assert_eq!(summary["preprocess"]["crop"], serde_json::json!([224, 224]));
}

/// Acceptance: a torchvision-topology ResNet on an image folder of 3 classes × 20 photos at
/// 224×224 with ImageNet preprocessing (read from the model), and on a 10-class folder with
/// `--classes`.
#[test]
fn a_resnet_embeds_an_image_folder_and_a_class_selection() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_resnet(tmp.path());
    let inspect: Value = serde_json::from_str(&ok(netlens(&["inspect", s(&model), "--json"]))).unwrap();
    assert_eq!(inspect["metadata"][0][0], "netlens.preprocess", "the conversion records its preprocessing");
    let recorded: Value = serde_json::from_str(inspect["metadata"][0][1].as_str().unwrap()).unwrap();
    assert_eq!(recorded["resize"], 256);
    let photos = tmp.path().join("photos");
    write_photo_folder(&photos);
    std::fs::write(photos.join("pets/README.txt"), "not an image").unwrap();
    let out = tmp.path().join("features");
    // The default perplexity (30) needs 91 images: for 60 it is lowered to 19, with a note.
    let args = ["--iterations", "300"];
    let mut cmd = vec!["features", s(&model), "--data", s(&photos), "--out", s(&out)];
    cmd.extend(args);
    let run = netlens(&cmd);
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    ok(run);
    assert!(stderr.contains("preprocessing imagenet") && stderr.contains("centre crop 224×224"), "{stderr}");
    assert!(stderr.contains("README.txt: skipped"), "{stderr}");
    assert!(stderr.contains("class `boat` has 20 images, fewer than --per-class 30"), "{stderr}");
    let sum = summary(&out);
    assert_pca_and_tsne_of_three_layers(&sum, 60);
    assert_eq!(sum["class_names"], serde_json::json!(["boat", "bridge", "pets"]));
    assert!(stderr.contains("perplexity lowered from the default 30 to 19 for 60 images"), "{stderr}");
    assert_eq!(sum["perplexity"], 19.0);
    // A perplexity the user chose is checked as given.
    let err = fails(netlens(&["features", s(&model), "--data", s(&photos), "--out", s(&out), "--perplexity", "25"]));
    assert!(err.contains("at most 19.66"), "{err}");

    let fashion = tmp.path().join("fashion");
    write_fashion_pngs(&fashion);
    let out = tmp.path().join("classes");
    let mut cmd = vec!["features", s(&model), "--data", s(&fashion), "--out", s(&out), "--per-class", "20"];
    cmd.extend(args);
    cmd.extend(["--classes", "9-Ankle boot,0,7-Sneaker"]);
    ok(netlens(&cmd));
    let sum = summary(&out);
    assert_pca_and_tsne_of_three_layers(&sum, 60);
    assert_eq!(sum["class_names"], serde_json::json!(["9-Ankle boot", "0-T-shirt-top", "7-Sneaker"]));
    let err = fails(netlens(&["features", s(&model), "--data", s(&fashion), "--out", s(&out), "--classes", "cat"]));
    assert!(err.contains("no class `cat`") && err.contains("available: 0-T-shirt-top"), "{err}");
}

/// Bad input in an image folder: each message names the file.
#[test]
fn bad_image_folders_are_clear_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let model = shared().join("fixtures/torch-small-cnn.onnx");
    let root = tmp.path().join("data");
    let grey = |p: PathBuf, side: u32| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        image::GrayImage::from_pixel(side, side, image::Luma([90])).save(p).unwrap();
    };
    for i in 0..3 {
        grey(root.join(format!("a/{i}.png")), 32);
    }
    std::fs::create_dir_all(root.join("b")).unwrap();
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["features", s(&model), "--data", s(&root), "--out", s(&out), "--per-class", "3"];
        args.extend_from_slice(extra);
        args.extend(["--perplexity", "1", "--methods", "pca"]);
        netlens(&args)
    };
    let err = fails(run(&[]));
    assert!(err.contains("data/b") && err.contains("has none"), "empty class folder: {err}");
    // mixed sizes are resized by the preprocessing; with `none` they are an error naming both
    grey(root.join("b/0.png"), 40);
    grey(root.join("b/1.png"), 32);
    grey(root.join("b/2.png"), 32);
    ok(run(&[]));
    let err = fails(run(&["--preprocess", "none"]));
    assert!(err.contains("b/0.png") && err.contains("found 1×40×40"), "mixed sizes: {err}");
    // a corrupt image
    std::fs::write(root.join("b/1.png"), b"\x89PNG\r\n\x1a\ncut").unwrap();
    let err = fails(run(&[]));
    assert!(err.contains("b/1.png") && err.contains("cannot decode image"), "corrupt image: {err}");
}

/// `netlens explain --data DIR` on a folder of photos without class folders: every file, one
/// figure each and a contact sheet.
#[test]
fn explain_takes_a_photo_folder_and_writes_a_contact_sheet() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_resnet(tmp.path());
    let photos = tmp.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["fireboat.jpg", "viaduct.jpg"] {
        std::fs::copy(shared().join("data/imagenet-samples").join(f), photos.join(f)).unwrap();
    }
    let out = tmp.path().join("explain");
    let stdout = ok(netlens(&["explain", s(&model), "--data", s(&photos), "--methods", "gradcam", "--out", s(&out)]));
    assert!(out.join("fireboat.png").exists() && out.join("viaduct.png").exists(), "{stdout}");
    assert!(out.join("contact_sheet.png").exists(), "{stdout}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("explanations.json")).unwrap()).unwrap();
    assert_eq!(json["images"].as_array().unwrap().len(), 2);
    assert_eq!(json["preprocess"]["name"], "imagenet");
    assert_eq!(json["images"][0]["label"], Value::Null);
    let sheet = image::open(out.join("contact_sheet.png")).unwrap();
    let one = image::open(out.join("fireboat.png")).unwrap();
    assert!(sheet.width() >= one.width() && sheet.height() >= one.height());
    // --index picks files of the folder
    let out2 = tmp.path().join("one");
    ok(netlens(&[
        "explain",
        s(&model),
        "--data",
        s(&photos),
        "--index",
        "1",
        "--methods",
        "gradcam",
        "--out",
        s(&out2),
    ]));
    assert!(out2.join("viaduct.png").exists() && !out2.join("fireboat.png").exists());
}
