//! ImageNet inputs for torchvision classifiers (ResNet-34): preprocessing and class names.
//!
//! Preprocessing is torchvision's evaluation transform for its ImageNet-1k weights
//! (`ResNet34_Weights.IMAGENET1K_V1.transforms()`, `torchvision/transforms/_presets.py`):
//! `Resize(256)` (shorter side to 256, bilinear, antialiased as Pillow does), `CenterCrop(224)`,
//! `ToTensor()` (/255), `Normalize(mean, std)` with [`IMAGENET_MEAN`] and [`IMAGENET_STD`].

use std::path::Path;

use crate::error::{FetchError, Result};
use crate::resample::resize_bilinear_antialias_u8;

/// Per-channel (R, G, B) mean of ImageNet-1k training images, on the [0, 1] scale
/// (torchvision's `Normalize(mean=[0.485, 0.456, 0.406], ...)`).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];

/// Per-channel (R, G, B) standard deviation of ImageNet-1k training images, on the [0, 1] scale
/// (torchvision's `Normalize(..., std=[0.229, 0.224, 0.225])`).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Length in pixels the shorter image side is resized to before cropping.
pub const IMAGENET_RESIZE: usize = 256;

/// Side in pixels of the square center crop fed to the network.
pub const IMAGENET_CROP: usize = 224;

/// The 1,000 ImageNet-1k class names in torchvision's index order (line `i` is class `i`),
/// shipped in the binary from `fetch/data/imagenet-classes.txt` (torchvision's list, the same
/// as the course's `shared/data`), so the build needs nothing outside the repository.
pub const IMAGENET_CLASSES_TXT: &str = include_str!("../data/imagenet-classes.txt");

/// Number of ImageNet-1k classes.
pub const IMAGENET_NUM_CLASSES: usize = 1000;

/// The ImageNet-1k class names, index `i` = logit `i` of a torchvision classifier.
pub fn imagenet_class_names() -> Vec<&'static str> {
    IMAGENET_CLASSES_TXT.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect()
}

/// Reads an image file (PNG or JPEG, any colour type) and preprocesses it for an ImageNet
/// classifier; see [`preprocess_imagenet`].
///
/// # Shapes
/// Returns `[3, 224, 224]` (channels R, G, B; row-major), ImageNet-normalised floats.
///
/// # Errors
/// [`FetchError::Io`] if unreadable, [`FetchError::Image`] if not a decodable image.
pub fn preprocess_imagenet_file(path: &Path) -> Result<Vec<f32>> {
    let rgb = read_rgb(path)?;
    Ok(preprocess_imagenet(&rgb))
}

/// Decodes an image file into 8-bit RGB.
///
/// # Errors
/// [`FetchError::Io`] if unreadable, [`FetchError::Image`] if not a decodable image,
/// [`FetchError::Format`] for a JPEG without its end-of-image marker (a cut-off download: the
/// JPEG decoder would silently fill the missing rows with grey).
pub fn read_rgb(path: &Path) -> Result<image::RgbImage> {
    let reader = image::ImageReader::open(path).map_err(|e| FetchError::io(path, e))?;
    let reader = reader.with_guessed_format().map_err(|e| FetchError::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        check_jpeg_complete(path)?;
    }
    let decoded = reader.decode().map_err(|source| FetchError::Image { path: path.into(), source })?;
    Ok(decoded.to_rgb8())
}

/// Bytes after a JPEG's end-of-image marker that are still accepted (some writers pad files).
const JPEG_TRAILER_SLACK: usize = 4096;

/// A complete JPEG has its end-of-image marker `FF D9` at the end (ITU-T T.81 §B.2.1), give or
/// take some padding.
pub(crate) fn check_jpeg_complete(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| FetchError::io(path, e))?;
    let tail = &bytes[bytes.len().saturating_sub(JPEG_TRAILER_SLACK)..];
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Ok(());
    }
    Err(FetchError::Format {
        path: path.into(),
        expected: "a complete JPEG ending in its end-of-image marker (FF D9)".into(),
        found: format!("{} bytes without it: the file is cut off", bytes.len()),
    })
}

/// torchvision's ImageNet evaluation transform: shorter side to [`IMAGENET_RESIZE`] (the
/// longer side to `floor(256 · long / short)`), center crop [`IMAGENET_CROP`] (offset
/// `round((size − 224) / 2)`, ties to even like Python), /255, then `(x − mean) / std`.
///
/// # Shapes
/// Returns `[3, 224, 224]` (channels R, G, B; row-major).
pub fn preprocess_imagenet(rgb: &image::RgbImage) -> Vec<f32> {
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let (out_h, out_w) = resized_size(height, width, IMAGENET_RESIZE);
    let top = crop_offset(out_h, IMAGENET_CROP);
    let left = crop_offset(out_w, IMAGENET_CROP);
    let mut out = Vec::with_capacity(3 * IMAGENET_CROP * IMAGENET_CROP);
    for c in 0..3 {
        let plane: Vec<u8> = rgb.pixels().map(|p| p.0[c]).collect();
        let resized = resize_bilinear_antialias_u8(&plane, height, width, out_h, out_w);
        for y in top..top + IMAGENET_CROP {
            let row = &resized[y * out_w + left..y * out_w + left + IMAGENET_CROP];
            out.extend(row.iter().map(|&v| v as f32 / 255.0));
        }
    }
    normalize_imagenet(&mut out);
    out
}

