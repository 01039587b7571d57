//! Figures of individual faces from the exported VAE: attribute-vector edits and pairs of real
//! faces, with what the encoder makes of each decoded face.
//!
//! An attribute edit gives a face x of group B a property of group A by moving its latent along
//! the attribute vector d = μ̄_A − μ̄_B, the difference of the two groups' mean latents, and
//! decoding z = μ(x) + α d (White 2016, "Sampling Generative Networks", arXiv:1609.04468,
//! "attribute vectors"; Larsen et al. 2016, "Autoencoding beyond pixels using a learned
//! similarity metric", ICML, "visual attribute vectors"). The edited face is left out of both
//! means, so it does not pull the direction toward itself. For α in [0, 1] this is the course's
//! z = α z₁ + (1 − α) z₂ with z₁ = μ(x) + d and z₂ = μ(x).
//!
//! To see whether an edit carries the attribute into the decoded image, and not only into the
//! latent, each decoded face is encoded again and its μ projected on d: the fraction
//! (μ − μ̄_B)·d / |d|² is 0 at group B's mean latent and 1 at group A's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use netlens_fetch::Images;
use netlens_fetch::runs::{
    AttributeFigure, EditDirection, FACE_INTERPOLATIONS, FaceEdit, FaceInterpolations, FacePair, FaceRef, MeanPath,
    PairFigure, write_json,
};

use super::figures::{FaceRow, face_rows};
use super::{Groups, LatentSpec, VaeModels, check_alphas, mix};
use crate::error::{AnalyzeError, Result};
use crate::explain::figure::write_png;

/// The pairs of groups `netlens run` draws, (A, B): one attribute-edit figure each, and face
/// pairs with one face of each group.
pub const ATTRIBUTES: [(&str, &str); 2] = [("female", "male"), ("older", "younger")];
/// Faces edited per direction (B toward A, A toward B) of each attribute.
pub const EDITED_FACES: usize = 3;
/// Face pairs per attribute in the face-pairs figure.
pub const FACE_PAIRS: usize = 3;

/// An attribute vector d = μ̄_A − μ̄_B between two mean latents, and positions along it.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeVector {
    /// μ̄_B, `[latent]`.
    away: Vec<f64>,
    /// d, `[latent]`.
    d: Vec<f64>,
    /// |d|².
    length_sq: f64,
}

impl AttributeVector {
    /// d = `toward` − `away` (mean latents μ̄_A and μ̄_B, `[latent]` each).
    ///
    /// # Errors
    /// [`AnalyzeError::ShapeMismatch`] when the two have different lengths;
    /// [`AnalyzeError::Numeric`] when d is zero or not finite (the means coincide: there is no
    /// direction to move along).
    pub fn between(toward: &[f64], away: &[f64]) -> Result<AttributeVector> {
        if toward.len() != away.len() {
            return Err(AnalyzeError::ShapeMismatch {
                what: "the two mean latents of an attribute vector".into(),
                expected: format!("{} dimensions, as the first", toward.len()),
                found: format!("{}", away.len()),
            });
        }
        let d: Vec<f64> = toward.iter().zip(away).map(|(a, b)| a - b).collect();
        let length_sq: f64 = d.iter().map(|x| x * x).sum();
        if !(length_sq.is_finite() && length_sq > 0.0) {
            return Err(AnalyzeError::Numeric {
                what: "the attribute vector μ̄_A − μ̄_B".into(),
                reason: format!("its squared length is {length_sq}; the two groups' mean latents must differ"),
            });
        }
        Ok(AttributeVector { away: away.to_vec(), d, length_sq })
    }

    /// |d|, in latent units.
    pub fn length(&self) -> f64 {
        self.length_sq.sqrt()
    }

    /// d, `[latent]`.
    pub fn vector(&self) -> &[f64] {
        &self.d
    }

    /// z + α d, `[latent]`, for a latent `z` of the vector's length.
    pub fn edit(&self, z: &[f32], alpha: f64) -> Vec<f32> {
        z.iter().zip(&self.d).map(|(&x, d)| (f64::from(x) + alpha * d) as f32).collect()
    }

