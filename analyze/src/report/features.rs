//! Features: PCA and t-SNE figures per tapped layer, the separation scores from
//! `features/summary.json`, and observations drafted from them — how separability changes with
//! depth, and which classes the 5-NN classifier confuses in the final layer's t-SNE embedding
//! (computed here from the embedding's CSV).

use std::path::{Path, PathBuf};

use ndarray::Array2;
use netlens_fetch::runs::{FeatureSummary, LayerRecord, read_json};

use super::doc::{Doc, base, slug};
use crate::error::{AnalyzeError, Result};
use crate::features::file_stem;
use crate::features::scores::{KNN_K, squared_distances};
use crate::figures::scatter::{Scatter, write_scatter_grid_svg};

/// The "Features" section for every classifier run with a `features/summary.json`.
pub(crate) fn section(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "2. Features: PCA and t-SNE of intermediate layers");
    doc.para("PCA projects the centred features on the directions of largest variance: a linear map, so distances and directions in its scatter mean what they mean in the feature space, but two components show only the share of the variance they keep. t-SNE (van der Maaten & Hinton 2008; exact gradients for a few hundred points, van der Maaten's 2014 Barnes–Hut approximation for more, as the settings below say) places points so that each image's nearest neighbours in the feature space stay its neighbours: classes that are separable appear as islands, but the distances between islands and their sizes carry no meaning. Scores: the *silhouette* (Rousseeuw 1987) of the classes in the embedding, in [−1, 1], higher = classes more compact and apart; the leave-one-out *5-NN accuracy* in the original feature space and in the embedding. Features are the outputs of the convolution or linear layer itself (before any BatchNorm or activation), flattened.");
    let mut networks = vec![];
    for run in runs {
        let dir = run.join(netlens_fetch::runs::FEATURES_DIR);
        if dir.join(netlens_fetch::runs::FEATURE_SUMMARY).exists() {
            let title = netlens_fetch::runs::RunFolder::new(run).card().map(|c| c.title).unwrap_or_else(|_| base(run));
            networks.push(one_network(doc, &dir, &base(run), &title)?);
        }
    }
    if networks.is_empty() {
        doc.missing("PCA and t-SNE of the classifiers' features", "`netlens features RUN/model.onnx --data DIR --out RUN/features` writes the `summary.json` this section reads");
    }
    compare_networks(doc, &networks);
    Ok(())
}

/// What the comparison of networks needs from one network's features.
struct NetworkFeatures {
    title: String,
    samples: usize,
    per_class: usize,
    /// (layer, 5-NN accuracy in feature space) of the final studied layer.
    last: (String, f64),
    /// (layer, 5-NN accuracy) of the best studied layer.
    best: (String, f64),
    /// Class names with 5-NN recall ≥ [`CLUSTER`] in the final layer's embedding.
    clustered: Vec<String>,
    /// Class names with recall < [`MIXED`] there.
    mixed: Vec<String>,
}

/// A class "forms its own cluster" in an embedding when at least this share of its images have
/// a 5-NN majority of their own class.
const CLUSTER: f64 = 0.9;
/// A class "stays mixed" when fewer than this share of its images do.
const MIXED: f64 = 0.5;

/// One layer's row of numbers.
struct LayerScores {
    layer: String,
    op: String,
    features: usize,
    knn: f64,
    /// Share of the variance the first two principal components keep, when PCA ran.
    variance: Option<f64>,
    /// (method, silhouette, 5-NN accuracy in the embedding, figure).
    embeddings: Vec<(String, f64, f64, PathBuf)>,
}

