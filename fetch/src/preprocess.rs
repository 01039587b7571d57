//! Preprocessing as data: how images become a model's input tensor.
//!
//! A [`Preprocess`] value is torchvision's evaluation pipeline written down:
//! channel conversion (`Grayscale(num_output_channels)`), `Resize`, `CenterCrop`, `ToTensor`
//! (the [`Preprocess::scale`] of 8-bit values) and `Normalize(mean, std)`, plus the channel
//! order. It is chosen on the command line (`--preprocess imagenet|unit|none|FILE.toml`), read
//! from a model's ONNX `metadata_props` (key [`METADATA_KEY`], JSON) when the model records it,
//! and otherwise guessed from the input shape ([`Preprocess::for_input`]). The value used is
//! written into `summary.json` and `explanations.json`.
//!
//! It is applied in two steps so that data sets keep one in-memory form ([`crate::Images`],
//! pixels in `[0, 1]` before normalisation): [`Preprocess::geometry_u8`] /
//! [`Preprocess::geometry_f32`] (channels, resize, crop) when loading, and
//! [`Preprocess::normalize`] (mean/std, channel order) just before the model.
//!
//! Resizing matches torchvision's `Resize` on PIL images: a triangle (bilinear) filter widened
//! by the reduction factor when shrinking (antialiased, Pillow's `Resample.c`, see
//! [`crate::resample`]), plain half-pixel bilinear when enlarging.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{FetchError, Result};
use crate::imagenet::{IMAGENET_CROP, IMAGENET_MEAN, IMAGENET_RESIZE, IMAGENET_STD};
use crate::resample::{resize_bilinear_antialias_f32, resize_bilinear_antialias_u8};

/// The ONNX `metadata_props` key under which netlens records a model's [`Preprocess`] (its
/// JSON form).
pub const METADATA_KEY: &str = "netlens.preprocess";

/// torchvision's `Resize` size argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Resize {
    /// `Resize(n)`: the shorter side becomes `n` pixels, the longer `floor(n · long / short)`.
    ShorterSide(usize),
    /// `Resize((height, width))`: exactly this size, aspect ratio not kept.
    Exact([usize; 2]),
}

/// Order of the three colour planes the model expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue (torchvision, PIL).
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV, Caffe models).
    Bgr,
}

/// How images become a model's input (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preprocess {
    /// Where the value came from (`imagenet`, `unit`, `none`, a file, the model's metadata);
    /// for people, not used in the computation.
    #[serde(default)]
    pub name: String,
    /// Channels fed to the model: 1 (RGB → grey by ITU-R 601 luma, as PIL's `convert("L")`)
    /// or 3 (grey → RGB by copying); `None` keeps the data's channels.
    #[serde(default)]
    pub channels: Option<usize>,
    /// torchvision `Resize`; `None` keeps the size.
    #[serde(default)]
    pub resize: Option<Resize>,
    /// torchvision `CenterCrop`, `[height, width]` in pixels; `None`: no crop.
    #[serde(default)]
    pub crop: Option<[usize; 2]>,
    /// Factor applied to 8-bit pixel values (`ToTensor`: 1/255; 1 for models that take 0–255).
    /// Loaded images are in `[0, 1]` (8-bit / 255; float arrays as stored), so
    /// [`Preprocess::normalize`] multiplies them by `scale · 255`.
    #[serde(default = "unit_scale")]
    pub scale: f32,
    /// Per-channel mean subtracted after scaling (one value for all channels, or one per
    /// channel, in [`Preprocess::channel_order`]'s order as fed to the model).
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Per-channel standard deviation divided by after the mean (as [`Preprocess::mean`]).
    #[serde(default)]
    pub std: Vec<f32>,
    /// Order of the colour planes.
    #[serde(default)]
    pub channel_order: ChannelOrder,
}

fn unit_scale() -> f32 {
    1.0 / 255.0
}