    /// Where `mu` (`[latent]`) lies along d: (μ − μ̄_B)·d / |d|², 0 at μ̄_B, 1 at μ̄_A.
    pub fn fraction(&self, mu: &[f32]) -> f64 {
        mu.iter().zip(&self.away).zip(&self.d).map(|((&m, b), d)| (f64::from(m) - b) * d).sum::<f64>() / self.length_sq
    }
}

/// The mean μ, per axis in f64, of the `members` other than `left_out`; `None` when none remain.
///
/// # Panics
/// When a member has no latent in `latents` (callers encode every member first).
pub(crate) fn mean_latent(
    latents: &BTreeMap<usize, Vec<f32>>,
    members: &[usize],
    left_out: Option<usize>,
) -> Option<Vec<f64>> {
    let kept: Vec<&Vec<f32>> = members.iter().filter(|&&i| Some(i) != left_out).map(|i| &latents[i]).collect();
    let first = kept.first()?;
    let mut mean = vec![0.0f64; first.len()];
    for mu in &kept {
        for (m, &x) in mean.iter_mut().zip(mu.iter()) {
            *m += f64::from(x);
        }
    }
    let n = kept.len() as f64;
    Some(mean.into_iter().map(|m| m / n).collect())
}

/// Root mean square difference per value between two images.
fn rms(a: &[f32], b: &[f32]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum::<f64>() / a.len().max(1) as f64).sqrt()
}

/// Of the squared difference between images `a` and `b` (`[C, H, W]` with `[h, w]` = `hw`),
/// the share in the central quarter: rows `h/4..3h/4` and columns `w/4..3w/4`. 0 when the
/// images are equal.
fn centre_share(a: &[f32], b: &[f32], [h, w]: [usize; 2]) -> f64 {
    let (mut centre, mut total) = (0f64, 0f64);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = f64::from(x - y).powi(2);
        let (row, col) = ((i / w) % h, i % w);
        total += d;
        if (h / 4..3 * h / 4).contains(&row) && (w / 4..3 * w / 4).contains(&col) {
            centre += d;
        }
    }
    if total > 0.0 { centre / total } else { 0.0 }
}

/// Chooses faces so that none is drawn twice: members of a group that are in fewer other
/// groups first (so a face that is both male and older stays available for the age figures),
/// then in the order of the groups file.
struct Picker<'a> {
    groups: &'a Groups,
    /// Images in the data: members at or past this index are skipped.
    count: usize,
    used: BTreeSet<usize>,
}

impl Picker<'_> {
    /// Up to `n` members of `group` that are not in `not_in`, not taken before and below
    /// `count`; marks them taken.
    fn take(&mut self, group: &str, not_in: &str, n: usize) -> Result<Vec<usize>> {
        let members = self.groups.get(group)?;
        let excluded = self.groups.get(not_in)?;
        let names = self.groups.names();
        let memberships = |i: usize| names.iter().filter(|g| self.groups.get(g).is_ok_and(|m| m.contains(&i))).count();
        let mut candidates: Vec<(usize, usize, usize)> = members
            .iter()
            .enumerate()
            .filter(|&(_, &i)| i < self.count && !self.used.contains(&i) && !excluded.contains(&i))
            .map(|(position, &i)| (memberships(i), position, i))
            .collect();
        candidates.sort_unstable();
        let taken: Vec<usize> = candidates.into_iter().take(n).map(|(_, _, i)| i).collect();
        self.used.extend(&taken);
        Ok(taken)
    }

    /// Gives back faces taken but not drawn.
    fn release(&mut self, faces: &[usize]) {
        for i in faces {
            self.used.remove(i);
        }
    }
}

/// One row of an edit figure before decoding.
struct EditRow {
    label: Vec<String>,
    /// The input face, `[1, 3, H, W]`; none for the group-mean row.
    input: Option<Images>,
    /// The latent at α = 0.
    start: Vec<f32>,
    vector: AttributeVector,
}