fn one_network(doc: &mut Doc, dir: &Path, name: &str, title: &str) -> Result<NetworkFeatures> {
    let path = dir.join(netlens_fetch::runs::FEATURE_SUMMARY);
    let summary: FeatureSummary = read_json(&path)?;
    let layers: Vec<LayerScores> = summary.layers.iter().map(|l| layer_scores(l, dir)).collect();
    doc.heading(3, &format!("{title}: features"));
    doc.para(&format!(
        "{} test images ({} per class, seed {}), {} layers. t-SNE: {}-D, perplexity {}, {} iterations, {}, on the first {} principal components of layers wider than that. Scores use k = {} neighbours.",
        summary.samples,
        summary.per_class,
        summary.seed,
        layers.len(),
        summary.dims,
        summary.perplexity,
        summary.iterations,
        match summary.theta.unwrap_or_else(|| crate::features::tsne::theta_for(summary.samples)) {
            0.0 => "exact (θ = 0)".to_string(),
            theta => format!("Barnes–Hut θ = {theta}"),
        },
        crate::features::tsne::TSNE_INPUT_DIMS,
        summary.knn_k,
    ));
    if let Some(p) = &summary.preprocess {
        doc.para_once(&format!("Model inputs: {}.", p.describe()));
    }
    score_table(doc, &layers);
    grid(doc, dir, &summary, &layers, name, title)?;
    observations(doc, &layers, summary.samples);
    let recall = class_recall(doc, dir, &layers, &summary)?;
    pca_versus_tsne(doc, &layers);
    confusion(doc, dir, &layers, &summary.class_names)?;
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else {
        return Err(AnalyzeError::Parse { path, reason: "no layer was studied".into() });
    };
    let best = layers.iter().fold(first, |b, l| if l.knn > b.knn { l } else { b });
    let final_recall = recall.last().map(|r| r.1.clone()).unwrap_or_default();
    let names_where = |keep: &dyn Fn(f64) -> bool| -> Vec<String> {
        final_recall
            .iter()
            .enumerate()
            .filter(|(_, r)| keep(**r))
            .map(|(k, _)| class_name(&summary.class_names, k as u32))
            .collect()
    };
    Ok(NetworkFeatures {
        title: title.to_string(),
        samples: summary.samples,
        per_class: summary.per_class,
        last: (last.layer.clone(), last.knn),
        best: (best.layer.clone(), best.knn),
        clustered: names_where(&|r| r >= CLUSTER),
        mixed: names_where(&|r| r < MIXED),
    })
}

/// One figure with a row per layer and a column per method (PCA, t-SNE), drawn from the
/// embeddings' CSVs, with the class legend in its own strip on top.
fn grid(
    doc: &mut Doc,
    dir: &Path,
    summary: &FeatureSummary,
    layers: &[LayerScores],
    name: &str,
    title: &str,
) -> Result<()> {
    let mut data = vec![];
    for (l, record) in layers.iter().zip(&summary.layers) {
        let mut row = vec![];
        for (method, _, knn, _) in &l.embeddings {
            let csv = dir.join(format!("{}_{method}.csv", file_stem(&l.layer)));
            let (points, labels) = read_embedding_csv(&csv)?;
            let shares =
                record.embeddings.iter().find(|e| e.method.name() == method).and_then(|e| e.variance_share.clone());
            let axis_names: Vec<String> = (0..points.ncols())
                .map(|k| match (&shares, method.as_str()) {
                    (Some(v), _) if k < v.len() => format!("PC{} ({:.1}% of the variance)", k + 1, 100.0 * v[k]),
                    (_, "tsne") => format!("t-SNE {}", k + 1),
                    _ => format!("{method} {}", k + 1),
                })
                .collect();
            let label = if method == "tsne" { "t-SNE" } else { "PCA" };
            let panel_title = format!("{} ({}, {} features): {label}, 5-NN {:.2}", l.layer, l.op, l.features, knn);
            row.push((points, labels, axis_names, panel_title));
        }
        data.push(row);
    }
    let rows: Vec<Vec<Scatter>> = data
        .iter()
        .map(|row| {
            row.iter()
                .map(|(points, labels, axis_names, t)| Scatter {
                    points: points.view(),
                    labels,
                    class_names: &summary.class_names,
                    title: t.clone(),
                    axis_names: axis_names.clone(),
                })
                .collect()
        })
        .collect();
    let fig = doc.reserve_figure(&format!("{}-features.svg", slug(name)));
    let heading =
        format!("{title}: PCA (left) and t-SNE (right) of {} test images, one row per layer", summary.samples);
    write_scatter_grid_svg(&doc.figure_path(&fig), &heading, &summary.class_names, &rows)?;
    doc.link_figure(&fig, &format!("{title}: PCA and t-SNE of each studied layer"));
    Ok(())
}

