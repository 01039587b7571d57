//! Per classifier: architecture (diagram from the ONNX graph, layer table, rationale from the
//! model card, hyper-parameters from config.json) and training (curves, final and best test
//! accuracy from history.json).

use std::path::Path;

use netlens_onnx::inspect::format_shape;

use netlens_fetch::runs::{Architecture, History, RunFolder, TrainConfig};

use super::diagram::{DiagramBox, write_diagram_svg};
use super::doc::{Doc, base, slug};
use super::inputs::{readable_rows, settings_rows};
use super::thousands;
use crate::error::{AnalyzeError, Result};
use crate::explain::figure::DisplayImage;
use crate::figures::gallery::{GalleryCell, gallery};

/// The "Architectures and training" sections of all classifier runs.
pub(crate) fn sections(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "1. Classifiers: architecture and training");
    doc.para(
        "Each network's diagram and layer table are drawn from its exported ONNX graph: a box or row per layer \
         with its operation, the window of convolutions and pooling (kernel, stride, padding; stride 1 and no \
         padding are not written) and its output feature-map size (channels × height × width). A fully \
         connected layer (exported as a matrix product plus a bias) is one `Linear` layer; the export's shape \
         bookkeeping is left out.",
    );
    if runs.is_empty() {
        doc.missing("a trained classifier", "`netlens train lenet|shallow|cnn --data DIR --out runs/NAME`, then pass the run folder to `netlens report`");
        return Ok(());
    }
    let mut rows = Vec::with_capacity(runs.len());
    for run in runs {
        rows.push(one_run(doc, run)?);
    }
    side_by_side(doc, &rows);
    Ok(())
}

/// Misclassified test images in a classifier's gallery.
const GALLERY: usize = 12;

/// One classifier in the side-by-side table.
/// The class with the lowest test accuracy, that accuracy and the number of test images.
type Hardest = (String, f64, usize);

struct Row {
    title: String,
    architecture: Architecture,
    /// Every layer of the model card but the input: conv, BatchNorm, ReLU, pooling, FC.
    layers: usize,
    parameters: usize,
    epochs: usize,
    final_accuracy: f64,
    best: (f64, usize),
    seconds: f64,
    /// The class with the lowest test accuracy, that accuracy and the number of test images,
    /// when the test labels were read.
    hardest: Option<Hardest>,
    /// Per test image, whether the final model classifies it correctly (empty when the test
    /// labels were not read): the pairs McNemar's test compares.
    correct: Vec<bool>,
}

/// McNemar's exact test (McNemar 1947; the exact binomial form, as in Dietterich 1998, "Approximate
/// Statistical Tests for Comparing Supervised Classification Learning Algorithms", §3.1) of two
/// classifiers on the same test images: `only_a` images only the first classifies correctly,
/// `only_b` only the second. Under "equally accurate" each discordant image is a fair coin, so
/// the two-sided p-value is `min(1, 2 P(X ≤ min(only_a, only_b)))` for `X ~ Binomial(only_a +
/// only_b, 1/2)`; 1 when there is no discordant image.
pub(crate) fn mcnemar_exact(only_a: usize, only_b: usize) -> f64 {
    let n = only_a + only_b;
    if n == 0 {
        return 1.0;
    }
    let k = only_a.min(only_b);
    // ln C(n, i) − n ln 2, summed in probability space from i = 0 to k.
    let ln_fact = |m: usize| (1..=m).map(|v| (v as f64).ln()).sum::<f64>();
    let (ln_n, ln2) = (ln_fact(n), std::f64::consts::LN_2);
    let tail: f64 = (0..=k).map(|i| (ln_n - ln_fact(i) - ln_fact(n - i) - n as f64 * ln2).exp()).sum();
    (2.0 * tail).min(1.0)
}

/// A p-value for the text: `p < 0.001` below that, else `p = ` with three decimals.
fn p_text(p: f64) -> String {
    if p < 0.001 { "p < 0.001".into() } else { format!("p = {p:.3}") }
}