/// What was measured on one decoded row of an edit figure.
struct EditMeasure {
    /// Re-encoded fraction along the row's d per weight.
    fractions: Vec<f64>,
    /// RMS per pixel value between the last and first decoded faces.
    rms_change: f64,
    /// Share of that change in the image's central quarter ([`centre_share`]).
    centre_share: f64,
}

/// Weights 0, `alphas` ascending, 1.
fn weights(alphas: &[f64]) -> Vec<f64> {
    let mut sorted = alphas.to_vec();
    sorted.sort_by(f64::total_cmp);
    std::iter::once(0.0).chain(sorted).chain(std::iter::once(1.0)).collect()
}

/// "α = 0", "α = 0.2", …, "α = 1".
fn weight_labels(weights: &[f64]) -> Vec<String> {
    weights.iter().map(|w| format!("α = {w}")).collect()
}

/// The two files of a figure named `stem` in `out_dir`.
fn figure_files(out_dir: &Path, stem: &str) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out_dir).map_err(|source| AnalyzeError::Io { path: out_dir.into(), source })?;
    Ok((out_dir.join(format!("{stem}.png")), out_dir.join(format!("{stem}.npy"))))
}

/// Decodes every row of an edit figure at every weight, re-encodes the decoded faces, draws the
/// figure (columns: input, then one per weight) and writes `<stem>.png` and `<stem>.npy`
/// (float32 `(rows × weights, 3, H, W)`) into `out_dir`.
fn draw_edits(
    models: &VaeModels,
    rows: &[EditRow],
    weights: &[f64],
    title: &str,
    stem: &str,
    out_dir: &Path,
) -> Result<Vec<EditMeasure>> {
    let z: Vec<f32> = rows.iter().flat_map(|r| weights.iter().flat_map(|&w| r.vector.edit(&r.start, w))).collect();
    let decoded = models.decode(&z)?;
    let again = models.encode(&decoded)?;
    let nw = weights.len();
    let (png, npy) = figure_files(out_dir, stem)?;
    netlens_fetch::npy::write_f32(&npy, &decoded.shape, &decoded.data)?;
    let mut columns = vec!["input".to_string()];
    columns.extend(weight_labels(weights));
    let mut figure_rows = vec![];
    let mut measures = vec![];
    for (r, row) in rows.iter().enumerate() {
        let cell = |k: usize| Some(decoded.select(&[r * nw + k]));
        let mut cells = vec![row.input.clone()];
        cells.extend((0..nw).map(cell));
        figure_rows.push(FaceRow { label: row.label.clone(), cells });
        measures.push(EditMeasure {
            fractions: (0..nw).map(|k| row.vector.fraction(again.mu(r * nw + k))).collect(),
            rms_change: rms(decoded.image(r * nw), decoded.image(r * nw + nw - 1)),
            centre_share: centre_share(
                decoded.image(r * nw),
                decoded.image(r * nw + nw - 1),
                [decoded.shape[2], decoded.shape[3]],
            ),
        });
    }
    write_png(&png, &face_rows(title, &columns, &figure_rows)?)?;
    Ok(measures)
}

/// The μ of each image in `indices` (each below `images.len()`), encoded in one pass.
fn encode_faces(models: &VaeModels, images: &Images, indices: &BTreeSet<usize>) -> Result<BTreeMap<usize, Vec<f32>>> {
    let list: Vec<usize> = indices.iter().copied().collect();
    if list.is_empty() {
        return Ok(BTreeMap::new());
    }
    let latents = models.encode(&images.select(&list))?;
    Ok(list.iter().enumerate().map(|(k, &i)| (i, latents.mu(k).to_vec())).collect())
}

fn face_ref(index: usize, group: Option<&str>, heldout: Option<&[usize]>) -> FaceRef {
    FaceRef { index, group: group.map(str::to_string), heldout: heldout.map(|h| h.contains(&index)) }
}

/// "male 3", with "(held out)" when the VAE did not train on it.
fn face_name(face: &FaceRef) -> String {
    let held = if face.heldout == Some(true) { " (held out)" } else { "" };
    match &face.group {
        Some(g) => format!("{g} {}{held}", face.index),
        None => format!("face {}{held}", face.index),
    }
}