/// The share of each class's images whose leave-one-out 5-NN majority in the embedding is
/// their own class (5-NN *recall*), per layer, as a table, and what it shows: which classes
/// form their own cluster from which layer on, which stay mixed. Returns (layer, recall per
/// class) for every layer with an embedding CSV (t-SNE, else PCA).
fn class_recall(
    doc: &mut Doc,
    dir: &Path,
    layers: &[LayerScores],
    summary: &FeatureSummary,
) -> Result<Vec<(String, Vec<f64>)>> {
    let classes = summary.class_names.len();
    let mut per_layer = vec![];
    let mut method_used = "tsne";
    for l in layers {
        let Some((method, csv)) = ["tsne", "pca"]
            .iter()
            .map(|m| (*m, dir.join(format!("{}_{m}.csv", file_stem(&l.layer)))))
            .find(|(_, p)| p.exists())
        else {
            continue;
        };
        method_used = method;
        let (points, labels) = read_embedding_csv(&csv)?;
        per_layer.push((l.layer.clone(), knn_recall(&points, &labels, classes)));
    }
    if per_layer.is_empty() {
        return Ok(per_layer);
    }
    let method = if method_used == "tsne" { "t-SNE" } else { "PCA" };
    let mut header = vec!["class".to_string()];
    header.extend(per_layer.iter().map(|(l, _)| format!("`{l}`")));
    let rows: Vec<Vec<String>> = (0..classes)
        .map(|k| {
            let mut row = vec![class_name(&summary.class_names, k as u32)];
            row.extend(per_layer.iter().map(|(_, r)| {
                let v = r[k];
                if v >= CLUSTER { format!("**{v:.2}**") } else { format!("{v:.2}") }
            }));
            row
        })
        .collect();
    // A recall over m images has a standard error of at most 0.5/√m; two layers' recalls differ
    // measurably when they are more than two standard errors of the difference apart.
    let m = summary.per_class.max(1) as f64;
    let noise = difference_noise(0.5, 0.5, summary.per_class);
    let name = |k: usize| class_name(&summary.class_names, k as u32);
    let first_at = |k: usize| per_layer.iter().position(|(_, r)| r[k] >= CLUSTER);
    let mut early: Vec<String> = vec![];
    let mut later: Vec<String> = vec![];
    for k in 0..classes {
        match first_at(k) {
            Some(0) => early.push(name(k)),
            Some(i) => later.push(format!("{} (from `{}`)", name(k), per_layer[i].0)),
            None => {}
        }
    }
    let mixed: Vec<String> = (0..classes).filter(|&k| per_layer.iter().all(|(_, r)| r[k] < MIXED)).map(name).collect();
    let first = &per_layer[0].1;
    // The largest rise of each class from the first layer to any later one.
    let gains: Vec<String> = (0..classes)
        .filter_map(|k| {
            let (at, peak) =
                per_layer.iter().skip(1).map(|(l, r)| (l.as_str(), r[k])).max_by(|a, b| a.1.total_cmp(&b.1))?;
            (peak - first[k] > noise).then(|| format!("{} ({:.2} → {peak:.2} at `{at}`)", name(k), first[k]))
        })
        .collect();
    let mut text = format!(
        "**Which classes separate** (5-NN recall per class in each layer's {method} map: the share of a class's {} \
         images whose 5 nearest neighbours are mostly of their own class; bold = at least {CLUSTER}, the class forms \
         its own cluster). ",
        summary.per_class
    );
    text += &match (early.is_empty(), later.is_empty()) {
        (true, true) => format!("No class reaches {CLUSTER} at any studied layer. "),
        _ => format!(
            "{}{}",
            if early.is_empty() {
                String::new()
            } else {
                format!("Already at the first layer `{}`: {}. ", per_layer[0].0, early.join(", "))
            },
            if later.is_empty() { String::new() } else { format!("First at a later layer: {}. ", later.join(", ")) }
        ),
    };
    text += &if mixed.is_empty() {
        format!("No class stays below {MIXED} at every layer. ")
    } else {
        format!("Mixed at every layer (recall below {MIXED}): {}. ", mixed.join(", "))
    };
    text += &format!(
        "With {} images per class a recall has a standard error of up to {:.2}, so only changes above {noise:.2} \
         between two layers are measurable; from `{}` to any later layer {}.",
        summary.per_class,
        0.5 / m.sqrt(),
        per_layer[0].0,
        if gains.is_empty() {
            "no class gains measurably".to_string()
        } else {
            format!("these gain measurably: {}", gains.join(", "))
        }
    );
    doc.para(&text);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    doc.table(&header, &rows);
    Ok(per_layer)
}

