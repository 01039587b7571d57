//! One layer's feature study: embed tapped features with PCA and t-SNE, score how classes
//! separate, and write the figures, arrays and CSV files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use netlens_onnx::TapOutput;

use super::pca::Pca;
use super::scores::{KNN_K, knn_accuracy, silhouette};
use super::tsne::{TsneParams, tsne, tsne_input};
use crate::error::{AnalyzeError, Result};
use crate::figures::scatter::{Scatter, write_scatter_svg};

pub use netlens_fetch::runs::{EmbeddingMethod, EmbeddingRecord, LayerRecord};

/// Settings of a feature study.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbedParams {
    /// Methods to run, in order.
    pub methods: Vec<EmbeddingMethod>,
    /// t-SNE settings; `tsne.dims` is also the PCA embedding's dimension (2 or 3).
    pub tsne: TsneParams,
    /// Also write t-SNE's input (`<layer>_tsne_input.npy`, `[n, ≤ 50]` f32), e.g. for benchmarks.
    pub save_tsne_input: bool,
}

impl EmbedParams {
    /// Checks the settings for `n` samples.
    ///
    /// # Errors
    /// [`AnalyzeError::InvalidParam`] for dims other than 2 or 3, no method, or t-SNE settings
    /// that [`TsneParams::check`] rejects.
    pub fn check(&self, n: usize) -> Result<()> {
        if self.methods.is_empty() {
            return Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
                name: "methods".into(),
                value: String::new(),
                reason: "give pca, tsne or both".into(),
            }));
        }
        if self.methods.contains(&EmbeddingMethod::Tsne) {
            self.tsne.check(n)
        } else if !(2..=3).contains(&self.tsne.dims) {
            Err(AnalyzeError::InvalidParam(netlens_fetch::runs::InvalidSetting {
                name: "dims".into(),
                value: self.tsne.dims.to_string(),
                reason: "embeddings are 2-D or 3-D".into(),
            }))
        } else {
            Ok(())
        }
    }
}

/// The sample the features were computed on.
#[derive(Clone, Debug)]
pub struct Sample<'a> {
    /// `[n]` labels.
    pub labels: &'a [u32],
    /// `[n]` indices of the samples in the data set's split.
    pub indices: &'a [usize],
    /// Class names in label order.
    pub class_names: &'a [String],
    /// The model's name, first in every figure title (`cnn`, `resnet34`): the report shows
    /// several networks' figures side by side.
    pub model_name: &'a str,
}

/// One studied layer: its record (as `summary.json` keeps it) and each embedding's points
/// `[n, dims]`, in the order of `record.embeddings`.
#[derive(Clone, Debug)]
pub struct LayerStudy {
    /// Scores and files.
    pub record: LayerRecord,
    /// Coordinates of each embedding (also written as `.npy` and CSV).
    pub points: Vec<Array2<f64>>,
}

/// The tapped features as an `[n, features]` matrix.
pub fn feature_matrix(output: &TapOutput) -> Array2<f64> {
    let width = output.width();
    let n = output.data.len().checked_div(width).unwrap_or(0);
    Array2::from_shape_vec((n, width), output.data.iter().map(|&v| v as f64).collect())
        .expect("TapOutput data is [n, width]")
}

/// Whether every sample has the same features in `output` (a dead layer: all-zero ReLU outputs,
/// a constant map): its embeddings then place identical points, and any spread in the scatter is
/// t-SNE's tie-breaking jitter, not structure.
pub fn features_are_constant(output: &TapOutput) -> bool {
    let width = output.width().max(1);
    let mut rows = output.data.chunks(width);
    rows.next().is_none_or(|first| rows.all(|row| row == first))
}

/// Checks that a tapped layer's features are all finite.
///
/// # Errors
/// [`AnalyzeError::NonFinite`] naming the layer, the first sample (its position in the sample
/// and its index in the data set) and feature holding NaN or ±∞, and how many values do;
/// [`AnalyzeError::ShapeMismatch`] for a layer with no values (a zero-size tensor) or not one
/// row per sample.
pub fn check_features(output: &TapOutput, sample: &Sample) -> Result<()> {
    if output.width() == 0 || output.data.len() != output.width() * sample.labels.len() {
        return Err(AnalyzeError::ShapeMismatch {
            what: format!("layer `{}` features", output.tap.layer),
            expected: format!("{} samples of at least one value", sample.labels.len()),
            found: format!("{} values of shape {:?} per sample", output.data.len(), output.sample_shape),
        });
    }
    let width = output.width().max(1);
    crate::finite::ensure_finite(
        || format!("layer `{}` features (the model computes NaN or ±inf there)", output.tap.layer),
        output.data.iter().map(|&v| f64::from(v)),
        |i| {
            let row = i / width;
            let image = sample.indices.get(row).map_or(String::new(), |n| format!(" (test image {n})"));
            format!("sample {row}{image}, feature {}", i % width)
        },
    )
}

