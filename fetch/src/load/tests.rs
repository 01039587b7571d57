use std::path::{Path, PathBuf};

use super::*;

fn shared_small() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../shared/data/fashion-mnist-small")
}

fn png(path: &Path, w: u32, h: u32, value: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([value])).save(path).unwrap();
}

/// A CIFAR-10 batch of 5 images made here loads with its labels, pixel planes in order.
#[test]
fn a_cifar10_batch_loads_with_the_right_labels() {
    let dir = tempfile::tempdir().unwrap();
    let labels = [3u8, 0, 9, 3, 7];
    // image i: red plane i, green 100 + i, blue 200 + i (so plane order is checked)
    let pixels: Vec<u8> =
        (0..5u8).flat_map(|i| [i, 100 + i, 200 + i].into_iter().flat_map(|v| std::iter::repeat_n(v, 1024))).collect();
    std::fs::write(dir.path().join("test_batch.bin"), encode_cifar10_batch(&pixels, &labels)).unwrap();
    let source = DataSource::open(dir.path(), Split::Test).unwrap();
    assert_eq!(source.format(), DataFormat::Cifar10);
    assert_eq!(source.labels(), &[3, 0, 9, 3, 7]);
    assert_eq!(source.class_names()[3], "cat");
    let data = source.load(&[1, 2], &Preprocess::none()).unwrap();
    assert_eq!(data.images.shape, [2, 3, 32, 32]);
    assert_eq!(data.labels, vec![0, 9]);
    let img = data.images.image(1);
    assert_eq!([img[0], img[1024], img[2048]], [2.0 / 255.0, 102.0 / 255.0, 202.0 / 255.0]);
    // the same file given directly, and a cut-off one named
    let file = dir.path().join("test_batch.bin");
    assert_eq!(DataSource::open(&file, Split::Test).unwrap().len(), 5);
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &std::fs::read(&file).unwrap()[..3000]).unwrap();
    let e = DataSource::open(&cut, Split::Test).unwrap_err().to_string();
    assert!(e.contains("cut.bin") && e.contains("3000 bytes") && e.contains("3073"), "{e}");
}

#[test]
fn image_folders_sort_classes_like_torchvision_and_select_classes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (class, n) in [("dog", 2), ("Cat", 1), ("bird", 3)] {
        for i in 0..n {
            png(&root.join(class).join(format!("{i}.png")), 4, 4, 10 * i as u8);
        }
    }
    let source = DataSource::open(root, Split::Test).unwrap();
    // Python's sorted(): upper case before lower case
    assert_eq!(source.class_names(), &["Cat", "bird", "dog"]);
    assert_eq!(source.labels(), &[0, 1, 1, 1, 2, 2]);
    assert_eq!(source.name(2), "1");
    let picked = source.clone().keep_classes(&["dog".into(), "0".into()]).unwrap();
    assert_eq!(picked.class_names(), &["dog", "Cat"]);
    assert_eq!(picked.labels(), &[1, 0, 0]);
    let e = source.keep_classes(&["fish".into()]).unwrap_err().to_string();
    assert!(e.contains("no class `fish`") && e.contains("available: Cat, bird, dog"), "{e}");
}

#[test]
fn bad_image_folders_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    png(&root.join("a/0.png"), 8, 8, 1);
    png(&root.join("a/1.png"), 6, 5, 1);
    std::fs::write(root.join("a/notes.txt"), "not an image").unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    // an empty class folder is an error naming it
    let e = DataSource::open(&root, Split::Test).unwrap_err().to_string();
    assert!(e.contains("data/b") && e.contains("has none"), "{e}");
    png(&root.join("b/0.png"), 8, 8, 1);
    // a file that is not an image is skipped with a warning naming it
    let source = DataSource::open(&root, Split::Test).unwrap();
    assert_eq!(source.len(), 3);
    assert!(
        source.warnings().iter().any(|w| w.contains("notes.txt") && w.contains("skipped")),
        "{:?}",
        source.warnings()
    );
    // mixed sizes: an error without a resize, naming both files; resized with one
    let e = source.load(&[0, 1, 2], &Preprocess::none()).unwrap_err().to_string();
    assert!(e.contains("1.png") && e.contains("1×8×8 like") && e.contains("0.png") && e.contains("found 1×5×6"), "{e}");
    let data = source.load(&[0, 1, 2], &Preprocess::unit([3, 16, 16])).unwrap();
    assert_eq!(data.images.shape, [3, 3, 16, 16]);
    // a corrupt image is an error naming it
    std::fs::write(root.join("b/1.png"), b"\x89PNG\r\n\x1a\n broken").unwrap();
    let source = DataSource::open(&root, Split::Test).unwrap();
    let e = source.load(&[3], &Preprocess::none()).unwrap_err().to_string();
    assert!(e.contains("b/1.png") && e.contains("cannot decode image"), "{e}");
    // a folder with nothing usable
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = DataSource::open(&empty, Split::Test).unwrap_err().to_string();
    assert!(e.contains("empty") && e.contains("one folder per class"), "{e}");
}

#[test]
fn npz_and_course_npy_give_the_same_dataset() {
    let course = DataSource::open(&shared_small(), Split::Test).unwrap();
    assert_eq!(course.format(), DataFormat::CourseNpy);
    assert!(course.format().is_course());
    let x = std::fs::read(shared_small().join("X_test.npy")).unwrap();
    let y = std::fs::read(shared_small().join("Y_test.npy")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("small.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&npz).unwrap());
    for (name, bytes) in [("x.npy", &x), ("y.npy", &y)] {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
    let from_npz = DataSource::open(&npz, Split::Test).unwrap();
    assert_eq!(from_npz.format(), DataFormat::Npz);
    assert_eq!(from_npz.labels(), course.labels());
    assert_eq!(from_npz.class_names().len(), 10);
    let idx: Vec<usize> = (0..1000).step_by(97).collect();
    let a = course.load(&idx, &Preprocess::none()).unwrap();
    let b = from_npz.load(&idx, &Preprocess::none()).unwrap();
    assert_eq!(a.images, b.images);
    // an X_*.npy file given directly pairs with its Y_*.npy
    let direct = DataSource::open(&shared_small().join("X_test.npy"), Split::Test).unwrap();
    assert_eq!(direct.len(), 1000);
    // an archive without x and y lists what it has
    let bad = dir.path().join("bad.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&bad).unwrap());
    zip.start_file("images.npy", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut zip, &x).unwrap();
    zip.finish().unwrap();
    let e = DataSource::open(&bad, Split::Test).unwrap_err().to_string();
    assert!(e.contains("bad.npz") && e.contains("arrays `x` and `y`") && e.contains("found arrays images"), "{e}");
    // a member of the wrong shape is named inside the archive, not in the temporary folder it was
    // read from
    let swapped = dir.path().join("swapped.npz");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&swapped).unwrap());
    for name in ["x.npy", "y.npy"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut zip, &y).unwrap();
    }
    zip.finish().unwrap();
    let e = DataSource::open(&swapped, Split::Test).unwrap_err().to_string();
    let member = dir.path().join("swapped.npz").join("x.npy");
    assert!(e.starts_with(&format!("{}: expected", member.display())), "{e}");
}