/// The share of each class's points whose leave-one-out [`KNN_K`]-NN vote is their own class;
/// `classes` entries (0 for a class without points).
pub(crate) fn knn_recall(points: &Array2<f64>, labels: &[u32], classes: usize) -> Vec<f64> {
    let d = squared_distances(points.view());
    let (mut hit, mut total) = (vec![0usize; classes], vec![0usize; classes]);
    for i in 0..labels.len() {
        let k = labels[i] as usize;
        if k >= classes {
            continue;
        }
        total[k] += 1;
        if knn_vote(&d.row(i).to_vec(), labels, i) == labels[i] {
            hit[k] += 1;
        }
    }
    hit.iter().zip(&total).map(|(&h, &t)| if t == 0 { 0.0 } else { h as f64 / t as f64 }).collect()
}

/// PCA against t-SNE, from the score table: how much variance two principal components keep,
/// and how the 5-NN accuracies of the two maps compare with the feature space's.
fn pca_versus_tsne(doc: &mut Doc, layers: &[LayerScores]) {
    let of = |m: &str| -> Vec<(f64, f64, f64)> {
        layers.iter().filter_map(|l| l.embeddings.iter().find(|e| e.0 == m).map(|e| (e.1, e.2, l.knn))).collect()
    };
    let (pca, tsne) = (of("pca"), of("tsne"));
    if pca.is_empty() || tsne.is_empty() {
        return;
    }
    let span = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        if (hi - lo).abs() < 5e-4 { format!("{lo:.2}") } else { format!("{lo:.2} to {hi:.2}") }
    };
    let loss = |v: &[(f64, f64, f64)]| v.iter().map(|e| e.2 - e.1).collect::<Vec<_>>();
    let sil = |v: &[(f64, f64, f64)]| v.iter().map(|e| e.0).collect::<Vec<_>>();
    let variance: Vec<f64> = layers.iter().filter_map(|l| l.variance.map(|v| 100.0 * v)).collect();
    let kept = if variance.is_empty() {
        String::new()
    } else {
        let (lo, hi) = variance.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        format!("the first two principal components keep {lo:.0}–{hi:.0}% of a layer's variance, and ")
    };
    doc.para(&format!(
        "**PCA against t-SNE** (score table): {kept}the PCA map's 5-NN accuracy is {} below the feature space's \
         (t-SNE's: {}; negative = above). The silhouettes tell the same: PCA {}, t-SNE {}. Two directions of largest \
         variance keep only part of the neighbourhoods that make the classes separable, while t-SNE keeps them.",
        span(&loss(&pca)),
        span(&loss(&tsne)),
        span(&sil(&pca)),
        span(&sil(&tsne)),
    ));
}

