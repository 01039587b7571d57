//! `netlens explain` without the command line: load inputs for a model, run the chosen
//! methods, compare them, and write one PNG per image plus one JSON of raw maps and scores.

use std::path::{Path, PathBuf};

use netlens_fetch::imagenet::{IMAGENET_MEAN, IMAGENET_STD, read_rgb};
use netlens_fetch::{Images, resize::resize_bilinear};
use netlens_onnx::DifferentiableModel;
use serde_json::json;

use super::compare::{CurveKind, curve, order_by_map, random_order_auc, spearman};
use super::figure::{DisplayImage, Panel, render, write_png};
use super::{
    Baseline, Classifier, GradCamParams, IntegratedGradientsParams, Map, ShapleyParams, Target, TractClassifier, argmax,
};
use crate::error::{AnalyzeError, Result};

/// One image to explain.
#[derive(Clone, Debug)]
pub struct InputImage {
    /// A short name for file names and titles (`cat_dog`, `test-17`).
    pub name: String,
    /// The model input `[channels, height, width]` (already normalised for the model).
    pub pixels: Vec<f32>,
    /// The same image for display, `[channels, height, width]` in [0, 1].
    pub display: Vec<f32>,
    /// `[channels, height, width]`.
    pub shape: [usize; 3],
}

/// How pixels are scaled for the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalisation {
    /// `x / 255`, pixels in [0, 1] (the course's models).
    UnitRange,
    /// torchvision's ImageNet transform: `(x/255 − mean) / std` per RGB channel.
    ImageNet,
}

/// Reads an image file for a model whose input is `[channels, height, width]`.
///
/// The image is converted to the model's channels (RGB → grey by the ITU-R 601 luma
/// `0.299 R + 0.587 G + 0.114 B`; grey → RGB by copying) and resized to the model's size
/// with bilinear interpolation (half-pixel centres). With [`Normalisation::ImageNet`] and a
/// 3 × 224 × 224 input it is torchvision's transform exactly (shorter side 256, centre crop).
///
/// # Errors
/// [`AnalyzeError::InvalidParam`] for a model whose input has other than 1 or 3 channels;
/// [`AnalyzeError::Fetch`] if the file is not a readable image.
pub fn load_image(path: &Path, shape: [usize; 3], norm: Normalisation) -> Result<InputImage> {
    let [c, h, w] = shape;
    if c != 1 && c != 3 {
        return Err(AnalyzeError::InvalidParam {
            name: "image".into(),
            value: path.display().to_string(),
            reason: format!(
                "the model takes {c}-channel images; only 1 (grey) or 3 (RGB) channels can be made from a file"
            ),
        });
    }
    let rgb = read_rgb(path)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
    if norm == Normalisation::ImageNet && shape == [3, 224, 224] {
        let pixels = netlens_fetch::imagenet::preprocess_imagenet(&rgb);
        let display = pixels
            .iter()
            .enumerate()
            .map(|(i, &v)| (v * IMAGENET_STD[i / (h * w)] + IMAGENET_MEAN[i / (h * w)]).clamp(0.0, 1.0))
            .collect();
        return Ok(InputImage { name, pixels, display, shape });
    }
    let (iw, ih) = (rgb.width() as usize, rgb.height() as usize);
    let planes: Vec<Vec<f32>> = (0..3).map(|ch| rgb.pixels().map(|p| p.0[ch] as f32 / 255.0).collect()).collect();
    let planes = if c == 1 {
        vec![(0..ih * iw).map(|i| 0.299 * planes[0][i] + 0.587 * planes[1][i] + 0.114 * planes[2][i]).collect()]
    } else {
        planes
    };
    let display: Vec<f32> = planes.iter().flat_map(|p| resize_bilinear(p, ih, iw, h, w)).collect();
    let pixels = match norm {
        Normalisation::UnitRange => display.clone(),
        Normalisation::ImageNet => display
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - IMAGENET_MEAN[i / (h * w) % 3]) / IMAGENET_STD[i / (h * w) % 3])
            .collect(),
    };
    Ok(InputImage { name, pixels, display, shape })
}

/// Which methods to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Methods {
    pub grad_cam: bool,
    pub integrated_gradients: bool,
    pub shapley: bool,
}

/// Deletion/insertion settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Faithfulness {
    /// Points on each curve after the first.
    pub steps: usize,
    /// Random orders averaged for the reference AUC.
    pub random_draws: usize,
    /// Seed of the random orders.
    pub seed: u64,
}