/// The faces of one edit direction: `faces` of group `away` moved toward group `toward`.
struct DirectionPlan {
    toward: String,
    away: String,
    faces: Vec<usize>,
}

/// Draws the attribute-edit figure of groups (`a`, `b`): the group-mean path, then each
/// direction's faces. `latents` holds the μ of every member of both groups.
#[allow(clippy::too_many_arguments)]
fn attribute_figure(
    models: &VaeModels,
    images: &Images,
    latents: &BTreeMap<usize, Vec<f32>>,
    groups: &Groups,
    (a, b): (&str, &str),
    directions: &[DirectionPlan],
    weights: &[f64],
    heldout: Option<&[usize]>,
    out_dir: &Path,
) -> Result<AttributeFigure> {
    let (members_a, members_b) = (groups.get(a)?, groups.get(b)?);
    let in_range = |m: &[usize]| m.iter().copied().filter(|&i| i < images.len()).collect::<Vec<_>>();
    let (members_a, members_b) = (in_range(members_a), in_range(members_b));
    let mean = |members: &[usize], left_out: Option<usize>, group: &str| {
        mean_latent(latents, members, left_out).ok_or_else(|| AnalyzeError::Numeric {
            what: format!("the mean latent of group `{group}`"),
            reason: "no member left among the images to average".into(),
        })
    };
    let full = AttributeVector::between(&mean(&members_a, None, a)?, &mean(&members_b, None, b)?)?;
    let start: Vec<f32> = full.away.iter().map(|&x| x as f32).collect();
    let mut rows =
        vec![EditRow { label: vec!["group means".into(), format!("{b} → {a}")], input: None, start, vector: full }];
    let mut faces = vec![];
    for plan in directions {
        let (toward, away) = if plan.toward == a { (&members_a, &members_b) } else { (&members_b, &members_a) };
        for &face in &plan.faces {
            let vector = AttributeVector::between(
                &mean(toward, Some(face), &plan.toward)?,
                &mean(away, Some(face), &plan.away)?,
            )?;
            let reference = face_ref(face, Some(&plan.away), heldout);
            rows.push(EditRow {
                label: vec![face_name(&reference), format!("→ {}", plan.toward)],
                input: Some(images.select(&[face])),
                start: latents[&face].clone(),
                vector,
            });
            faces.push(reference);
        }
    }
    let stem = format!("edit_{a}_{b}");
    let title = format!(
        "Attribute vector {a} − {b}: z = μ(x) + α d, d = μ̄(toward) − μ̄(from), the face x left out of both means\n\
         Top row: the group means, z = α μ̄({a}) + (1 − α) μ̄({b}); below: faces of one group moved toward the other"
    );
    let measured = draw_edits(models, &rows, weights, &title, &stem, out_dir)?;
    let mut measured = rows.iter().zip(measured);
    let (_, mean_measure) = measured.next().expect("the group-mean row is drawn first");
    let means = MeanPath {
        toward: a.into(),
        away: b.into(),
        sizes: [members_a.len(), members_b.len()],
        fractions: mean_measure.fractions,
        rms_change: mean_measure.rms_change,
    };
    let mut faces = faces.into_iter();
    let directions = directions
        .iter()
        .map(|plan| EditDirection {
            toward: plan.toward.clone(),
            away: plan.away.clone(),
            faces: plan
                .faces
                .iter()
                .zip(faces.by_ref())
                .zip(measured.by_ref())
                .map(|((&index, face), (row, m))| FaceEdit {
                    face,
                    distance: row.vector.length(),
                    input_fraction: row.vector.fraction(&latents[&index]),
                    fractions: m.fractions,
                    rms_change: m.rms_change,
                    centre_share: m.centre_share,
                })
                .collect(),
        })
        .collect();
    Ok(AttributeFigure { figure: format!("{stem}.png"), means, directions })
}