/// The networks side by side: the 5-NN accuracy of their final and best studied layers, with
/// the noise level of a difference, and which classes cluster in each.
fn compare_networks(doc: &mut Doc, networks: &[NetworkFeatures]) {
    if networks.len() < 2 {
        return;
    }
    doc.heading(3, "The networks compared");
    let rows: Vec<Vec<String>> = networks
        .iter()
        .map(|n| {
            vec![
                n.title.clone(),
                format!("`{}` {:.3}", n.best.0, n.best.1),
                format!("`{}` {:.3}", n.last.0, n.last.1),
                if n.clustered.is_empty() { "—".into() } else { n.clustered.join(", ") },
                if n.mixed.is_empty() { "—".into() } else { n.mixed.join(", ") },
            ]
        })
        .collect();
    doc.table(
        &[
            "network",
            "best layer (5-NN acc.)",
            "final layer (5-NN acc.)",
            "own cluster at the final layer",
            "mixed at the final layer",
        ],
        &rows,
    );
    let (Some(top), Some(bottom)) = (
        networks.iter().max_by(|a, b| a.last.1.total_cmp(&b.last.1)),
        networks.iter().min_by(|a, b| a.last.1.total_cmp(&b.last.1)),
    ) else {
        return;
    };
    let noise = difference_noise(top.last.1, bottom.last.1, top.samples.min(bottom.samples));
    let gap = top.last.1 - bottom.last.1;
    let verdict = if gap > noise {
        format!(
            "the {} separates the classes measurably better in its final layer than the {} ({:.3} against {:.3}, a \
             difference of {gap:.3} where sampling noise reaches {noise:.3})",
            top.title, bottom.title, top.last.1, bottom.last.1
        )
    } else {
        format!(
            "there is no measurable difference between the networks' final layers ({:.3} to {:.3}: the largest gap, \
             {gap:.3}, is within the {noise:.3} that sampling {} images per network allows)",
            bottom.last.1, top.last.1, top.samples
        )
    };
    let everywhere: Vec<&String> =
        networks[0].mixed.iter().filter(|c| networks.iter().all(|n| n.mixed.contains(c))).collect();
    let shared = if everywhere.is_empty() {
        "No class stays mixed in the final layer of every network.".to_string()
    } else {
        format!(
            "Mixed in the final layer of every network: {} — whatever the architecture, these classes share their \
             neighbourhoods.",
            everywhere.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
        )
    };
    doc.para(&format!(
        "**Observation** (5-NN accuracy in feature space over {} test images, {} per class): {verdict}. {shared}",
        top.samples, top.per_class
    ));
    // Every pair of networks whose final layers differ by more than the noise of the difference.
    let mut measurable = vec![];
    for (i, a) in networks.iter().enumerate() {
        for b in &networks[i + 1..] {
            let (hi, lo) = if a.last.1 >= b.last.1 { (a, b) } else { (b, a) };
            if hi.last.1 - lo.last.1 > difference_noise(hi.last.1, lo.last.1, hi.samples.min(lo.samples)) {
                measurable.push(format!("{} ({:.3}) over {} ({:.3})", hi.title, hi.last.1, lo.title, lo.last.1));
            }
        }
    }
    let summary = if measurable.is_empty() {
        "no network's final layer separates the classes measurably better than another's".to_string()
    } else {
        format!("measurably better separated: {}; every other pair is within sampling noise", measurable.join("; "))
    };
    doc.finding(format!("**Features** (5-NN accuracy in the final layer's features): {summary}. {shared}"));
}

fn layer_scores(l: &LayerRecord, dir: &Path) -> LayerScores {
    let embeddings = l
        .embeddings
        .iter()
        .map(|e| {
            let method = e.method.name().to_string();
            let fig = dir.join(format!("{}_{method}.svg", file_stem(&l.layer)));
            (method, e.silhouette, e.knn_accuracy, fig)
        })
        .collect();
    let variance = l.embeddings.iter().find_map(|e| e.variance_share.as_ref()).map(|v| v.iter().take(2).sum::<f64>());
    // A dense layer's output is written by the bias `Add` (or a `Gemm`/`MatMul`) in the ONNX
    // graph; the report names the layer, as its architecture table does.
    let op = match l.op.as_str() {
        "Add" | "Gemm" | "MatMul" if l.sample_shape.len() == 1 => "Linear".to_string(),
        other => other.to_string(),
    };
    LayerScores { op, features: l.features, knn: l.knn_accuracy, layer: l.layer.clone(), variance, embeddings }
}

fn score_table(doc: &mut Doc, layers: &[LayerScores]) {
    let rows: Vec<Vec<String>> = layers
        .iter()
        .flat_map(|l| {
            l.embeddings.iter().map(move |(m, sil, knn, _)| {
                vec![
                    format!("`{}`", l.layer),
                    l.op.clone(),
                    l.features.to_string(),
                    format!("{:.3}", l.knn),
                    m.clone(),
                    format!("{sil:.3}"),
                    format!("{knn:.3}"),
                ]
            })
        })
        .collect();
    doc.table(
        &["layer", "op", "features", "5-NN acc. (features)", "method", "silhouette", "5-NN acc. (embedding)"],
        &rows,
    );
}