impl Preprocess {
    /// torchvision's ImageNet evaluation transform (`ResNet34_Weights.IMAGENET1K_V1.transforms()`):
    /// RGB, `Resize(256)`, `CenterCrop(224)`, /255, mean 0.485/0.456/0.406, std
    /// 0.229/0.224/0.225. For another input size `[h, w]` the crop is `[h, w]` and the resize
    /// keeps torchvision's ratio 256/224 (`floor(min(h, w) · 8 / 7)`).
    pub fn imagenet(height: usize, width: usize) -> Preprocess {
        Preprocess {
            name: "imagenet".into(),
            channels: Some(3),
            resize: Some(Resize::ShorterSide(height.min(width) * IMAGENET_RESIZE / IMAGENET_CROP)),
            crop: Some([height, width]),
            scale: unit_scale(),
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
            channel_order: ChannelOrder::Rgb,
        }
    }

    /// Pixels in `[0, 1]` at exactly the model's `[channels, height, width]` (the course's
    /// models): channel conversion, `Resize((height, width))`, /255, no normalisation.
    pub fn unit(chw: [usize; 3]) -> Preprocess {
        Preprocess {
            name: "unit".into(),
            channels: Some(chw[0]),
            resize: Some(Resize::Exact([chw[1], chw[2]])),
            crop: None,
            scale: unit_scale(),
            mean: vec![],
            std: vec![],
            channel_order: ChannelOrder::Rgb,
        }
    }

    /// Nothing but /255 for 8-bit data: the data must already have the model's channels and
    /// size.
    pub fn none() -> Preprocess {
        Preprocess { name: "none".into(), ..Preprocess::unit([0, 0, 0]) }.without_geometry()
    }

    fn without_geometry(mut self) -> Preprocess {
        self.channels = None;
        self.resize = None;
        self.crop = None;
        self
    }

    /// The default for a model input `[channels, height, width]` that records nothing:
    /// ImageNet's for `3 × 224 × 224` (torchvision's classifiers, fine-tuned or not), pixels
    /// in `[0, 1]` at the model's size otherwise.
    pub fn for_input(chw: [usize; 3]) -> Preprocess {
        if chw == [3, IMAGENET_CROP, IMAGENET_CROP] {
            Preprocess::imagenet(chw[1], chw[2])
        } else {
            Preprocess::unit(chw)
        }
    }

    /// The value recorded in a model's `metadata_props` under [`METADATA_KEY`], if any.
    ///
    /// # Errors
    /// [`FetchError::Format`] naming `model` when the value is not a valid [`Preprocess`].
    pub fn from_metadata(model: &Path, props: &[(String, String)]) -> Result<Option<Preprocess>> {
        let Some((_, value)) = props.iter().find(|(k, _)| k == METADATA_KEY) else {
            return Ok(None);
        };
        let mut p: Preprocess = serde_json::from_str(value).map_err(|e| {
            FetchError::format(
                model,
                format!("metadata_props `{METADATA_KEY}` holding a preprocessing (JSON)"),
                e.to_string(),
            )
        })?;
        p.check().map_err(|reason| FetchError::format(model, "a valid preprocessing in metadata_props", reason))?;
        if p.name.is_empty() {
            p.name = "model metadata".into();
        }
        Ok(Some(p))
    }

    /// The JSON value written under [`METADATA_KEY`].
    pub fn to_metadata(&self) -> (String, String) {
        (METADATA_KEY.into(), serde_json::to_string(self).expect("a Preprocess serialises"))
    }

    /// `imagenet`, `unit` or `none` for a model input `chw`, or a TOML file with the fields
    /// of [`Preprocess`] (`resize = 256` or `[h, w]`, `crop = [224, 224]`, `mean`, `std`,
    /// `channels`, `channel_order = "rgb"|"bgr"`, `scale`).
    ///
    /// # Errors
    /// [`FetchError::Io`] / [`FetchError::Format`] naming the file when it cannot be read or
    /// is not such a TOML; [`FetchError::Format`] for values out of range.
    pub fn from_choice(choice: &str, chw: [usize; 3]) -> Result<Preprocess> {
        match choice {
            "imagenet" => Ok(Preprocess::imagenet(chw[1], chw[2])),
            "unit" => Ok(Preprocess::unit(chw)),
            "none" => Ok(Preprocess::none()),
            file => Preprocess::from_toml_file(Path::new(file)),
        }
    }