/// The significance level of the report's paired tests.
const SIGNIFICANCE: f64 = 0.05;

/// The classifiers side by side, with the layer counts checked against the course's limits.
fn side_by_side(doc: &mut Doc, rows: &[Row]) {
    if rows.len() < 2 {
        return;
    }
    doc.heading(3, "Side by side");
    doc.para(
        "Layers are counted by one rule throughout, the course's: every convolution, BatchNorm, activation (ReLU), \
         pooling and fully connected layer is one layer (the input and the export's reshapes are not), as the course \
         lists these types among a network's layers. By this rule the designed network must have 12–35 layers and \
         the shallow one 3–7; both are checked below (LeNet-5, the reference, has 11). Parameters are the learned \
         ones (BatchNorm's running statistics left out).",
    );
    let mut lines = vec![
        "| network | layers | course limit | parameters | epochs | final test accuracy | best (epoch) | training time |".to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for r in rows {
        let limit = match (r.architecture, r.architecture.course_layer_limit()) {
            (_, Some((lo, hi))) if (lo..=hi).contains(&r.layers) => format!("{lo}–{hi}: met"),
            (_, Some((lo, hi))) => format!("{lo}–{hi}: **not met ({})**", r.layers),
            (_, None) => "— (reference)".to_string(),
        };
        lines.push(format!(
            "| {} | {} | {limit} | {} | {} | {:.4} | {:.4} ({}) | {:.1} s |",
            r.title, r.layers, r.parameters, r.epochs, r.final_accuracy, r.best.0, r.best.1, r.seconds
        ));
    }
    doc.para(&lines.join("\n"));
    comparison_finding(doc, rows);
}

/// What the side-by-side table shows, for the text and the conclusion: the most accurate
/// network, whether its lead over the others is larger than sampling noise over the test set,
/// and the class every network finds hardest.
fn comparison_finding(doc: &mut Doc, rows: &[Row]) {
    let Some(top) = rows.iter().max_by(|a, b| a.final_accuracy.total_cmp(&b.final_accuracy)) else { return };
    let others: Vec<String> =
        rows.iter().filter(|r| r.title != top.title).map(|r| format!("{} {:.3}", r.title, r.final_accuracy)).collect();
    let n = rows.iter().filter_map(|r| r.hardest.as_ref()).count();
    // The networks are tested on the same images: a difference is measurable when McNemar's
    // exact test on the images only one of the two gets right rejects "equally accurate".
    let Some(test_images) = top.hardest.as_ref().map(|h| h.2) else { return };
    let p_value = |a: &Row, b: &Row| -> Option<(usize, usize, f64)> {
        if a.correct.is_empty() || a.correct.len() != b.correct.len() {
            return None;
        }
        let only_a = a.correct.iter().zip(&b.correct).filter(|(x, y)| **x && !**y).count();
        let only_b = a.correct.iter().zip(&b.correct).filter(|(x, y)| !**x && **y).count();
        Some((only_a, only_b, mcnemar_exact(only_a, only_b)))
    };
    let ahead = |hi: &Row, lo: &Row| p_value(hi, lo).is_some_and(|(_, _, p)| p < SIGNIFICANCE);
    let mut measurable = vec![];
    let mut within = vec![];
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            let (hi, lo) = if a.final_accuracy >= b.final_accuracy { (a, b) } else { (b, a) };
            let gap = hi.final_accuracy - lo.final_accuracy;
            let Some((only_hi, only_lo, p)) = p_value(hi, lo) else { continue };
            let text = format!(
                "{} over {} by {gap:.3} ({only_hi} images only the first gets right, {only_lo} only the second; {})",
                hi.title,
                lo.title,
                p_text(p)
            );
            if p < SIGNIFICANCE { measurable.push(text) } else { within.push(text) }
        }
    }
    let mut text = format!(
        "The {} reaches the highest final test accuracy, {:.3} ({}) over {test_images} test images. All three are \
         tested on the same images, so each pair is compared by McNemar's exact test on the images only one of the \
         two classifies correctly (a difference is measurable at p < {SIGNIFICANCE}). Measurable differences: {}. \
         Not measurable: {}.",
        top.title,
        top.final_accuracy,
        others.join(", "),
        if measurable.is_empty() { "none".to_string() } else { measurable.join("; ") },
        if within.is_empty() { "none".to_string() } else { within.join("; ") },
    );
    let epochs: Vec<usize> = rows.iter().map(|r| r.epochs).collect();
    if epochs.iter().any(|&e| e != epochs[0]) {
        text += &format!(
            " The networks trained for different numbers of epochs ({}); with the cosine schedule each run's \
             learning rate reaches 0 at its last epoch.",
            rows.iter().map(|r| format!("{} {}", r.title, r.epochs)).collect::<Vec<_>>().join(", ")
        );
    }
    let hardest: Vec<String> = rows.iter().filter_map(|r| r.hardest.as_ref().map(|h| h.0.clone())).collect();
    let mut hardest_text = String::new();
    if n == rows.len() && n > 0 && hardest.iter().all(|h| *h == hardest[0]) {
        let accuracies: Vec<String> =
            rows.iter().filter_map(|r| r.hardest.as_ref()).map(|h| format!("{:.2}", h.1)).collect();
        hardest_text = format!(
            " {} is the hardest class for every network (test accuracy {}).",
            hardest[0],
            accuracies.join(", ")
        );
    }
    doc.para(&format!("**Observation:** {text}{hardest_text}"));
    // The conclusion's summary: the networks within noise of the best, and those measurably behind.
    let (leaders, behind): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.title == top.title || !ahead(top, r));
    let list =
        |v: &[&Row]| v.iter().map(|r| format!("{} {:.3}", r.title, r.final_accuracy)).collect::<Vec<_>>().join(", ");
    let summary = if behind.is_empty() {
        format!("no network is measurably more accurate than the others (McNemar's test; {}).", list(&leaders))
    } else if leaders.len() == 1 {
        format!("the {} is the most accurate, measurably ahead of {} (McNemar's test).", list(&leaders), list(&behind))
    } else {
        format!(
            "{} are the most accurate, with no measurable difference between them, and measurably ahead of {} (McNemar's test).",
            list(&leaders),
            list(&behind)
        )
    };
    doc.finding(format!("**Classifiers** (final test accuracy): {summary}{hardest_text}"));
}