/// Drafted from the 5-NN accuracies in feature space and the t-SNE silhouettes.
/// `samples`: the number of images the accuracies are over (for their standard error).
fn observations(doc: &mut Doc, layers: &[LayerScores], samples: usize) {
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else { return };
    let top = layers.iter().map(|l| l.knn).fold(f64::NEG_INFINITY, f64::max);
    // Accuracies over n images move in steps of 1/n: layers within half a step share the top.
    let step = 1.0 / samples.max(1) as f64;
    let best: Vec<String> =
        layers.iter().filter(|l| top - l.knn < step / 2.0).map(|l| format!("`{}`", l.layer)).collect();
    let mean = layers.iter().map(|l| l.knn).sum::<f64>() / layers.len() as f64;
    let se = (mean * (1.0 - mean) / samples.max(1) as f64).sqrt();
    // Two accuracies over the same number of images differ measurably when they are more than two
    // standard errors of their difference (√2 · SE) apart: the rule used throughout the report.
    let noise = difference_noise(mean, mean, samples);
    let runners_up: Vec<String> = layers
        .iter()
        .filter(|l| top - l.knn >= step / 2.0 && top - l.knn <= noise)
        .map(|l| format!("`{}` ({:.3})", l.layer, l.knn))
        .collect();
    let best_text = if runners_up.is_empty() {
        format!("The classes separate measurably best at {} ({top:.3}).", best.join(" and "))
    } else {
        format!(
            "The highest score is at {} ({top:.3}), but {} {} within noise of it, so no layer is measurably best.",
            best.join(" and "),
            runners_up.join(", "),
            if runners_up.len() == 1 { "is" } else { "are" }
        )
    };
    let change = last.knn - first.knn;
    let trend = if change.abs() <= noise {
        format!("no measurable change between the first and the last studied layer ({change:+.3})")
    } else if change > 0.0 {
        format!("a measurable rise of {change:.3} from the first to the last studied layer")
    } else {
        format!("a measurable fall of {:.3} from the first to the last studied layer", -change)
    };
    let mut text = format!(
        "**Observation** (5-NN accuracy in feature space): {:.3} at the first studied layer `{}`, {:.3} at the final \
         layer `{}`: {trend}. {best_text} Over {samples} images an accuracy near {mean:.2} has a standard error of \
         about {se:.3}, so two layers differ measurably only by more than {noise:.3} (two standard errors of a difference \
         of independent scores; the layers are scored on the same images, whose correlated errors make the true \
         noise of a difference smaller, so this threshold is conservative).",
        first.knn, first.layer, last.knn, last.layer,
    );
    let tsne: Vec<(&str, f64)> = layers
        .iter()
        .filter_map(|l| l.embeddings.iter().find(|e| e.0 == "tsne").map(|e| (l.layer.as_str(), e.1)))
        .collect();
    if let Some((layer, sil)) = tsne.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)) {
        text += &format!(" In the t-SNE maps the silhouette is highest at `{layer}` ({sil:.3}).");
    }
    doc.para(&text);
}

/// Two standard errors of the difference of two accuracies `p` and `q`, each over `n` images:
/// a difference larger than this is measurable, a smaller one may be sampling noise.
pub(crate) fn difference_noise(p: f64, q: f64, n: usize) -> f64 {
    let n = n.max(1) as f64;
    2.0 * (p * (1.0 - p) / n + q * (1.0 - q) / n).sqrt()
}

/// The most confused class pairs of the leave-one-out 5-NN in the final layer's t-SNE (or PCA)
/// embedding, read from its CSV.
fn confusion(doc: &mut Doc, dir: &Path, layers: &[LayerScores], names: &[String]) -> Result<()> {
    let Some(last) = layers.last() else { return Ok(()) };
    let Some((method, csv)) = ["tsne", "pca"]
        .iter()
        .map(|m| (*m, dir.join(format!("{}_{m}.csv", file_stem(&last.layer)))))
        .find(|(_, p)| p.exists())
    else {
        return Ok(());
    };
    let (points, labels) = read_embedding_csv(&csv)?;
    let pairs = confused_pairs(&points, &labels);
    let total: usize = pairs.iter().map(|p| p.2).sum();
    let top: Vec<String> = pairs
        .iter()
        .take(3)
        .map(|(a, b, n)| format!("{} ↔ {} ({n})", class_name(names, *a), class_name(names, *b)))
        .collect();
    if top.is_empty() {
        doc.para(&format!("**Observation** (leave-one-out {KNN_K}-NN in the {} embedding of the final layer `{}`): no test image is misclassified; no classes overlap.", if method == "tsne" { "t-SNE" } else { "PCA" }, last.layer));
    } else {
        doc.para(&format!(
            "**Observation** (leave-one-out {KNN_K}-NN in the {} embedding of the final layer `{}`): {total} of {} images are given another class by their neighbours; the classes that overlap most are {}.",
            if method == "tsne" { "t-SNE" } else { "PCA" }, last.layer, labels.len(), top.join(", ")
        ));
    }
    Ok(())
}

fn class_name(names: &[String], label: u32) -> String {
    names.get(label as usize).cloned().unwrap_or_else(|| format!("class {label}"))
}