/// File-name stem of a layer: its name with anything but letters, digits, `-` and `_` replaced.
pub fn file_stem(layer: &str) -> String {
    layer.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Studies one tapped layer: k-NN in feature space, then each method of `params`, each written
/// to `out_dir` as `<layer>_<method>.{svg,npy,csv}`; `progress(method)` runs before each method.
///
/// # Errors
/// The feature checks (non-finite values, sample count; before anything is written), [`EmbedParams::check`],
/// [`Pca::fit`], [`tsne`], and file writing; [`AnalyzeError::NonFinite`] for an embedding
/// with non-finite coordinates.
pub fn study_layer(
    output: &TapOutput,
    sample: &Sample,
    params: &EmbedParams,
    out_dir: &Path,
    mut progress: impl FnMut(EmbeddingMethod),
) -> Result<LayerStudy> {
    check_features(output, sample)?;
    let x = feature_matrix(output);
    params.check(x.nrows())?;
    let mut record = LayerRecord {
        layer: output.tap.layer.clone(),
        tensor: output.tap.tensor.clone(),
        op: output.tap.op.clone(),
        role: output.tap.role,
        sample_shape: output.sample_shape.clone(),
        features: x.ncols(),
        knn_accuracy: knn_accuracy(x.view(), sample.labels, KNN_K)?,
        embeddings: vec![],
    };
    let mut all_points = Vec::with_capacity(params.methods.len());
    for &method in &params.methods {
        progress(method);
        let (points, mut embedding) = embed(x.view(), method, params, out_dir, &record.layer)?;
        let dims = points.ncols().max(1);
        crate::finite::ensure_finite(
            || format!("layer `{}` {} embedding", record.layer, method.title()),
            points.iter().copied(),
            |i| format!("sample {}, axis {}", i / dims, i % dims),
        )?;
        embedding.silhouette = silhouette(points.view(), sample.labels)?;
        embedding.knn_accuracy = knn_accuracy(points.view(), sample.labels, KNN_K)?;
        embedding.files = write_embedding(out_dir, &record, &embedding, points.view(), sample)?;
        record.embeddings.push(embedding);
        all_points.push(points);
    }
    Ok(LayerStudy { record, points: all_points })
}

fn embed(
    x: ArrayView2<f64>,
    method: EmbeddingMethod,
    params: &EmbedParams,
    out_dir: &Path,
    layer: &str,
) -> Result<(Array2<f64>, EmbeddingRecord)> {
    let dims = params.tsne.dims.min(x.ncols()).min(x.nrows());
    let (points, seconds, input_dims, variance_share) = match method {
        EmbeddingMethod::Pca => {
            let start = Instant::now();
            let pca = Pca::fit(x, dims)?;
            let points = pca.transform(x);
            (points, start.elapsed().as_secs_f64(), x.ncols(), Some(pca.variance_share().to_vec()))
        }
        EmbeddingMethod::Tsne => {
            let input = tsne_input(x)?;
            if params.save_tsne_input {
                let data: Vec<f32> = input.iter().map(|&v| v as f32).collect();
                let path = out_dir.join(format!("{}_tsne_input.npy", file_stem(layer)));
                netlens_fetch::npy::write_f32(&path, &[input.nrows(), input.ncols()], &data)?;
            }
            let start = Instant::now();
            let points = tsne(input.view(), &params.tsne)?;
            (points, start.elapsed().as_secs_f64(), input.ncols(), None)
        }
    };
    let record = EmbeddingRecord {
        method,
        input_dims,
        seconds,
        silhouette: 0.0,
        knn_accuracy: 0.0,
        variance_share,
        files: vec![],
    };
    Ok((points, record))
}

fn axis_names(embedding: &EmbeddingRecord, dims: usize) -> Vec<String> {
    (0..dims)
        .map(|i| match &embedding.variance_share {
            Some(share) => format!("PC{} ({:.1}% of variance)", i + 1, share[i] * 100.0),
            None => format!("t-SNE {}", i + 1),
        })
        .collect()
}

fn write_embedding<'a>(
    out_dir: &Path,
    layer: &LayerRecord,
    e: &EmbeddingRecord,
    points: ArrayView2<'a, f64>,
    sample: &Sample<'a>,
) -> Result<Vec<PathBuf>> {
    let stem = format!("{}_{}", file_stem(&layer.layer), e.method.name());
    let (svg, npy, csv) =
        (out_dir.join(format!("{stem}.svg")), out_dir.join(format!("{stem}.npy")), out_dir.join(format!("{stem}.csv")));
    let title = format!(
        "{}: {} of {} ({}, {} features), 5-NN {:.0}%",
        sample.model_name,
        e.method.title(),
        layer.layer,
        layer.op,
        layer.features,
        e.knn_accuracy * 100.0
    );
    let scatter = Scatter {
        points,
        labels: sample.labels,
        class_names: sample.class_names,
        title,
        axis_names: axis_names(e, points.ncols()),
    };
    write_scatter_svg(&svg, &scatter)?;
    let data: Vec<f32> = points.iter().map(|&v| v as f32).collect();
    netlens_fetch::npy::write_f32(&npy, &[points.nrows(), points.ncols()], &data)?;
    netlens_fetch::write_atomically(&csv, embedding_csv(points, sample).as_bytes())?;
    Ok(vec![svg, npy, csv])
}