fn one_run(doc: &mut Doc, run: &Path) -> Result<Row> {
    let folder = RunFolder::new(run);
    let card = folder.card()?;
    let title = card.title.clone();
    let name = base(run);
    doc.heading(3, &title);
    let parameters = architecture(doc, run, &name, &title)?;
    doc.para(&format!("**Why this design:** {}", card.rationale));
    let config = folder.train_config()?;
    hyper_parameters(doc, &folder.config(), &config)?;
    let history = folder.classifier_history()?;
    training(doc, run, &name, &title, &folder.history(), &history)?;
    let (hardest, correct) = match per_class(doc, &folder, &config, &name, &title)? {
        Some((h, correct)) => (Some(h), correct),
        None => (None, vec![]),
    };
    let layers: Vec<&str> = card.layers.iter().map(|l| l.op.as_str()).filter(|op| *op != "image").collect();
    let best = history.best().map_or((f64::NAN, 0), |b| (b.test_accuracy, b.epoch));
    Ok(Row {
        title,
        architecture: config.architecture,
        layers: layers.len(),
        parameters,
        epochs: history.epochs.len(),
        final_accuracy: history.epochs.last().map_or(f64::NAN, |e| e.test_accuracy),
        best,
        seconds: history.seconds(),
        hardest,
        correct,
    })
}