    /// Reads a TOML file (see [`Preprocess::from_choice`]).
    ///
    /// # Errors
    /// As [`Preprocess::from_choice`].
    pub fn from_toml_file(path: &Path) -> Result<Preprocess> {
        let text = std::fs::read_to_string(path).map_err(|e| FetchError::io(path, e))?;
        let mut p: Preprocess = toml::from_str(&text).map_err(|e| {
            FetchError::format(
                path,
                "a preprocessing TOML (resize, crop, scale, mean, std, channels, channel_order)",
                e.to_string(),
            )
        })?;
        p.check().map_err(|reason| FetchError::format(path, "a valid preprocessing", reason))?;
        if p.name.is_empty() {
            p.name = path.display().to_string();
        }
        Ok(p)
    }

    /// Checks ranges: channels 1 or 3, sizes ≥ 1, finite scale, positive std, mean/std of
    /// length 0, 1 or the channel count.
    ///
    /// # Errors
    /// The reason, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        if let Some(c) = self.channels
            && c != 1
            && c != 3
        {
            return Err(format!("channels = {c}: 1 (grey) or 3 (RGB)"));
        }
        let zero = match self.resize {
            Some(Resize::ShorterSide(n)) => n == 0,
            Some(Resize::Exact([h, w])) => h == 0 || w == 0,
            None => false,
        };
        if zero || self.crop.is_some_and(|[h, w]| h == 0 || w == 0) {
            return Err("resize and crop sizes must be at least 1 pixel".into());
        }
        if !self.scale.is_finite() || self.scale == 0.0 {
            return Err(format!("scale = {}: a finite, non-zero factor", self.scale));
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) || self.mean.iter().any(|m| !m.is_finite()) {
            return Err("mean must be finite and std positive".into());
        }
        if !self.std.is_empty() && !self.mean.is_empty() && self.std.len() != self.mean.len() {
            return Err(format!("{} means but {} standard deviations", self.mean.len(), self.std.len()));
        }
        Ok(())
    }

    /// `[channels, height, width]` that an image of `chw` has after [`Preprocess::geometry_u8`].
    pub fn output_shape(&self, chw: [usize; 3]) -> [usize; 3] {
        let c = self.channels.unwrap_or(chw[0]);
        let (h, w) = self.resized(chw[1], chw[2]);
        let [h, w] = self.crop.unwrap_or([h, w]);
        [c, h, w]
    }

    fn resized(&self, h: usize, w: usize) -> (usize, usize) {
        match self.resize {
            None => (h, w),
            Some(Resize::Exact([rh, rw])) => (rh, rw),
            // torchvision: the shorter side becomes n, the longer int(n * long / short).
            Some(Resize::ShorterSide(n)) if h <= w => (n, (n * w / h).max(n)),
            Some(Resize::ShorterSide(n)) => ((n * h / w).max(n), n),
        }
    }

    /// Converts channels, resizes and centre-crops one 8-bit image and divides by 255.
    /// Resizing is in 8 bits with rounding after each pass, as Pillow.
    ///
    /// # Shapes
    /// `planes`: `[channels, height, width]` (channels 1 or 3, RGB); returns
    /// [`Preprocess::output_shape`] of it, unnormalised (`[0, 1]` with the default scale).
    pub fn geometry_u8(&self, planes: &[u8], chw: [usize; 3]) -> (Vec<f32>, [usize; 3]) {
        let [c, h, w] = chw;
        let planes = convert_channels_u8(planes, c, h * w, self.channels.unwrap_or(c));
        let (rh, rw) = self.resized(h, w);
        let mut out = Vec::new();
        let c = planes.len() / (h * w).max(1);
        for plane in planes.chunks_exact((h * w).max(1)) {
            let resized =
                if (rh, rw) == (h, w) { plane.to_vec() } else { resize_bilinear_antialias_u8(plane, h, w, rh, rw) };
            out.extend(self.cropped(&resized, rh, rw).into_iter().map(|v| v as f32 / 255.0));
        }
        let [oh, ow] = self.crop.unwrap_or([rh, rw]);
        (out, [c, oh, ow])
    }

    /// As [`Preprocess::geometry_u8`] for float pixels (already in `[0, 1]`): the resize does not round (torchvision's `Resize(antialias=True)` on tensors).
    ///
    /// # Shapes
    /// `planes`: `[channels, height, width]`; returns [`Preprocess::output_shape`] of it.
    pub fn geometry_f32(&self, planes: &[f32], chw: [usize; 3]) -> (Vec<f32>, [usize; 3]) {
        let [c, h, w] = chw;
        let target = self.channels.unwrap_or(c);
        let planes: Vec<f32> = match (c, target) {
            (1, 3) => planes.repeat(3),
            (3, 1) => {
                let n = h * w;
                (0..n).map(|i| 0.299 * planes[i] + 0.587 * planes[n + i] + 0.114 * planes[2 * n + i]).collect()
            }
            _ => planes.to_vec(),
        };
        let (rh, rw) = self.resized(h, w);
        let mut out = Vec::new();
        let n = (h * w).max(1);
        for plane in planes.chunks_exact(n) {
            let resized =
                if (rh, rw) == (h, w) { plane.to_vec() } else { resize_bilinear_antialias_f32(plane, h, w, rh, rw) };
            out.extend(self.cropped(&resized, rh, rw));
        }
        let [oh, ow] = self.crop.unwrap_or([rh, rw]);
        (out, [planes.len() / n, oh, ow])
    }

    /// torchvision's `CenterCrop`: offset `int(round((size − crop) / 2))` (ties to even); a
    /// crop larger than the image is padded with zeros, as torchvision pads.
    fn cropped<T: Copy + Default>(&self, plane: &[T], h: usize, w: usize) -> Vec<T> {
        let Some([ch, cw]) = self.crop else { return plane.to_vec() };
        let (top, left) = (crop_offset(h, ch), crop_offset(w, cw));
        let mut out = Vec::with_capacity(ch * cw);
        for y in 0..ch {
            for x in 0..cw {
                let (sy, sx) = (y as isize + top, x as isize + left);
                let inside = sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w;
                out.push(if inside { plane[sy as usize * w + sx as usize] } else { T::default() });
            }
        }
        out
    }

    /// The scale, `Normalize(mean, std)` and the channel order, in place:
    /// `(x · 255 · scale − mean_c) / std_c` per channel plane, then RGB → BGR when asked.
    ///
    /// # Shapes
    /// `pixels`: `[channels, height, width]` (RGB order), as [`Preprocess::geometry_u8`] gives.
    pub fn normalize(&self, pixels: &mut [f32], channels: usize) {
        let plane = pixels.len() / channels.max(1);
        let factor = self.factor();
        for (c, values) in pixels.chunks_mut(plane.max(1)).enumerate() {
            let mean = pick(&self.mean, c, 0.0);
            let std = pick(&self.std, c, 1.0);
            values.iter_mut().for_each(|v| *v = (*v * factor - mean) / std);
        }
        if self.channel_order == ChannelOrder::Bgr && channels == 3 {
            let (r, rest) = pixels.split_at_mut(plane);
            r.swap_with_slice(&mut rest[plane..]);
        }
    }

    /// The inverse of [`Preprocess::normalize`], clamped to `[0, 1]` (for display).
    ///
    /// # Shapes
    /// `pixels`: `[channels, height, width]` as the model takes them; returns RGB.
    pub fn denormalize(&self, pixels: &[f32], channels: usize) -> Vec<f32> {
        let mut out = pixels.to_vec();
        let plane = out.len() / channels.max(1);
        if self.channel_order == ChannelOrder::Bgr && channels == 3 {
            let (b, rest) = out.split_at_mut(plane);
            b.swap_with_slice(&mut rest[plane..]);
        }
        for (c, values) in out.chunks_mut(plane.max(1)).enumerate() {
            let (mean, std) = (pick(&self.mean, c, 0.0), pick(&self.std, c, 1.0));
            values.iter_mut().for_each(|v| *v = ((*v * std + mean) / self.factor()).clamp(0.0, 1.0));
        }
        out
    }

    /// `scale · 255`: what loaded `[0, 1]` pixels are multiplied by (exactly 1 for `/255`).
    fn factor(&self) -> f32 {
        let f = f64::from(self.scale) * 255.0;
        if (f - 1.0).abs() < 1e-6 { 1.0 } else { f as f32 }
    }

    /// One line for people: `imagenet: RGB, resize shorter side 256, centre crop 224×224,
    /// ×1/255, mean [0.485, …], std [0.229, …]`.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        match self.channels {
            Some(1) => parts.push("grey (ITU-R 601 luma)".to_string()),
            Some(_) => parts.push(format!("{:?}", self.channel_order).to_uppercase()),
            None => parts.push("channels as stored".into()),
        }
        match self.resize {
            Some(Resize::ShorterSide(n)) => parts.push(format!("resize shorter side to {n} (antialiased bilinear)")),
            Some(Resize::Exact([h, w])) => parts.push(format!("resize to {h}×{w} (antialiased bilinear)")),
            None => parts.push("no resize".into()),
        }
        if let Some([h, w]) = self.crop {
            parts.push(format!("centre crop {h}×{w}"));
        }
        parts.push(if (self.scale - unit_scale()).abs() < 1e-9 {
            "8-bit /255".into()
        } else {
            format!("8-bit ×{}", self.scale)
        });
        if !self.mean.is_empty() || !self.std.is_empty() {
            parts.push(format!("mean {:?}, std {:?}", self.mean, self.std));
        }
        format!("{}: {}", self.name, parts.join(", "))
    }
}