/// CSV with a header: `index,label,class,x1,x2[,x3]`; `index` is the sample's index in the split.
fn embedding_csv(points: ArrayView2<f64>, sample: &Sample) -> String {
    let axes: Vec<String> = (1..=points.ncols()).map(|i| format!("x{i}")).collect();
    let mut csv = format!("index,label,class,{}\n", axes.join(","));
    for (i, row) in points.outer_iter().enumerate() {
        let label = sample.labels[i];
        let class = sample.class_names.get(label as usize).map_or(String::new(), |c| c.replace(',', ";"));
        let coords: Vec<String> = row.iter().map(|v| format!("{v:.6}")).collect();
        csv += &format!("{},{label},{class},{}\n", sample.indices[i], coords.join(","));
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlens_fetch::runs::LayerRole;
    use netlens_onnx::Tap;

    #[test]
    fn a_layer_with_the_same_features_for_every_sample_is_recognised() {
        let tap = Tap { layer: "relu1".into(), tensor: "t".into(), op: "Relu".into(), role: LayerRole::Other };
        let dead = TapOutput { tap: tap.clone(), sample_shape: vec![3], data: vec![0.0; 12] };
        assert!(features_are_constant(&dead));
        let mut data = vec![0.5; 12];
        data[10] = 0.25;
        assert!(!features_are_constant(&TapOutput { tap, sample_shape: vec![3], data }));
    }

    #[test]
    fn studies_a_layer_and_writes_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let n = 40;
        let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let data: Vec<f32> = (0..n * 6).map(|k| ((k / 6) % 2) as f32 * 3.0 + ((k * 7) % 5) as f32 * 0.1).collect();
        let tap = Tap { layer: "fc/1".into(), tensor: "t".into(), op: "Gemm".into(), role: LayerRole::FullyConnected };
        let output = TapOutput { tap, sample_shape: vec![6], data };
        let indices: Vec<usize> = (100..100 + n).collect();
        let names = vec!["a".to_string(), "b,c".to_string()];
        let sample = Sample { labels: &labels, indices: &indices, class_names: &names, model_name: "toy" };
        let params = EmbedParams {
            methods: vec![EmbeddingMethod::Pca, EmbeddingMethod::Tsne],
            tsne: TsneParams { perplexity: 5.0, iterations: 250, ..Default::default() },
            save_tsne_input: true,
        };
        let mut seen = vec![];
        let study = study_layer(&output, &sample, &params, dir.path(), |m| seen.push(m)).unwrap();
        assert_eq!(seen, params.methods);
        assert_eq!(study.record.features, 6);
        for (e, points) in study.record.embeddings.iter().zip(&study.points) {
            assert_eq!(points.dim(), (n, 2));
            assert!(e.files.iter().all(|f| f.exists()), "{:?}", e.files);
        }
        let csv = std::fs::read_to_string(dir.path().join("fc_1_pca.csv")).unwrap();
        assert!(csv.starts_with("index,label,class,x1,x2\n100,0,a,"), "{csv}");
        assert!(csv.lines().nth(2).unwrap().starts_with("101,1,b;c,"));
        assert!(dir.path().join("fc_1_tsne_input.npy").exists());
        let json = serde_json::to_value(&study.record).unwrap();
        assert!(json["embeddings"][0]["variance_share"].as_array().unwrap().len() == 2);
    }
}