/// Diagram and layer table from `run/model.onnx`; returns its learned parameter count.
fn architecture(doc: &mut Doc, run: &Path, name: &str, title: &str) -> Result<usize> {
    let onnx = run.join("model.onnx");
    let summary = netlens_onnx::inspect(&onnx)?;
    let input = DiagramBox {
        name: "input".into(),
        op: "image".into(),
        size: shape_text(&format_shape(summary.input.shape.as_deref())),
        beside_previous: false,
    };
    let boxes: Vec<DiagramBox> = std::iter::once(input).chain(layer_boxes(&summary.layers)).collect();
    let fig = doc.reserve_figure(&format!("{}-architecture.svg", slug(name)));
    write_diagram_svg(
        &format!("{title}: layers and output feature-map sizes (from model.onnx)"),
        &boxes,
        &doc.figure_path(&fig),
    )?;
    doc.para(&format!(
        "**Architecture** ({} learned parameters), drawn from the exported ONNX graph:",
        thousands(summary.parameters)
    ));
    doc.link_figure(&fig, &format!("{title} architecture"));
    let rows: Vec<Vec<String>> = layer_rows(&summary.layers)
        .into_iter()
        .map(|r| vec![format!("`{}`", r.name), r.op, r.window, r.shape, thousands(r.parameters)])
        .collect();
    doc.table(&["layer", "operation", "window (kernel, stride, padding)", "output (C×H×W)", "parameters"], &rows);
    Ok(summary.parameters)
}

/// One row of the layer table.
struct LayerRow {
    name: String,
    op: String,
    window: String,
    shape: String,
    parameters: usize,
}

/// The layer table: the drawn layers (see [`drawn`]), a fully connected layer exported as
/// `X.matmul` (MatMul), `X.reshape` (its bias) and `X` (Add) merged into one `Linear` row with
/// all their parameters, so the rows' parameters add up to the model's.
fn layer_rows(layers: &[netlens_onnx::Layer]) -> Vec<LayerRow> {
    let mut rows: Vec<LayerRow> = vec![];
    let mut pending_bias = 0;
    for l in layers {
        if let Some(fc) = l.name.strip_suffix(".reshape") {
            // A bias reshape: its parameters belong to the Linear row of `fc`.
            match rows.iter_mut().rev().find(|r| r.name == fc) {
                Some(row) => row.parameters += l.parameters,
                None => pending_bias += l.parameters,
            }
            continue;
        }
        if !drawn(l) {
            // Shape plumbing carries no parameters; keep any (none expected) on the previous row.
            if let Some(row) = rows.last_mut() {
                row.parameters += l.parameters;
            }
            continue;
        }
        let shape = shape_text(&format_shape(l.output_shape.as_deref()));
        if let Some(fc) = l.name.strip_suffix(".matmul").filter(|_| l.op == "MatMul") {
            rows.push(LayerRow {
                name: fc.into(),
                op: "Linear".into(),
                window: String::new(),
                shape,
                parameters: l.parameters,
            });
            continue;
        }
        if l.op == "Add" && rows.last().is_some_and(|r| r.name == l.name && r.op == "Linear") {
            let row = rows.last_mut().expect("checked above");
            row.parameters += l.parameters + std::mem::take(&mut pending_bias);
            row.shape = shape;
            continue;
        }
        rows.push(LayerRow {
            name: l.name.clone(),
            op: if l.op == "Reshape" { "Flatten (Reshape)".into() } else { l.op.clone() },
            window: l.window.clone().unwrap_or_default(),
            shape,
            parameters: l.parameters,
        });
    }
    rows
}