/// Draws the face-pairs figure: one row per pair (B, A), decoding z = α μ(x_A) + (1 − α) μ(x_B).
fn pair_figure(
    models: &VaeModels,
    images: &Images,
    latents: &BTreeMap<usize, Vec<f32>>,
    pairs: &[(FaceRef, FaceRef)],
    weights: &[f64],
    out_dir: &Path,
) -> Result<PairFigure> {
    let z: Vec<f32> = pairs
        .iter()
        .flat_map(|(a, b)| weights.iter().flat_map(|&w| mix(&latents[&a.index], &latents[&b.index], w)))
        .collect();
    let decoded = models.decode(&z)?;
    let nw = weights.len();
    let stem = "pairs";
    let (png, npy) = figure_files(out_dir, stem)?;
    netlens_fetch::npy::write_f32(&npy, &decoded.shape, &decoded.data)?;
    let mut columns = vec!["input B".to_string()];
    columns.extend(weight_labels(weights));
    columns.push("input A".into());
    let mut rows = vec![];
    let mut record = vec![];
    for (r, (a, b)) in pairs.iter().enumerate() {
        let face = |k: usize| decoded.image(r * nw + k);
        let mut cells = vec![Some(images.select(&[b.index]))];
        cells.extend((0..nw).map(|k| Some(decoded.select(&[r * nw + k]))));
        cells.push(Some(images.select(&[a.index])));
        rows.push(FaceRow { label: vec![format!("B: {}", face_name(b)), format!("A: {}", face_name(a))], cells });
        record.push(FacePair {
            a: a.clone(),
            b: b.clone(),
            latent_distance: latents[&a.index]
                .iter()
                .zip(&latents[&b.index])
                .map(|(x, y)| f64::from(x - y).powi(2))
                .sum::<f64>()
                .sqrt(),
            rms_ends: rms(face(0), face(nw - 1)),
            steps: (1..nw).map(|k| rms(face(k - 1), face(k))).collect(),
        });
    }
    let title = "Pairs of real faces: z = α μ(x_A) + (1 − α) μ(x_B), each face's own latent mean μ\n\
                 Left to right: input B, decoded μ(x_B), one face per α, decoded μ(x_A), input A";
    write_png(&png, &face_rows(title, &columns, &rows)?)?;
    Ok(PairFigure { figure: format!("{stem}.png"), pairs: record })
}

/// Draws the figures of individual faces into `out_dir` and records them in `faces.json`
/// ([`FaceInterpolations`]): with `groups`, for each of [`ATTRIBUTES`] present in it an
/// attribute-edit figure `edit_<A>_<B>.png` (the group-mean path, then [`EDITED_FACES`] faces
/// of B moved toward A and as many of A toward B), and `pairs.png` with [`FACE_PAIRS`] pairs of
/// one face of A and one of B per attribute; without groups, `pairs.png` of faces 1 ↔ 0,
/// 3 ↔ 2, 5 ↔ 4. No face is drawn twice. Every row is decoded at α = 0, each of `alphas`
/// (ascending) and α = 1. `images` are `[N, 3, H, W]` in `[0, 1]`, read from `what`;
/// `heldout` are the indices the VAE did not train on, when known.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for weights outside (0, 1), [`AnalyzeError::ShapeMismatch`]
/// for images the encoder does not take, [`AnalyzeError::Numeric`] when two groups' mean
/// latents coincide, tract errors, and I/O errors naming the file.
pub fn write_face_figures(
    models: &VaeModels,
    images: &Images,
    what: &str,
    groups: Option<&Groups>,
    heldout: Option<&[usize]>,
    alphas: &[f64],
    out_dir: &Path,
) -> Result<FaceInterpolations> {
    check_alphas(alphas)?;
    models.check_images(images, what)?;
    let weights = weights(alphas);
    let mut edits = vec![];
    let mut pairs: Vec<(FaceRef, FaceRef)> = vec![];
    let mut encode = BTreeSet::new();
    if let Some(groups) = groups {
        let present: Vec<(&str, &str)> =
            ATTRIBUTES.iter().copied().filter(|(a, b)| groups.get(a).is_ok() && groups.get(b).is_ok()).collect();
        let mut picker = Picker { groups, count: images.len(), used: BTreeSet::new() };
        for &(a, b) in &present {
            let mut directions = vec![];
            for (toward, away) in [(a, b), (b, a)] {
                let faces = picker.take(away, toward, EDITED_FACES)?;
                if !faces.is_empty() {
                    directions.push(DirectionPlan { toward: toward.into(), away: away.into(), faces });
                }
            }
            encode.extend(groups.get(a)?.iter().chain(groups.get(b)?).copied().filter(|&i| i < images.len()));
            edits.push(((a, b), directions));
        }
        for &(a, b) in &present {
            let (from_a, from_b) = (picker.take(a, b, FACE_PAIRS)?, picker.take(b, a, FACE_PAIRS)?);
            let n = from_a.len().min(from_b.len());
            picker.release(&from_a[n..]);
            picker.release(&from_b[n..]);
            pairs.extend(
                from_a
                    .iter()
                    .zip(&from_b)
                    .map(|(&i, &j)| (face_ref(i, Some(a), heldout), face_ref(j, Some(b), heldout))),
            );
        }
    } else {
        let n = FACE_PAIRS.min(images.len() / 2);
        pairs.extend((0..n).map(|k| (face_ref(2 * k + 1, None, heldout), face_ref(2 * k, None, heldout))));
    }
    encode.extend(pairs.iter().flat_map(|(a, b)| [a.index, b.index]));
    let latents = encode_faces(models, images, &encode)?;
    let mut attributes = vec![];
    if let Some(groups) = groups {
        for ((a, b), directions) in &edits {
            attributes.push(attribute_figure(
                models,
                images,
                &latents,
                groups,
                (a, b),
                directions,
                &weights,
                heldout,
                out_dir,
            )?);
        }
    }
    let pairs =
        if pairs.is_empty() { None } else { Some(pair_figure(models, images, &latents, &pairs, &weights, out_dir)?) };
    let record = FaceInterpolations {
        alphas: weights[1..weights.len() - 1].to_vec(),
        groups_file: groups.map(|g| g.path().display().to_string()),
        attributes,
        pairs,
    };
    write_json(&out_dir.join(FACE_INTERPOLATIONS), &record)?;
    Ok(record)
}

