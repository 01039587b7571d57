//! What a model is fed: the [`Preprocess`] chosen for it, and data sets normalised by it.

use std::path::Path;

use netlens_fetch::{Images, Preprocess};

use crate::error::Result;

/// The preprocessing for the model at `model` whose input is `chw` (`[channels, height,
/// width]`, `None` when not fixed) with `metadata_props` `metadata`: `choice` when given
/// (`imagenet`, `unit`, `none` or a TOML file, [`Preprocess::from_choice`]), else what the
/// model records under `netlens.preprocess`, else [`Preprocess::for_input`] of its shape
/// (`none` when the shape is not fixed).
///
/// # Errors
/// A file that cannot be read or parsed, or invalid metadata, naming the file.
pub fn model_preprocess(
    model: &Path,
    chw: Option<[usize; 3]>,
    metadata: &[(String, String)],
    choice: Option<&str>,
) -> Result<Preprocess> {
    if let Some(choice) = choice {
        let chw = chw.unwrap_or([3, 224, 224]);
        return Ok(Preprocess::from_choice(choice, chw)?);
    }
    if let Some(p) = Preprocess::from_metadata(model, metadata)? {
        return Ok(p);
    }
    Ok(chw.map_or_else(Preprocess::none, Preprocess::for_input))
}

/// `images` (pixels in `[0, 1]`, as loaded) normalised for the model ([`Preprocess::normalize`]).
///
/// # Shapes
/// `images`: `[batch, channels, height, width]`; returns the same shape.
pub fn normalized(images: &Images, preprocess: &Preprocess) -> Images {
    let mut out = images.clone();
    let c = images.shape[1];
    let n = images.image_len().max(1);
    for image in out.data.chunks_mut(n) {
        preprocess.normalize(image, c);
    }
    out
}