/// One box per drawn layer; a fully connected layer exported as `X.matmul` (MatMul) followed
/// by `X` (Add of the bias) is one `Linear` box named `X`.
fn layer_boxes(layers: &[netlens_onnx::Layer]) -> Vec<DiagramBox> {
    let drawn: Vec<&netlens_onnx::Layer> = layers.iter().filter(|l| drawn(l)).collect();
    let mut boxes = Vec::with_capacity(drawn.len());
    let mut i = 0;
    while i < drawn.len() {
        let l = drawn[i];
        let size = |l: &netlens_onnx::Layer| shape_text(&format_shape(l.output_shape.as_deref()));
        let bias = drawn.get(i + 1).filter(|next| {
            l.op == "MatMul" && next.op == "Add" && l.name.strip_suffix(".matmul") == Some(next.name.as_str())
        });
        if let Some(add) = bias {
            boxes.push(DiagramBox {
                name: add.name.clone(),
                op: "Linear (MatMul + bias)".into(),
                size: size(add),
                beside_previous: false,
            });
            i += 2;
        } else {
            let op = match &l.window {
                Some(window) => format!("{} {window}", l.op),
                None => l.op.clone(),
            };
            boxes.push(DiagramBox { name: l.name.clone(), op, size: size(l), beside_previous: false });
            i += 1;
        }
    }
    boxes
}

/// Whether a layer gets a box: not the shape plumbing of the export (Shape, Gather, Concat,
/// Unsqueeze, Constant, Cast) nor the reshape of a fully connected layer's bias.
fn drawn(l: &netlens_onnx::Layer) -> bool {
    !matches!(l.op.as_str(), "Shape" | "Gather" | "Concat" | "Unsqueeze" | "Constant" | "Cast")
        && !l.name.ends_with(".reshape")
}

/// `[batch, 6, 28, 28]`-style text without the batch dimension: `6×28×28`.
fn shape_text(shape: &str) -> String {
    let inner = shape.trim_start_matches('[').trim_end_matches(']');
    let dims: Vec<&str> = inner.split(',').map(str::trim).collect();
    if dims.len() > 1 { dims[1..].join("×") } else { inner.to_string() }
}

fn hyper_parameters(doc: &mut Doc, path: &Path, config: &TrainConfig) -> Result<()> {
    let rows = readable_rows(
        settings_rows(config, path)?,
        &[
            ("batch_size", "batch size"),
            ("epochs", "epochs"),
            ("learning_rate", "peak learning rate"),
            ("seed", "seed"),
        ],
    );
    doc.para(&format!(
        "**Hyper-parameters** (optimiser Adam on the cross-entropy loss, learning rate decayed from the peak below \
         to 0 along a cosine over the epochs; no weight decay, no data augmentation; {}):",
        if config.device.to_string() == "flex" {
            "trained on the CPU".to_string()
        } else {
            format!("trained on the `{}` device", config.device)
        }
    ));
    doc.table(&["setting", "value"], &rows);
    Ok(())
}

/// Final and best test accuracy, total training time, and the two curves.
fn training(doc: &mut Doc, run: &Path, name: &str, title: &str, path: &Path, history: &History) -> Result<()> {
    let no_epoch = || AnalyzeError::Parse { path: path.to_path_buf(), reason: "no epoch recorded".into() };
    let last = history.epochs.last().ok_or_else(no_epoch)?;
    let best = history.best().ok_or_else(no_epoch)?;
    let (best, best_epoch, seconds) = (best.test_accuracy, best.epoch, history.seconds());
    doc.para(&format!(
        "**Training:** after {} epochs the test accuracy is **{:.4}** (train {:.4}; test loss {:.4}, train loss {:.4}); the best test accuracy was **{best:.4}** at epoch {best_epoch}. Training took {seconds:.1} s.",
        last.epoch,
        last.test_accuracy,
        last.train_accuracy,
        last.test_loss,
        last.train_loss,
    ));
    doc.para_once(
        "(For every network: the train loss and accuracy of an epoch are means over its batches while the weights \
         change, so early epochs' train numbers lag the test numbers, measured after the epoch. The report uses the \
         final epoch's model, not the best epoch's: the test set must not choose the model.)",
    );
    over_fitting(doc, history);
    for (file, what) in
        [("loss.svg", "train and test loss per epoch"), ("accuracy.svg", "train and test accuracy per epoch")]
    {
        let src = run.join(file);
        if src.exists() {
            doc.copy_figure(&src, &format!("{}-{file}", slug(name)), &format!("{title}: {what}"))?;
        } else {
            doc.missing(
                &format!("the {what} figure"),
                &format!("`{}` is absent; `netlens train` draws it", src.display()),
            );
        }
    }
    Ok(())
}

