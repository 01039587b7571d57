//! Per classifier: architecture (diagram from the ONNX graph, layer table, rationale from the
//! model card, hyper-parameters from config.json) and training (curves, final and best test
//! accuracy from history.json).

use std::path::Path;

use netlens_onnx::inspect::format_shape;

use super::diagram::{write_diagram_svg, DiagramBox};
use super::doc::{base, slug, Doc};
use super::inputs::{array, num, read_json, show, text};
use crate::error::{AnalyzeError, Result};

/// The "Architectures and training" sections of all classifier runs.
pub(crate) fn sections(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "1. Classifiers: architecture and training");
    if runs.is_empty() {
        doc.para("**Missing:** no classifier run (`netlens train`) was given.");
        return Ok(());
    }
    for run in runs {
        one_run(doc, run)?;
    }
    Ok(())
}

fn one_run(doc: &mut Doc, run: &Path) -> Result<()> {
    let card_path = run.join("model_card.json");
    let card = read_json(&card_path)?;
    let title = text(&card, "title", &card_path)?.to_string();
    let name = base(run);
    doc.heading(3, &format!("{title} (`{}`)", run.display()));
    architecture(doc, run, &name, &title)?;
    doc.para(&format!("**Why this design** (from `{}`): {}", card_path.display(), text(&card, "rationale", &card_path)?));
    hyper_parameters(doc, &run.join("config.json"))?;
    training(doc, run, &name)
}

/// Diagram and layer table from `run/model.onnx`.
fn architecture(doc: &mut Doc, run: &Path, name: &str, title: &str) -> Result<()> {
    let onnx = run.join("model.onnx");
    let summary = netlens_onnx::inspect(&onnx)?;
    let boxes: Vec<DiagramBox> = std::iter::once(DiagramBox { name: "input".into(), op: "image".into(), size: shape_text(&format_shape(summary.input.shape.as_deref())) })
        .chain(summary.layers.iter().filter(|l| drawn(l)).map(|l| DiagramBox { name: l.name.clone(), op: l.op.clone(), size: shape_text(&format_shape(l.output_shape.as_deref())) }))
        .collect();
    let fig = format!("{}-architecture.svg", slug(name));
    write_diagram_svg(&format!("{title}: layers and output feature-map sizes (from model.onnx)"), &boxes, &doc.figure_path(&fig))?;
    doc.para(&format!("Architecture diagram generated from the ONNX graph `{}` ({} layers, {} parameters); each box shows a layer, its operation and its output feature-map size (channels×height×width); the export's shape plumbing (Shape, Gather, Concat, bias reshapes) is left out of the diagram but listed in the table.", onnx.display(), summary.layers.len(), summary.parameters));
    doc.link_figure(&fig, &format!("{title} architecture"));
    let rows: Vec<Vec<String>> = summary
        .layers
        .iter()
        .map(|l| vec![format!("`{}`", l.name), l.op.clone(), format_shape(l.output_shape.as_deref()), l.parameters.to_string()])
        .collect();
    doc.table(&["layer", "op", "output shape", "parameters"], &rows);
    Ok(())
}

/// Whether a layer gets a box: not the shape plumbing of the export (Shape, Gather, Concat,
/// Unsqueeze, Constant, Cast) nor the reshape of a fully connected layer's bias.
fn drawn(l: &netlens_onnx::Layer) -> bool {
    !matches!(l.op.as_str(), "Shape" | "Gather" | "Concat" | "Unsqueeze" | "Constant" | "Cast") && !l.name.ends_with(".reshape")
}

/// `[batch, 6, 28, 28]`-style text without the batch dimension: `6×28×28`.
fn shape_text(shape: &str) -> String {
    let inner = shape.trim_start_matches('[').trim_end_matches(']');
    let dims: Vec<&str> = inner.split(',').map(str::trim).collect();
    if dims.len() > 1 { dims[1..].join("×") } else { inner.to_string() }
}

fn hyper_parameters(doc: &mut Doc, path: &Path) -> Result<()> {
    let config = read_json(path)?;
    let obj = config.as_object().ok_or_else(|| AnalyzeError::Parse { path: path.to_path_buf(), reason: "not a JSON object".into() })?;
    let rows: Vec<Vec<String>> = obj.iter().map(|(k, v)| vec![format!("`{k}`"), show(v)]).collect();
    doc.para(&format!("**Hyper-parameters** (from `{}`; optimiser Adam with cosine-decayed learning rate on cross-entropy):", path.display()));
    doc.table(&["setting", "value"], &rows);
    Ok(())
}

/// Final and best test accuracy, total training time, and the two curves.
fn training(doc: &mut Doc, run: &Path, name: &str) -> Result<()> {
    let path = run.join("history.json");
    let history = read_json(&path)?;
    let epochs = array(&history, "epochs", &path)?;
    let last = epochs.last().ok_or_else(|| AnalyzeError::Parse { path: path.clone(), reason: "no epoch recorded".into() })?;
    let (mut best, mut best_epoch, mut seconds) = (f64::MIN, 0.0, 0.0);
    for e in epochs {
        let acc = num(e, "test_accuracy", &path)?;
        seconds += num(e, "seconds", &path)?;
        if acc > best {
            (best, best_epoch) = (acc, num(e, "epoch", &path)?);
        }
    }
    doc.para(&format!(
        "**Training** (from `{}`): after {} epochs the test accuracy is **{:.4}** (train {:.4}; test loss {:.4}, train loss {:.4}); the best test accuracy was **{best:.4}** at epoch {best_epoch}. Training took {seconds:.1} s.",
        path.display(),
        num(last, "epoch", &path)?,
        num(last, "test_accuracy", &path)?,
        num(last, "train_accuracy", &path)?,
        num(last, "test_loss", &path)?,
        num(last, "train_loss", &path)?,
    ));
    for (file, what) in [("loss.svg", "train and test loss per epoch"), ("accuracy.svg", "train and test accuracy per epoch")] {
        let src = run.join(file);
        if src.exists() {
            doc.copy_figure(&src, &format!("{}-{file}", slug(name)), &format!("{name}: {what}"))?;
        } else {
            doc.para(&format!("**Missing:** `{}` ({what}).", src.display()));
        }
    }
    Ok(())
}