/// `(points, labels)` from a CSV with the header `index,label,class,<axes…>`.
pub(crate) fn read_embedding_csv(path: &Path) -> Result<(Array2<f64>, Vec<u32>)> {
    let text = std::fs::read_to_string(path).map_err(|source| AnalyzeError::Io { path: path.to_path_buf(), source })?;
    let bad = |line: usize, why: &str| AnalyzeError::Parse {
        path: path.to_path_buf(),
        reason: format!("line {line}: {why}"),
    };
    let mut lines = text.lines();
    let axes = lines
        .next()
        .map(|h| h.split(',').count().saturating_sub(3))
        .filter(|&a| a > 0)
        .ok_or_else(|| bad(1, "expected the header index,label,class,<axes>"))?;
    let (mut data, mut labels) = (vec![], vec![]);
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 3 + axes {
            return Err(bad(i + 2, "too few columns"));
        }
        labels.push(cells[1].parse().map_err(|_| bad(i + 2, "label is not a class index"))?);
        for c in &cells[cells.len() - axes..] {
            data.push(c.parse().map_err(|_| bad(i + 2, "coordinate is not a number"))?);
        }
    }
    let n = labels.len();
    Ok((Array2::from_shape_vec((n, axes), data).map_err(|e| bad(0, &e.to_string()))?, labels))
}

/// Unordered class pairs `(a, b, count)` with `a < b`, by how often the leave-one-out 5-NN vote
/// gives one for the other, most frequent first.
pub(crate) fn confused_pairs(points: &Array2<f64>, labels: &[u32]) -> Vec<(u32, u32, usize)> {
    let d = squared_distances(points.view());
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..labels.len() {
        let row: Vec<f64> = d.row(i).to_vec();
        let vote = knn_vote(&row, labels, i);
        if vote != labels[i] {
            *counts.entry((vote.min(labels[i]), vote.max(labels[i]))).or_insert(0usize) += 1;
        }
    }
    let mut pairs: Vec<(u32, u32, usize)> = counts.into_iter().map(|((a, b), n)| (a, b, n)).collect();
    pairs.sort_by(|x, y| y.2.cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    pairs
}

/// Majority label of the [`KNN_K`] nearest other points (ties: the nearer one), as
/// `features::scores::knn_accuracy` votes.
fn knn_vote(dist: &[f64], labels: &[u32], i: usize) -> u32 {
    let mut others: Vec<usize> = (0..dist.len()).filter(|&j| j != i).collect();
    others.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
    others.truncate(KNN_K);
    let mut votes = std::collections::BTreeMap::new();
    for &j in &others {
        *votes.entry(labels[j]).or_insert(0usize) += 1;
    }
    let best = votes.values().copied().max().unwrap_or(0);
    others.iter().map(|&j| labels[j]).find(|l| votes[l] == best).unwrap_or(labels[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_tied_at_the_top_are_named_together_with_the_sampling_noise() {
        let layer = |name: &str, knn: f64| LayerScores {
            layer: name.into(),
            op: "Conv".into(),
            features: 10,
            knn,
            variance: None,
            embeddings: vec![],
        };
        let layers = [layer("conv1", 0.60), layer("fc1", 0.6733), layer("fc2", 0.6733)];
        let dir = tempfile::tempdir().unwrap();
        let mut doc = Doc::new(dir.path()).unwrap();
        observations(&mut doc, &layers, 150);
        let text = doc.markdown();
        assert!(text.contains("at `fc1` and `fc2` (0.673)"), "{text}");
        // mean 0.649 over 150 images: SE = sqrt(0.649 · 0.351 / 150) = 0.039; noise 2·√2·SE = 0.110.
        assert!(text.contains("standard error of about 0.039") && text.contains("by more than 0.110"), "{text}");
        // conv1 (0.600) is within 0.110 of the top: no layer is measurably best.
        assert!(text.contains("but `conv1` (0.600) is within noise of it"), "{text}");
    }

    #[test]
    fn confused_pairs_counts_neighbour_votes() {
        // Class 0 at x≈0, class 1 at x≈10, and one class-2 point inside class 0.
        let mut xs = vec![0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 0.25];
        let labels = vec![0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2];
        let points = Array2::from_shape_vec((13, 1), std::mem::take(&mut xs)).unwrap();
        assert_eq!(confused_pairs(&points, &labels), vec![(0, 2, 1)]);
    }
}