/// Says where the test loss bottomed out when it then rose by more than 5 % while the training
/// loss kept falling: the classic sign of over-fitting, visible in the loss curve.
fn over_fitting(doc: &mut Doc, history: &History) {
    let (Some(low), Some(last)) =
        (history.epochs.iter().min_by(|a, b| a.test_loss.total_cmp(&b.test_loss)), history.epochs.last())
    else {
        return;
    };
    if low.epoch < last.epoch && last.test_loss > 1.05 * low.test_loss && last.train_loss < low.train_loss {
        doc.para(&format!(
            "**Over-fitting:** the test loss was lowest at epoch {} ({:.4}) and rose to {:.4} by epoch {} while the \
             training loss kept falling ({:.4} → {:.4}); the test accuracy moved from {:.4} to {:.4} over the same \
             epochs. A rising test loss at a steady accuracy comes from larger losses on the images it gets wrong \
             (more confident mistakes), smaller margins on those it gets right, or both. Choosing when to stop would need a validation split carved from the \
             training images (epoch {} is picked here by the test set, which must not choose the model); more \
             regularisation or more data are the other remedies.",
            low.epoch,
            low.test_loss,
            last.test_loss,
            last.epoch,
            low.train_loss,
            last.train_loss,
            low.test_accuracy,
            last.test_accuracy,
            low.epoch,
        ));
    }
}