/// Everything `explain_to_dir` needs besides the model and images.
#[derive(Clone, Debug)]
pub struct ExplainConfig {
    pub methods: Methods,
    pub target: Target,
    pub grad_cam: GradCamParams,
    pub integrated_gradients: IntegratedGradientsParams,
    pub shapley: ShapleyParams,
    /// Deletion/insertion curves; `None` to skip them.
    pub faithfulness: Option<Faithfulness>,
    /// The baseline image `x′` of every method: IG's path start, the pixels of absent Shapley
    /// players, and the removed pixels of the deletion/insertion curves (overrides the
    /// baselines set in `integrated_gradients` and `shapley`).
    pub baseline: Baseline,
    /// Class names, index = logit (may be empty: then `class N`).
    pub class_names: Vec<String>,
}

fn class_name(names: &[String], c: usize) -> String {
    names.get(c).cloned().unwrap_or_else(|| format!("class {c}"))
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Written {
    /// One PNG per image.
    pub figures: Vec<PathBuf>,
    /// The JSON of raw maps and scores.
    pub json: PathBuf,
    /// One summary line per image.
    pub summaries: Vec<String>,
}

/// Runs the methods on each image and writes `out/<name>.png` and `out/explanations.json`.
///
/// # Errors
/// Parameter, model and I/O errors; nothing is written for an image whose methods fail, and
/// the JSON is written last and atomically.
pub fn explain_to_dir(
    model_path: &Path,
    images: &[InputImage],
    cfg: &ExplainConfig,
    out: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Written> {
    let model = DifferentiableModel::load(model_path)?;
    let chw = images.first().map_or([1, 1, 1], |i| i.shape);
    let tract = TractClassifier::load(model_path, chw)?;
    // Every parameter is checked before the output folder is made, so a bad one leaves nothing.
    if cfg.methods.grad_cam {
        cfg.grad_cam.resolve_layer(&model)?;
    }
    if cfg.methods.integrated_gradients {
        cfg.integrated_gradients.clone().baseline(cfg.baseline).check()?;
    }
    if cfg.methods.shapley {
        cfg.shapley.clone().baseline(cfg.baseline).check(chw[1], chw[2])?;
    }
    if let (Target::Class(k), Some(classes)) = (cfg.target, model.num_classes())
        && k >= classes
    {
        return Err(AnalyzeError::InvalidParam {
            name: "target".into(),
            value: k.to_string(),
            reason: format!("the model has {classes} classes (0..{classes})"),
        });
    }
    if cfg.faithfulness.is_some_and(|f| f.steps == 0) {
        return Err(AnalyzeError::InvalidParam {
            name: "curve steps".into(),
            value: "0".into(),
            reason: "needs at least 1".into(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| AnalyzeError::Io { path: out.into(), source })?;
    let mut records = Vec::new();
    let mut written = Written { figures: vec![], json: out.join("explanations.json"), summaries: vec![] };
    for img in images {
        let (record, panels, summary) = explain_one(&model, &tract, img, cfg)?;
        let display =
            DisplayImage { data: &img.display, channels: img.shape[0], height: img.shape[1], width: img.shape[2] };
        let path = out.join(format!("{}.png", img.name));
        write_png(&path, &render(&display, &panels))?;
        progress(&summary);
        written.figures.push(path);
        written.summaries.push(summary);
        records.push(record);
    }
    let baseline = json!({ "baseline": cfg.baseline, "description": cfg.baseline.describe() });
    // The baselines inside the method settings are overridden by `cfg.baseline` (see above).
    let settings = json!({
        "grad_cam": cfg.methods.grad_cam.then_some(&cfg.grad_cam),
        "integrated_gradients": cfg.methods.integrated_gradients.then(|| cfg.integrated_gradients.clone().baseline(cfg.baseline)),
        "shapley": cfg.methods.shapley.then(|| cfg.shapley.clone().baseline(cfg.baseline)),
        "faithfulness": cfg.faithfulness,
    });
    let doc = json!({ "model": model_path.display().to_string(), "baseline": baseline, "settings": settings, "images": records });
    let text = serde_json::to_string(&doc)
        .map_err(|e| AnalyzeError::Figure { path: written.json.clone(), reason: e.to_string() })?;
    netlens_fetch::write_atomically(&written.json, text.as_bytes())?;
    Ok(written)
}

fn explain_one(
    model: &DifferentiableModel,
    tract: &TractClassifier,
    img: &InputImage,
    cfg: &ExplainConfig,
) -> Result<(serde_json::Value, Vec<Panel>, String)> {
    let [c, h, w] = img.shape;
    let batch = Images { data: img.pixels.clone(), shape: [1, c, h, w] };
    let logits = model.forward(&batch)?;
    let target = super::resolve_targets(&logits, cfg.target)?[0];
    let predicted = argmax(&logits.data);
    let name = |k| class_name(&cfg.class_names, k);
    let mut panels = vec![Panel {
        title: vec![img.name.clone(), format!("PRED: {}", name(predicted)), format!("TARGET: {}", name(target))],
        map: None,
        signed: false,
    }];
    let mut record = json!({ "name": img.name, "shape": img.shape, "predicted": predicted, "predicted_name": name(predicted), "target": target, "target_name": name(target), "logits": logits.data });
    let mut maps: Vec<(&str, Map)> = vec![];
    let mut summary = format!("{}: predicted {} ({}), target {}", img.name, predicted, name(predicted), target);
    if cfg.methods.grad_cam {
        let g = cfg.grad_cam.clone().target(Target::Class(target)).explain(model, &batch)?.remove(0);
        summary += &format!("; Grad-CAM at {}", g.layer);
        panels.push(Panel {
            title: vec!["GRAD-CAM".into(), short(&g.layer), name(target)],
            map: Some(g.map.clone()),
            signed: false,
        });
        record["grad_cam"] = serde_json::to_value(&g).unwrap_or_default();
        maps.push(("grad_cam", g.map));
    }
    if cfg.methods.integrated_gradients {
        let ig = cfg
            .integrated_gradients
            .clone()
            .baseline(cfg.baseline)
            .target(Target::Class(target))
            .explain(model, &batch)?
            .remove(0);
        summary += &format!("; IG completeness error {:.2e}", ig.completeness_error);
        let map = Map::channel_sum(&ig.attributions, c, h, w);
        panels.push(Panel {
            title: vec!["INTEGRATED GRADIENTS".into(), format!("GAP {:.1e}", ig.completeness_error), name(target)],
            map: Some(map.clone()),
            signed: true,
        });
        record["integrated_gradients"] = serde_json::to_value(&ig).unwrap_or_default();
        maps.push(("integrated_gradients", map));
    }
    if cfg.methods.shapley {
        let s = cfg.shapley.clone().baseline(cfg.baseline).explain(tract, &batch, target)?;
        summary += &format!("; Shapley efficiency gap {:.1e}", s.efficiency_gap);
        let map = s.pixel_map(h, w);
        panels.push(Panel {
            title: vec!["SHAPLEY (PATCHES)".into(), format!("{}X{} GRID", s.grid[0], s.grid[1]), name(target)],
            map: Some(map.clone()),
            signed: true,
        });
        record["shapley"] = serde_json::to_value(&s).unwrap_or_default();
        maps.push(("shapley", map));
    }
    record["rank_correlation"] = rank_correlations(&maps);
    if let Some(f) = cfg.faithfulness {
        let base = cfg.baseline.image(&img.pixels, img.shape);
        let (json, line) = faithfulness(tract, &batch, target, &maps, f, &base)?;
        record["deletion_insertion"] = json;
        summary += &line;
    }
    Ok((record, panels, summary))
}

fn short(layer: &str) -> String {
    layer.trim_start_matches('/').replace("_output_0", "")
}

/// Spearman ρ between each pair of maps at input resolution.
fn rank_correlations(maps: &[(&str, Map)]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for i in 0..maps.len() {
        for j in i + 1..maps.len() {
            let rho = spearman(&maps[i].1.data, &maps[j].1.data);
            out.insert(format!("{}~{}", maps[i].0, maps[j].0), json!(rho));
        }
    }
    serde_json::Value::Object(out)
}

fn faithfulness(
    model: &dyn Classifier,
    image: &Images,
    target: usize,
    maps: &[(&str, Map)],
    f: Faithfulness,
    baseline: &[f32],
) -> Result<(serde_json::Value, String)> {
    let mut out = serde_json::Map::new();
    let mut line = String::from("; deletion AUC");
    for (method, map) in maps {
        let order = order_by_map(map);
        let del = curve(model, image, target, &order, CurveKind::Deletion, f.steps, baseline)?;
        let ins = curve(model, image, target, &order, CurveKind::Insertion, f.steps, baseline)?;
        line += &format!(" {method} {:.3}", del.auc);
        out.insert(method.to_string(), json!({ "deletion": del, "insertion": ins }));
    }
    let rd = random_order_auc(model, image, target, CurveKind::Deletion, f.steps, baseline, f.random_draws, f.seed)?;
    let ri = random_order_auc(model, image, target, CurveKind::Insertion, f.steps, baseline, f.random_draws, f.seed)?;
    line += &format!(" random {rd:.3}");
    out.insert("random".into(), json!({ "deletion_auc": rd, "insertion_auc": ri, "draws": f.random_draws }));
    Ok((serde_json::Value::Object(out), line))
}