/// torchvision's `Normalize(IMAGENET_MEAN, IMAGENET_STD)` in place: `(x − mean_c) / std_c` for
/// each of the three channel planes.
///
/// # Shapes
/// `pixels`: `[3, height, width]` (R, G, B planes, row-major) in `[0, 1]`.
///
/// # Panics
/// If `pixels.len()` is not a multiple of 3.
pub fn normalize_imagenet(pixels: &mut [f32]) {
    assert!(pixels.len().is_multiple_of(3), "ImageNet images have three channel planes");
    let plane = pixels.len() / 3;
    for (i, v) in pixels.iter_mut().enumerate() {
        let c = i / plane;
        *v = (*v - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
    }
}

/// The inverse of [`normalize_imagenet`], clamped to `[0, 1]` (for display).
///
/// # Shapes
/// `pixels`: `[3, height, width]`, ImageNet-normalised; returns the same layout.
///
/// # Panics
/// If `pixels.len()` is not a multiple of 3.
pub fn denormalize_imagenet(pixels: &[f32]) -> Vec<f32> {
    assert!(pixels.len().is_multiple_of(3), "ImageNet images have three channel planes");
    let plane = pixels.len() / 3;
    pixels
        .iter()
        .enumerate()
        .map(|(i, &v)| (v * IMAGENET_STD[i / plane] + IMAGENET_MEAN[i / plane]).clamp(0.0, 1.0))
        .collect()
}

/// `(height, width)` after torchvision's `Resize(size)` with one int: the shorter side becomes
/// `size`, the longer `floor(size · long / short)`.
fn resized_size(height: usize, width: usize, size: usize) -> (usize, usize) {
    let scaled = |long: usize, short: usize| size * long / short;
    if height <= width { (size, scaled(width, height).max(size)) } else { (scaled(height, width).max(size), size) }
}

/// torchvision's `CenterCrop` offset: `int(round((size - crop) / 2.0))`, Python rounding
/// (ties to even). A size smaller than the crop never happens after `Resize(256)`.
fn crop_offset(size: usize, crop: usize) -> usize {
    let diff = size.saturating_sub(crop);
    let half = diff / 2;
    if diff.is_multiple_of(2) || half.is_multiple_of(2) { half } else { half + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Mean absolute difference to torchvision's preprocessing that a correct implementation
    /// meets (`shared/fixtures/README.md`: resize implementations differ slightly).
    const MEAN_ABS_TOLERANCE: f32 = 0.02;

    fn shared() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
    }

    #[test]
    fn class_names_are_the_thousand_in_torchvision_order() {
        let names = imagenet_class_names();
        assert_eq!(names.len(), IMAGENET_NUM_CLASSES);
        // torchvision's ImageNet-1k categories: 0 tench, 281 tabby cat, 999 toilet tissue.
        assert!(names[0].contains("tench"), "{}", names[0]);
        assert!(names[281].contains("tabby"), "{}", names[281]);
        // The copy in the repository is the course's list, line for line.
        let shared = std::fs::read_to_string(shared().join("data/imagenet-classes.txt")).unwrap();
        assert_eq!(IMAGENET_CLASSES_TXT, shared);
    }

    #[test]
    fn cat_dog_matches_torchvision_preprocessing() {
        let ours = preprocess_imagenet_file(&shared().join("data/imagenet-samples/cat_dog.png")).unwrap();
        let want = crate::npy::read_f32(&shared().join("fixtures/cat_dog.imagenet.npy"), "(3, 224, 224)").unwrap();
        assert_eq!(want.shape, vec![3, IMAGENET_CROP, IMAGENET_CROP]);
        assert_eq!(ours.len(), want.data.len());
        let mean_abs = ours.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).sum::<f32>() / ours.len() as f32;
        assert!(mean_abs < MEAN_ABS_TOLERANCE, "mean |difference| {mean_abs}");
    }

    #[test]
    fn larger_photo_is_resized_and_center_cropped() {
        let ours = preprocess_imagenet_file(&shared().join("data/imagenet-samples/cat_dog.jpg")).unwrap();
        assert_eq!(ours.len(), 3 * IMAGENET_CROP * IMAGENET_CROP);
        // 640×480 → 341×256 (torchvision: int(256 * 640 / 480) = 341), crop offsets 16 and 58.
        assert_eq!(resized_size(480, 640, IMAGENET_RESIZE), (256, 341));
        assert_eq!((crop_offset(256, 224), crop_offset(341, 224)), (16, 58));
        let min = (0.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
        assert!(ours.iter().all(|v| v.is_finite() && *v >= min - 1e-3));
    }

    #[test]
    fn a_cut_off_jpeg_is_an_error_and_every_sample_jpeg_is_complete() {
        let samples = shared().join("data/imagenet-samples");
        let mut jpegs = 0;
        for entry in std::fs::read_dir(&samples).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jpg") {
                read_rgb(&path).unwrap();
                jpegs += 1;
            }
        }
        assert!(jpegs > 0);
        let whole = std::fs::read(samples.join("fireboat.jpg")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("fireboat-cut.jpg");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let err = read_rgb(&cut).unwrap_err().to_string();
        assert!(err.contains("fireboat-cut.jpg") && err.contains("FF D9") && err.contains("cut off"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_an_image_is_a_clear_error() {
        let err = preprocess_imagenet_file(&shared().join("data/README.md")).unwrap_err().to_string();
        assert!(err.contains("README.md") && err.contains("cannot decode image"), "{err}");
    }
}