/// The confusion matrix and per-class accuracy of the final model on the test set, from
/// `test_logits.npy` and the labels of the data set named in `config.json`.
/// Returns the hardest class, its accuracy and the number of test images, and per test image
/// whether it is classified correctly (`None` when there is
/// no confusion matrix).
fn per_class(
    doc: &mut Doc,
    folder: &RunFolder,
    config: &TrainConfig,
    name: &str,
    title: &str,
) -> Result<Option<(Hardest, Vec<bool>)>> {
    let logits_path = folder.test_logits();
    let data = Path::new(&config.data);
    if !logits_path.exists() {
        doc.missing(
            "the confusion matrix",
            &format!(
                "`{}` (the final model's test logits) is absent; `netlens train` writes it",
                logits_path.display()
            ),
        );
        return Ok(None);
    }
    let Ok(test) = netlens_fetch::load_split(data, netlens_fetch::Split::Test) else {
        doc.missing(
            "the confusion matrix",
            &format!(
                "the test labels of `{}` (the training data as `config.json` names it) cannot be read from the folder \
                 the report runs in; run `netlens report` from where the runs were made",
                data.display()
            ),
        );
        return Ok(None);
    };
    let logits = netlens_fetch::npy::read_f32(&logits_path, "(N, classes)")?;
    let classes = test.class_names.len();
    if logits.shape != [test.len(), classes] {
        return Err(AnalyzeError::ShapeMismatch {
            what: logits_path.display().to_string(),
            expected: format!("[{}, {classes}] (the test set of {})", test.len(), data.display()),
            found: format!("{:?}", logits.shape),
        });
    }
    let mut matrix = vec![vec![0usize; classes]; classes];
    // (test index, predicted class, its softmax probability) of every misclassified image.
    let mut wrong: Vec<(usize, usize, f64)> = vec![];
    let mut correct = Vec::with_capacity(test.len());
    for (i, (row, &label)) in logits.data.chunks_exact(classes).zip(&test.labels).enumerate() {
        let predicted = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k);
        matrix[label as usize][predicted] += 1;
        correct.push(predicted == label as usize);
        if predicted != label as usize {
            let top = f64::from(row[predicted]);
            let z: f64 = row.iter().map(|&v| (f64::from(v) - top).exp()).sum();
            wrong.push((i, predicted, 1.0 / z));
        }
    }
    let names = &test.class_names;
    let recall = |k: usize| matrix[k][k] as f64 / matrix[k].iter().sum::<usize>().max(1) as f64;
    let mut lines = vec![
        "| class | test images | correct | accuracy | most often taken for |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    for (k, row) in matrix.iter().enumerate() {
        // Every class tied for the most confusions is named.
        let most = row.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, &n)| n).max().unwrap_or(0);
        let tied: Vec<&str> =
            row.iter().enumerate().filter(|&(j, &n)| j != k && n == most).map(|(j, _)| names[j].as_str()).collect();
        let confused = match tied.as_slice() {
            _ if most == 0 => "—".to_string(),
            [one] => format!("{one} ({most})"),
            several => format!("{} ({most} each)", several.join(", ")),
        };
        lines.push(format!(
            "| {} | {} | {} | {:.2} | {confused} |",
            names[k],
            row.iter().sum::<usize>(),
            row[k],
            recall(k)
        ));
    }
    let hardest = (0..classes).min_by(|&a, &b| recall(a).total_cmp(&recall(b))).unwrap_or(0);
    let (mistaken_for, times) = matrix[hardest]
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != hardest)
        .max_by_key(|(_, n)| **n)
        .map_or((hardest, 0), |(j, n)| (j, *n));
    doc.para(&format!(
        "**Per class** (final model on the {} test images; the full confusion matrix is the heat map below: rows \
         are the true class, columns the predicted one, the diagonal is correct). The hardest class is **{}**, right {:.0}% of the time and most often taken for \
         {} ({} of {}).",
        test.len(),
        names[hardest],
        100.0 * recall(hardest),
        names[mistaken_for],
        times,
        matrix[hardest].iter().sum::<usize>(),
    ));
    doc.para(&lines.join("\n"));
    let fig = doc.reserve_figure(&format!("{}-confusion.svg", slug(name)));
    let svg =
        crate::figures::heatmap::confusion_svg(&format!("{title}: confusion matrix on the test set"), names, &matrix);
    netlens_fetch::write_atomically(&doc.figure_path(&fig), svg.as_bytes())?;
    doc.link_figure(&fig, &format!("{title} confusion matrix"));
    misclassified(doc, &test, &wrong, name, title)?;
    Ok(Some(((names[hardest].clone(), recall(hardest), test.len()), correct)))
}