fn pick(values: &[f32], c: usize, default: f32) -> f32 {
    match values {
        [] => default,
        [v] => *v,
        vs => vs.get(c).copied().unwrap_or(default),
    }
}

/// torchvision's `CenterCrop` offset `int(round((size − crop) / 2.0))` with Python's
/// round-half-to-even; negative when the crop is larger (then padded).
fn crop_offset(size: usize, crop: usize) -> isize {
    let diff = size as f64 - crop as f64;
    (diff / 2.0).round_ties_even() as isize
}

/// 8-bit channel conversion as PIL does it: RGB → L by `(19595 R + 38470 G + 7471 B + 2^15) >> 16`
/// (ITU-R 601-2 luma, `Convert.c`), L → RGB by copying.
fn convert_channels_u8(planes: &[u8], from: usize, n: usize, to: usize) -> Vec<u8> {
    match (from, to) {
        (1, 3) => planes.repeat(3),
        (3, 1) => (0..n)
            .map(|i| {
                let (r, g, b) = (planes[i] as u32, planes[n + i] as u32, planes[2 * n + i] as u32);
                ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) as u8
            })
            .collect(),
        _ => planes.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Float tolerance of the preprocessing checks (f32 rounding of a few operations).
    const TOLERANCE: f32 = 1e-6;

    #[test]
    fn imagenet_preset_reproduces_the_imagenet_module() {
        let p = Preprocess::imagenet(224, 224);
        assert_eq!(p.resize, Some(Resize::ShorterSide(256)));
        let photo = crate::imagenet::read_rgb(
            &Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
                .join("../../shared/data/imagenet-samples/cat_dog.jpg"),
        )
        .unwrap();
        let (w, h) = (photo.width() as usize, photo.height() as usize);
        let planes: Vec<u8> = (0..3).flat_map(|c| photo.pixels().map(move |p| p.0[c])).collect();
        let (mut ours, shape) = p.geometry_u8(&planes, [3, h, w]);
        assert_eq!(shape, [3, 224, 224]);
        p.normalize(&mut ours, 3);
        let want = crate::imagenet::preprocess_imagenet(&photo);
        let worst = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < TOLERANCE * 10.0, "max |difference| {worst}");
        let back = p.denormalize(&ours, 3);
        assert!(back.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn shrinking_is_antialiased_and_shapes_follow_torchvision() {
        let p = Preprocess::unit([1, 4, 4]);
        // A 64×64 checkerboard shrunk to 4×4 is mid-grey, not black or white (aliasing).
        let board: Vec<u8> = (0..64 * 64).map(|i| if (i / 64 + i % 64) % 2 == 0 { 0 } else { 255 }).collect();
        let (out, shape) = p.geometry_u8(&board, [1, 64, 64]);
        assert_eq!(shape, [1, 4, 4]);
        assert!(out.iter().all(|v| (v - 0.5).abs() < 0.03), "{out:?}");
        let s = Preprocess { resize: Some(Resize::ShorterSide(256)), ..Preprocess::none() };
        assert_eq!(s.output_shape([3, 480, 640]), [3, 256, 341]);
        assert_eq!(crop_offset(341, 224), 58);
        assert_eq!(crop_offset(256, 224), 16);
        // grey → RGB copies, RGB → grey is PIL's luma
        let (rgb, shape) = Preprocess::unit([3, 1, 2]).geometry_u8(&[10, 200], [1, 1, 2]);
        assert_eq!(shape, [3, 1, 2]);
        assert_eq!(rgb.len(), 6);
        let (grey, _) = Preprocess::unit([1, 1, 1]).geometry_u8(&[255, 0, 0], [3, 1, 1]);
        assert!((grey[0] - 76.0 / 255.0).abs() < TOLERANCE, "{grey:?}");
    }

    #[test]
    fn toml_metadata_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cifar.toml");
        std::fs::write(&f, "resize = [32, 32]\nmean = [0.4914, 0.4822, 0.4465]\nstd = [0.247, 0.243, 0.261]\nchannel_order = \"bgr\"\n").unwrap();
        let p = Preprocess::from_choice(f.to_str().unwrap(), [3, 32, 32]).unwrap();
        assert_eq!(p.resize, Some(Resize::Exact([32, 32])));
        assert_eq!(p.channel_order, ChannelOrder::Bgr);
        let mut px = vec![0.4914f32, 0.4822, 0.4465 + 0.261];
        p.normalize(&mut px, 3);
        // normalised R = 0, G = 0, B = 1, then swapped to B, G, R
        assert!((px[0] - 1.0).abs() < TOLERANCE && px[1].abs() < TOLERANCE && px[2].abs() < TOLERANCE, "{px:?}");
        let props = vec![p.to_metadata()];
        assert_eq!(Preprocess::from_metadata(Path::new("m.onnx"), &props).unwrap(), Some(p));
        std::fs::write(&f, "std = [0.0]\n").unwrap();
        let e = Preprocess::from_choice(f.to_str().unwrap(), [3, 32, 32]).unwrap_err().to_string();
        assert!(e.contains("cifar.toml") && e.contains("std positive"), "{e}");
        std::fs::write(&f, "rezise = 3\n").unwrap();
        let e = Preprocess::from_choice(f.to_str().unwrap(), [3, 32, 32]).unwrap_err().to_string();
        assert!(e.contains("cifar.toml") && e.contains("rezise"), "{e}");
        let bad = vec![(METADATA_KEY.to_string(), "{".to_string())];
        let e = Preprocess::from_metadata(Path::new("m.onnx"), &bad).unwrap_err().to_string();
        assert!(e.contains("m.onnx") && e.contains(METADATA_KEY), "{e}");
        assert_eq!(Preprocess::for_input([3, 224, 224]).name, "imagenet");
        assert_eq!(Preprocess::for_input([1, 32, 32]).name, "unit");
    }
}
