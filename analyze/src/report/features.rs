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

/// The "Features" section for every classifier run with a `features/summary.json`.
pub(crate) fn section(doc: &mut Doc, runs: &[&Path]) -> Result<()> {
    doc.heading(2, "2. Features: PCA and t-SNE of intermediate layers");
    doc.para("PCA projects the centred features on the directions of largest variance; t-SNE (van der Maaten & Hinton 2008; exact gradients for a few hundred points, van der Maaten's 2014 Barnes–Hut approximation for more, as the settings below say) places points so that neighbours in the feature space stay neighbours. Scores: the *silhouette* (Rousseeuw 1987) of the classes in the embedding, in [−1, 1], higher = classes more compact and apart; the leave-one-out *5-NN accuracy* in the original feature space and in the embedding.");
    let mut any = false;
    for run in runs {
        let dir = run.join(netlens_fetch::runs::FEATURES_DIR);
        if dir.join(netlens_fetch::runs::FEATURE_SUMMARY).exists() {
            one_network(doc, &dir, &base(run))?;
            any = true;
        }
    }
    if !any {
        doc.para("**Missing:** no run has a `features/summary.json` (`netlens features`).");
    }
    Ok(())
}

/// One layer's row of numbers.
struct LayerScores {
    layer: String,
    op: String,
    features: usize,
    knn: f64,
    /// (method, silhouette, 5-NN accuracy in the embedding, figure).
    embeddings: Vec<(String, f64, f64, PathBuf)>,
}

fn one_network(doc: &mut Doc, dir: &Path, name: &str) -> Result<()> {
    let path = dir.join(netlens_fetch::runs::FEATURE_SUMMARY);
    let summary: FeatureSummary = read_json(&path)?;
    let layers: Vec<LayerScores> = summary.layers.iter().map(|l| layer_scores(l, dir)).collect();
    doc.heading(3, &format!("Features of `{name}`"));
    doc.para(&format!(
        "From `{}`: {} test images ({} per class, seed {}), {} layers. t-SNE: {}-D, perplexity {}, {} iterations, {}, on the first {} principal components of layers wider than that. Scores use k = {} neighbours.",
        path.display(),
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
    score_table(doc, &layers);
    observations(doc, &layers, summary.samples, &path);
    confusion(doc, dir, &layers, &summary.class_names)?;
    for l in &layers {
        for (method, _, _, fig) in &l.embeddings {
            doc.copy_figure(
                fig,
                &format!("{}-features-{}-{method}.svg", slug(name), slug(&l.layer)),
                &format!("{name} {} {method}", l.layer),
            )?;
        }
    }
    Ok(())
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
    LayerScores { op: l.op.clone(), features: l.features, knn: l.knn_accuracy, layer: l.layer.clone(), embeddings }
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
fn observations(doc: &mut Doc, layers: &[LayerScores], samples: usize, path: &Path) {
    let (Some(first), Some(last)) = (layers.first(), layers.last()) else { return };
    let top = layers.iter().map(|l| l.knn).fold(f64::NEG_INFINITY, f64::max);
    // Accuracies over n images move in steps of 1/n: layers within half a step share the top.
    let step = 1.0 / samples.max(1) as f64;
    let best: Vec<String> =
        layers.iter().filter(|l| top - l.knn < step / 2.0).map(|l| format!("`{}`", l.layer)).collect();
    let falls: Vec<String> = layers
        .windows(2)
        .filter(|w| w[1].knn < w[0].knn)
        .map(|w| format!("`{}` → `{}` ({:.3} → {:.3})", w[0].layer, w[1].layer, w[0].knn, w[1].knn))
        .collect();
    let trend = if falls.is_empty() {
        "it never falls from one layer to the next".to_string()
    } else {
        format!("it falls at {}", falls.join(", "))
    };
    let mean = layers.iter().map(|l| l.knn).sum::<f64>() / layers.len() as f64;
    let se = (mean * (1.0 - mean) / samples.max(1) as f64).sqrt();
    let mut text = format!(
        "**Observation** (5-NN accuracy in feature space, `{}`): separability goes from {:.3} at the first studied layer `{}` to {:.3} at the final layer `{}`; {trend}. The classes separate best at {} ({top:.3}). Over {samples} images an accuracy near {mean:.2} has a standard error of about {se:.3}, so differences smaller than about {:.3} between layers are within sampling noise.",
        path.display(),
        first.knn,
        first.layer,
        last.knn,
        last.layer,
        best.join(" and "),
        2.0 * se
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
        doc.para(&format!("**Observation** (leave-one-out {KNN_K}-NN in the {method} embedding of `{}`, `{}`): no test image is misclassified; no classes overlap.", last.layer, csv.display()));
    } else {
        doc.para(&format!(
            "**Observation** (leave-one-out {KNN_K}-NN in the {method} embedding of the final layer `{}`, computed from `{}`): {total} of {} images are given another class by their neighbours; the classes that overlap most are {}.",
            last.layer, csv.display(), labels.len(), top.join(", ")
        ));
    }
    Ok(())
}

fn class_name(names: &[String], label: u8) -> String {
    names.get(label as usize).cloned().unwrap_or_else(|| format!("class {label}"))
}

/// `(points, labels)` from a CSV with the header `index,label,class,<axes…>`.
pub(crate) fn read_embedding_csv(path: &Path) -> Result<(Array2<f64>, Vec<u8>)> {
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
pub(crate) fn confused_pairs(points: &Array2<f64>, labels: &[u8]) -> Vec<(u8, u8, usize)> {
    let d = squared_distances(points.view());
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..labels.len() {
        let row: Vec<f64> = d.row(i).to_vec();
        let vote = knn_vote(&row, labels, i);
        if vote != labels[i] {
            *counts.entry((vote.min(labels[i]), vote.max(labels[i]))).or_insert(0usize) += 1;
        }
    }
    let mut pairs: Vec<(u8, u8, usize)> = counts.into_iter().map(|((a, b), n)| (a, b, n)).collect();
    pairs.sort_by(|x, y| y.2.cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    pairs
}

/// Majority label of the [`KNN_K`] nearest other points (ties: the nearer one), as
/// `features::scores::knn_accuracy` votes.
fn knn_vote(dist: &[f64], labels: &[u8], i: usize) -> u8 {
    let mut others: Vec<usize> = (0..dist.len()).filter(|&j| j != i).collect();
    others.sort_by(|&a, &b| dist[a].total_cmp(&dist[b]));
    others.truncate(KNN_K);
    let mut votes = [0usize; 256];
    for &j in &others {
        votes[labels[j] as usize] += 1;
    }
    let best = votes.iter().copied().max().unwrap_or(0);
    others.iter().map(|&j| labels[j]).find(|&l| votes[l as usize] == best).unwrap_or(labels[i])
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
            embeddings: vec![],
        };
        let layers = [layer("conv1", 0.60), layer("fc1", 0.6733), layer("fc2", 0.6733)];
        let dir = tempfile::tempdir().unwrap();
        let mut doc = Doc::new(dir.path()).unwrap();
        observations(&mut doc, &layers, 150, Path::new("summary.json"));
        let text = doc.markdown();
        assert!(text.contains("best at `fc1` and `fc2` (0.673)"), "{text}");
        // mean 0.649 over 150 images: SE = sqrt(0.649 · 0.351 / 150) = 0.039.
        assert!(text.contains("standard error of about 0.039") && text.contains("smaller than about 0.078"), "{text}");
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