/// The gallery of the [`GALLERY`] most confident mistakes: test images the final model got
/// wrong, highest softmax probability of the wrong class first. `wrong` holds (test index,
/// predicted class, its probability).
fn misclassified(
    doc: &mut Doc,
    test: &netlens_fetch::Dataset,
    wrong: &[(usize, usize, f64)],
    name: &str,
    title: &str,
) -> Result<()> {
    if wrong.is_empty() {
        doc.para("Every test image is classified correctly, so there is no gallery of mistakes.");
        return Ok(());
    }
    let mut shown = wrong.to_vec();
    shown.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    shown.truncate(GALLERY);
    let [_, c, h, w] = test.images.shape;
    let names = &test.class_names;
    let cells: Vec<GalleryCell> = shown
        .iter()
        .map(|&(i, predicted, p)| GalleryCell {
            image: DisplayImage { data: test.images.image(i), channels: c, height: h, width: w },
            caption: vec![
                format!("#{i} · true: {}", names[test.labels[i] as usize]),
                format!("predicted: {}", names[predicted]),
                format!("probability {p:.3}"),
            ],
        })
        .collect();
    let fig = doc.reserve_figure(&format!("{}-misclassified.png", slug(name)));
    let image = gallery(&format!("{title}: its {} most confident mistakes on the test set", shown.len()), &cells, 6)?;
    crate::explain::figure::write_png(&doc.figure_path(&fig), &image)?;
    let confident = wrong.iter().filter(|m| m.2 > 0.9).count();
    doc.para(&format!(
        "**Mistakes:** {} of {} test images are misclassified; {confident} of them with a softmax probability above \
         0.9 for the wrong class. The gallery shows the {} most confident mistakes (test index, true class, predicted \
         class and its softmax probability under each).",
        wrong.len(),
        test.len(),
        shown.len()
    ));
    doc.link_figure(&fig, &format!("{title}: most confident mistakes"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_onnx::inspect::Dim;

    #[test]
    fn mcnemar_is_the_two_sided_exact_binomial_test_of_the_discordant_images() {
        const TOL: f64 = 1e-12;
        // Hand-computed: 10 discordant images all one way, 2 · (1/2)^10.
        assert!((mcnemar_exact(10, 0) - 2.0 / 1024.0).abs() < TOL);
        // 1 against 9: 2 · (C(10,0) + C(10,1)) / 2^10 = 22 / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < TOL);
        assert!((mcnemar_exact(9, 1) - mcnemar_exact(1, 9)).abs() < TOL);
        // An even split, and no discordant image, give no evidence at all.
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // 30 against 60: 2 · Σ_{i ≤ 30} C(90, i) / 2^90 = 0.00206027 (in exact integer arithmetic).
        assert!((mcnemar_exact(30, 60) - 0.002_060_266).abs() < 1e-8, "{}", mcnemar_exact(30, 60));
    }

    fn layer(name: &str, op: &str, dims: &[usize]) -> netlens_onnx::Layer {
        let mut shape = vec![Dim::Symbol("batch".into())];
        shape.extend(dims.iter().map(|&d| Dim::Fixed(d)));
        netlens_onnx::Layer {
            name: name.into(),
            node: String::new(),
            op: op.into(),
            output: String::new(),
            inputs: vec![],
            output_shape: Some(shape),
            parameters: 0,
            window: None,
        }
    }

    #[test]
    fn a_matmul_and_its_bias_add_are_one_linear_box_and_plumbing_is_left_out() {
        let layers = [
            layer("conv1", "Conv", &[6, 28, 28]),
            layer("shape1", "Shape", &[4]),
            layer("fc1.matmul", "MatMul", &[120]),
            layer("fc1.reshape", "Reshape", &[120]),
            layer("fc1", "Add", &[120]),
            layer("relu3", "Relu", &[120]),
            layer("add1", "Add", &[120]),
        ];
        let boxes = layer_boxes(&layers);
        let names: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["conv1", "fc1", "relu3", "add1"]);
        assert_eq!(boxes[1].op, "Linear (MatMul + bias)");
        assert_eq!(boxes[0].size, "6×28×28");
        assert_eq!(boxes[3].op, "Add", "an Add that is not a bias stays itself");
    }

    #[test]
    fn the_layer_table_merges_a_linear_layer_and_keeps_every_parameter() {
        let with = |name: &str, op: &str, dims: &[usize], parameters: usize| netlens_onnx::Layer {
            parameters,
            ..layer(name, op, dims)
        };
        let layers = [
            with("conv1", "Conv", &[6, 28, 28], 156),
            with("shape1", "Shape", &[4], 0),
            with("reshape1", "Reshape", &[400], 0),
            with("fc1.matmul", "MatMul", &[120], 48_000),
            with("fc1.reshape", "Reshape", &[120], 120),
            with("fc1", "Add", &[120], 0),
            with("relu3", "Relu", &[120], 0),
        ];
        let rows = layer_rows(&layers);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["conv1", "reshape1", "fc1", "relu3"]);
        assert_eq!((rows[2].op.as_str(), rows[2].parameters, rows[2].shape.as_str()), ("Linear", 48_120, "120"));
        assert_eq!(rows[1].op, "Flatten (Reshape)");
        assert_eq!(
            rows.iter().map(|r| r.parameters).sum::<usize>(),
            layers.iter().map(|l| l.parameters).sum::<usize>()
        );
    }
}