/// One face moved along an attribute vector, as `netlens interpolate --edit` draws it.
#[derive(Clone, Debug, PartialEq)]
pub struct SingleEdit {
    /// The figure (PNG): the input face, then the decoded edit per α.
    pub png: PathBuf,
    /// float32 `(2 + alphas, 3, H, W)`: the decoded edit at α = 0, each α ascending, α = 1.
    pub npy: PathBuf,
    /// The weights, 0 first and 1 last.
    pub weights: Vec<f64>,
    /// The numbers of the edit.
    pub edit: FaceEdit,
}

/// Moves image `face` toward `toward` and away from `away` (groups or lists of images, each
/// standing for its mean μ, with `face` left out of both), decodes z = μ(x) + α d at α = 0,
/// each of `alphas` and 1, and writes `edit_<face>_<away>-to-<toward>.png` and `.npy` into
/// `out_dir`.
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for weights outside (0, 1) or a medoid as an end, the errors
/// of [`LatentSpec::resolve`], [`AnalyzeError::Numeric`] when an end has no image besides
/// `face` or the two means coincide, tract errors, and I/O errors naming the file.
#[allow(clippy::too_many_arguments)]
pub fn write_single_edit(
    models: &VaeModels,
    images: &Images,
    what: &str,
    groups: Option<&Groups>,
    face: usize,
    toward: &LatentSpec,
    away: &LatentSpec,
    alphas: &[f64],
    out_dir: &Path,
) -> Result<SingleEdit> {
    check_alphas(alphas)?;
    models.check_images(images, what)?;
    if face >= images.len() {
        return Err(AnalyzeError::IndexOutOfRange { index: face, count: images.len(), what: what.into() });
    }
    let mut ends = vec![];
    for (name, spec) in [("toward", toward), ("away", away)] {
        if let LatentSpec::Medoid(_) = spec {
            return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting::new(
                name,
                spec,
                "an attribute's end is a group or a list of images (their mean latent), not a medoid",
            )));
        }
        ends.push(spec.resolve(groups, images.len(), what)?);
    }
    let encode: BTreeSet<usize> = ends.iter().flatten().copied().chain([face]).collect();
    let latents = encode_faces(models, images, &encode)?;
    let mean = |members: &[usize], spec: &LatentSpec| {
        mean_latent(&latents, members, Some(face)).ok_or_else(|| AnalyzeError::Numeric {
            what: format!("the mean latent of `{spec}`"),
            reason: format!("it holds no image besides face {face}, which is left out"),
        })
    };
    let vector = AttributeVector::between(&mean(&ends[0], toward)?, &mean(&ends[1], away)?)?;
    let weights = weights(alphas);
    let reference = face_ref(face, None, None);
    let row = EditRow {
        label: vec![face_name(&reference), format!("→ {toward}")],
        input: Some(images.select(&[face])),
        start: latents[&face].clone(),
        vector: vector.clone(),
    };
    let stem = format!("edit_{face}_{}-to-{}", super::file_part(away), super::file_part(toward));
    let title =
        format!("Face {face} moved along d = μ̄({toward}) − μ̄({away}): z = μ(x) + α d, the face left out of both means");
    let measure =
        draw_edits(models, std::slice::from_ref(&row), &weights, &title, &stem, out_dir)?.pop().expect("one row drawn");
    Ok(SingleEdit {
        png: out_dir.join(format!("{stem}.png")),
        npy: out_dir.join(format!("{stem}.npy")),
        weights,
        edit: FaceEdit {
            face: reference,
            distance: vector.length(),
            input_fraction: vector.fraction(&latents[&face]),
            fractions: measure.fractions,
            rms_change: measure.rms_change,
            centre_share: measure.centre_share,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_centre_share_counts_the_middle_half_of_rows_and_columns() {
        // 4×4, one channel: the centre is rows 1–2 × columns 1–2.
        let a = [0f32; 16];
        let mut b = [0f32; 16];
        b[5] = 1.0; // (1, 1): centre
        b[0] = 1.0; // (0, 0): border
        b[15] = 2.0; // (3, 3): border, counts 4
        assert!((centre_share(&a, &b, [4, 4]) - 1.0 / 6.0).abs() < 1e-12);
        // A second channel is indexed by row and column the same way.
        let mut c = [0f32; 32];
        c[16 + 6] = 3.0; // channel 1, (1, 2): centre
        assert!((centre_share(&[0f32; 32], &c, [4, 4]) - 1.0).abs() < 1e-12);
        assert_eq!(centre_share(&a, &a, [4, 4]), 0.0);
    }

    const TOL: f64 = 1e-9;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < TOL)
    }

    #[test]
    fn the_attribute_vector_edits_and_measures_along_the_difference_of_the_means() {
        // μ̄_A = (3, 1), μ̄_B = (1, 1): d = (2, 0), |d| = 2.
        let v = AttributeVector::between(&[3.0, 1.0], &[1.0, 1.0]).unwrap();
        assert!(close(v.vector(), &[2.0, 0.0]) && (v.length() - 2.0).abs() < TOL);
        // z = (0.5, −1) + 0.25 · (2, 0) = (1, −1).
        assert_eq!(v.edit(&[0.5, -1.0], 0.25), [1.0, -1.0]);
        assert_eq!(v.edit(&[0.5, -1.0], 0.0), [0.5, -1.0]);
        // Fractions: μ̄_B → 0, μ̄_A → 1, halfway → 0.5; the orthogonal axis does not count; beyond A → 1.5.
        assert!(v.fraction(&[1.0, 1.0]).abs() < TOL);
        assert!((v.fraction(&[3.0, 1.0]) - 1.0).abs() < TOL);
        assert!((v.fraction(&[2.0, 7.0]) - 0.5).abs() < TOL);
        assert!((v.fraction(&[4.0, -3.0]) - 1.5).abs() < TOL);
        // An edit by α moves the fraction by exactly α, wherever it starts.
        let z = [0.3f32, 2.0];
        assert!((v.fraction(&v.edit(&z, 0.6)) - v.fraction(&z) - 0.6).abs() < 1e-6);
        // A diagonal d: μ̄_A = (1, 1), μ̄_B = (0, 0); (1, 0) projects halfway.
        let diagonal = AttributeVector::between(&[1.0, 1.0], &[0.0, 0.0]).unwrap();
        assert!((diagonal.fraction(&[1.0, 0.0]) - 0.5).abs() < TOL);
    }

    #[test]
    fn equal_means_or_mismatched_lengths_have_no_attribute_vector() {
        assert!(AttributeVector::between(&[1.0, 2.0], &[1.0, 2.0]).is_err());
        assert!(AttributeVector::between(&[1.0, 2.0], &[1.0]).is_err());
        assert!(AttributeVector::between(&[f64::NAN, 2.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn the_edited_face_is_left_out_of_the_mean() {
        let latents: BTreeMap<usize, Vec<f32>> =
            [(3, vec![1.0, 0.0]), (5, vec![3.0, 2.0]), (8, vec![8.0, -4.0])].into_iter().collect();
        // All three: ((1 + 3 + 8) / 3, (0 + 2 − 4) / 3) = (4, −2/3).
        assert!(close(&mean_latent(&latents, &[3, 5, 8], None).unwrap(), &[4.0, -2.0 / 3.0]));
        // Without face 8: ((1 + 3) / 2, (0 + 2) / 2) = (2, 1).
        assert!(close(&mean_latent(&latents, &[3, 5, 8], Some(8)).unwrap(), &[2.0, 1.0]));
        // A face outside the group changes nothing.
        assert!(close(&mean_latent(&latents, &[3, 5], Some(8)).unwrap(), &[2.0, 1.0]));
        assert_eq!(mean_latent(&latents, &[5], Some(5)), None);
        // The leave-one-out attribute vector of face 8 (in B = {5, 8}) toward A = {3}: (1, 0) − (3, 2).
        let toward = mean_latent(&latents, &[3], Some(8)).unwrap();
        let away = mean_latent(&latents, &[5, 8], Some(8)).unwrap();
        assert!(close(AttributeVector::between(&toward, &away).unwrap().vector(), &[-2.0, -2.0]));
    }

    #[test]
    fn weights_run_from_zero_through_the_alphas_to_one() {
        assert_eq!(weights(&[0.6, 0.2]), [0.0, 0.2, 0.6, 1.0]);
        assert_eq!(weight_labels(&[0.0, 0.2, 1.0]), ["α = 0", "α = 0.2", "α = 1"]);
    }

    fn groups(json: &str) -> (tempfile::TempDir, Groups) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.json");
        std::fs::write(&path, json).unwrap();
        let groups = Groups::load(&path).unwrap();
        (dir, groups)
    }

    #[test]
    fn faces_are_picked_once_preferring_those_in_fewer_groups() {
        let (_dir, g) = groups(r#"{"female": [9, 11, 28], "male": [0, 3, 5], "older": [0], "younger": [28, 2]}"#);
        let mut picker = Picker { groups: &g, count: 30, used: BTreeSet::new() };
        // 0 is also older: 3 and 5 come first.
        assert_eq!(picker.take("male", "female", 2).unwrap(), [3, 5]);
        assert_eq!(picker.take("male", "female", 2).unwrap(), [0]);
        assert_eq!(picker.take("male", "female", 2).unwrap(), Vec::<usize>::new());
        // 28 is also younger; faces past `count` are skipped.
        let mut short = Picker { groups: &g, count: 10, used: BTreeSet::new() };
        assert_eq!(short.take("female", "male", 3).unwrap(), [9]);
        assert_eq!(picker.take("female", "male", 3).unwrap(), [9, 11, 28]);
        // A face in both groups is never picked to move from one to the other.
        let (_dir, both) = groups(r#"{"a": [1, 2], "b": [2, 3]}"#);
        let mut picker = Picker { groups: &both, count: 10, used: BTreeSet::new() };
        assert_eq!(picker.take("a", "b", 5).unwrap(), [1]);
        picker.release(&[1]);
        assert_eq!(picker.take("a", "b", 5).unwrap(), [1]);
        assert!(picker.take("teen", "b", 1).is_err());
    }
}
