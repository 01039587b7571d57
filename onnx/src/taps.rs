//! Intermediate-layer taps with tract: run a model on images and collect the outputs of chosen
//! tensors (the "features" of those layers).
//!
//! The tapped tensors become the graph's outputs *before* `into_optimized()`, so the optimiser
//! keeps them (it would otherwise fuse a convolution with its ReLU and the tensor would be gone).
//! Taps are addressed by their original ONNX tensor names, the names other tools use.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use netlens_fetch::Images;
use netlens_fetch::runs::LayerRole;
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

use crate::error::{OnnxError, Result};
use crate::inspect::{Layer, LayerKind, ModelSummary};
use crate::model::{format_dims, inference_model, read_proto};

/// Which layers to tap: `auto` or a list of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerSelection {
    /// The first and last convolutions, the first hidden fully connected layer and the final
    /// layer (the course asks for at least a convolutional, a fully connected and the final
    /// layer); those the model has.
    Auto,
    /// Layers by readable name, ONNX node name or ONNX output tensor name.
    Named(Vec<String>),
}

impl FromStr for LayerSelection {
    type Err = std::convert::Infallible;

    /// `auto`, or names separated by commas (`conv1,fc1,logits`).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(if s.trim() == "auto" {
            LayerSelection::Auto
        } else {
            LayerSelection::Named(s.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect())
        })
    }
}

/// One tapped tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    /// Readable layer name (`conv1`).
    pub layer: String,
    /// The original ONNX tensor name (`/conv1/Conv_output_0`).
    pub tensor: String,
    /// The ONNX op producing it.
    pub op: String,
    /// Why it was chosen.
    pub role: LayerRole,
}

/// Resolves `selection` against the model's layers.
///
/// # Errors
/// [`OnnxError::UnknownLayer`] naming the unknown layer and listing the available ones.
pub fn select_taps(summary: &ModelSummary, selection: &LayerSelection) -> Result<Vec<Tap>> {
    match selection {
        LayerSelection::Auto => Ok(auto_taps(summary)),
        LayerSelection::Named(names) => names.iter().map(|n| named_tap(summary, n)).collect(),
    }
}

fn role_of(summary: &ModelSummary, layer: &Layer) -> LayerRole {
    if summary.final_layer().is_some_and(|f| f.output == layer.output) {
        return LayerRole::Final;
    }
    match layer.kind() {
        LayerKind::Convolution => LayerRole::Convolution,
        LayerKind::FullyConnected => LayerRole::FullyConnected,
        _ if is_fc_bias_add(summary, layer) => LayerRole::FullyConnected,
        _ => LayerRole::Other,
    }
}

fn tap_of(summary: &ModelSummary, layer: &Layer) -> Tap {
    Tap { layer: layer.name.clone(), tensor: layer.output.clone(), op: layer.op.clone(), role: role_of(summary, layer) }
}

fn named_tap(summary: &ModelSummary, name: &str) -> Result<Tap> {
    summary.layer(name).map(|l| tap_of(summary, l)).ok_or_else(|| OnnxError::UnknownLayer {
        path: summary.path.clone(),
        name: name.to_string(),
        available: summary.layer_names(),
    })
}

/// An `Add` of a bias to a `MatMul`'s output: the output of a fully connected layer exported
/// as `MatMul` + `Add` (burn-onnx does this); [`crate::inspect`] names the pair `fc1.matmul`, `fc1`.
fn is_fc_bias_add(summary: &ModelSummary, layer: &Layer) -> bool {
    layer.op == "Add" && summary.layers.iter().any(|p| is_bias_add_of(layer, p))
}

fn is_bias_add_of(add: &Layer, matmul: &Layer) -> bool {
    add.op == "Add"
        && matmul.op == "MatMul"
        && add.inputs.contains(&matmul.output)
        && matmul.name == format!("{}.matmul", add.name)
}

/// The output of the fully connected layer starting at `fc` (its bias `Add` when there is one).
fn fc_output<'a>(summary: &'a ModelSummary, fc: &'a Layer) -> &'a Layer {
    summary.layers.iter().find(|l| is_bias_add_of(l, fc)).unwrap_or(fc)
}

fn auto_taps(summary: &ModelSummary) -> Vec<Tap> {
    let convs: Vec<&Layer> = summary.layers.iter().filter(|l| l.kind() == LayerKind::Convolution).collect();
    let final_layer = summary.final_layer();
    let hidden_fc = summary
        .layers
        .iter()
        .filter(|l| l.kind() == LayerKind::FullyConnected)
        .map(|l| fc_output(summary, l))
        .find(|l| final_layer.is_none_or(|f| f.output != l.output));
    let mut chosen: Vec<&Layer> = Vec::new();
    for layer in [convs.first().copied(), convs.last().copied(), hidden_fc, final_layer].into_iter().flatten() {
        if !chosen.iter().any(|c| c.output == layer.output) {
            chosen.push(layer);
        }
    }
    chosen.into_iter().map(|l| tap_of(summary, l)).collect()
}

/// The tapped outputs for a set of images.
#[derive(Clone, Debug, PartialEq)]
pub struct TapOutput {
    /// Which tensor.
    pub tap: Tap,
    /// Shape of one sample's output (e.g. `[16, 32, 32]` or `[120]`).
    pub sample_shape: Vec<usize>,
    /// `[n, prod(sample_shape)]` row-major: one flattened row per image, in input order.
    pub data: Vec<f32>,
}

impl TapOutput {
    /// Values per sample: the product of `sample_shape`.
    pub fn width(&self) -> usize {
        self.sample_shape.iter().product()
    }
}

/// A model made runnable with chosen tensors as outputs.
pub struct TapRunner {
    path: PathBuf,
    input_name: String,
    input_dims: Vec<usize>,
    taps: Vec<Tap>,
    plan: Arc<TypedRunnableModel>,
    /// The batch the graph fixes, if it does (images then run in runs of that size).
    batch: Option<usize>,
}

impl TapRunner {
    /// Loads `path` with tract and makes `taps` its outputs, then optimises it. The batch axis
    /// stays symbolic, so any batch size runs.
    ///
    /// # Errors
    /// The errors of [`crate::inspect::inspect`]; [`OnnxError::UnknownLayer`] when a tap's
    /// tensor is not in the graph; [`OnnxError::Tract`] when tract cannot type or optimise it.
    pub fn new(path: &Path, taps: Vec<Tap>) -> Result<TapRunner> {
        let proto = read_proto(path)?;
        let parsed = inference_model(path, &proto)?;
        let mut outlets = Vec::with_capacity(taps.len());
        for tap in &taps {
            let outlet = parsed.outlets.get(&tap.tensor).ok_or_else(|| OnnxError::UnknownLayer {
                path: path.into(),
                name: tap.tensor.clone(),
                available: parsed.outlets.keys().cloned().collect(),
            })?;
            outlets.push(*outlet);
        }
        let tract_err = |action: &str| {
            let action = action.to_string();
            move |e: TractError| OnnxError::Tract { path: path.into(), action, source: e.into() }
        };
        let model = parsed.model;
        let plan = crate::error::guard(path, "tract", "plan the graph", move || {
            let mut model = model;
            model.select_output_outlets(&outlets).map_err(tract_err("select the tapped outputs"))?;
            let typed = model.into_typed().map_err(tract_err("type the graph"))?;
            crate::validate::check_typed_for_tract(&typed)?;
            let optimized = typed.into_optimized().map_err(tract_err("optimise the graph"))?;
            optimized.into_runnable().map_err(tract_err("plan the graph"))
        })?;
        let input_name = crate::model::data_input(path, crate::model::graph(&proto))?.name.clone();
        let batch = parsed.batch;
        Ok(TapRunner { path: path.into(), input_name, input_dims: parsed.input_dims, taps, plan, batch })
    }

    /// The image shape the model expects after the batch axis, e.g. `[1, 32, 32]`.
    pub fn input_dims(&self) -> &[usize] {
        &self.input_dims
    }

    /// The taps, in output order.
    pub fn taps(&self) -> &[Tap] {
        &self.taps
    }

    /// Runs `images` in batches of `batch_size` and returns one [`TapOutput`] per tap;
    /// `progress(done)` is called after each batch with the number of images done.
    ///
    /// # Shapes
    /// `images`: `[n, channels, height, width]`, which must equal the model's input after its
    /// batch axis ([`TapRunner::input_dims`]).
    ///
    /// # Errors
    /// [`OnnxError::InputShape`] when the images do not fit the input; [`OnnxError::Tract`]
    /// when a batch fails to run.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn run(&self, images: &Images, batch_size: usize, mut progress: impl FnMut(usize)) -> Result<Vec<TapOutput>> {
        assert!(batch_size > 0, "batch_size must be positive");
        self.check_input(images)?;
        let mut outputs: Vec<TapOutput> =
            self.taps.iter().map(|t| TapOutput { tap: t.clone(), sample_shape: vec![], data: vec![] }).collect();
        let (n, per_image) = (images.len(), images.image_len());
        let batch_size = self.batch.unwrap_or(batch_size);
        for start in (0..n).step_by(batch_size) {
            let end = (start + batch_size).min(n);
            let batch = &images.data[start * per_image..end * per_image];
            self.run_batch(batch, end - start, &mut outputs)?;
            progress(end);
        }
        Ok(outputs)
    }

    fn check_input(&self, images: &Images) -> Result<()> {
        if images.shape[1..] == self.input_dims[..] {
            return Ok(());
        }
        let mut expected: Vec<Option<usize>> = vec![None];
        expected.extend(self.input_dims.iter().map(|&d| Some(d)));
        Err(OnnxError::InputShape {
            path: self.path.clone(),
            input: self.input_name.clone(),
            expected: format_dims(&expected),
            found: format!("{:?}", images.shape),
        })
    }

    fn run_batch(&self, batch: &[f32], len: usize, outputs: &mut [TapOutput]) -> Result<()> {
        let err = |e: TractError| OnnxError::Tract {
            path: self.path.clone(),
            action: "run a batch".into(),
            source: e.into(),
        };
        // A graph with a fixed batch gets a short last run padded with blank images.
        let planned = self.batch.unwrap_or(len).max(len);
        let mut shape = vec![planned];
        shape.extend_from_slice(&self.input_dims);
        let mut data = batch.to_vec();
        data.resize(planned * self.input_dims.iter().product::<usize>(), 0.0);
        let input = Tensor::from_shape(&shape, &data).map_err(err)?;
        let results = crate::error::guard(&self.path, "tract", "run a batch", || {
            self.plan.run(tvec![input.into_tvalue()]).map_err(err)
        })?;
        for (out, value) in outputs.iter_mut().zip(results.iter()) {
            let values = value.cast_to::<f32>().map_err(err)?;
            out.sample_shape = values.shape().get(1..).unwrap_or_default().to_vec();
            let per: usize = out.sample_shape.iter().product();
            out.data.extend(values.to_plain_array_view::<f32>().map_err(err)?.iter().take(len * per));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::inspect;
    use netlens_fetch::{Split, load_split};

    fn shared() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
    }

    fn torch_cnn() -> PathBuf {
        shared().join("fixtures/torch-small-cnn.onnx")
    }

    #[test]
    fn auto_picks_a_conv_an_fc_and_the_final_layer() {
        let s = inspect(&torch_cnn()).unwrap();
        let taps = select_taps(&s, &LayerSelection::Auto).unwrap();
        let roles: Vec<LayerRole> = taps.iter().map(|t| t.role).collect();
        for role in [LayerRole::Convolution, LayerRole::FullyConnected, LayerRole::Final] {
            assert!(roles.contains(&role), "{taps:?}");
        }
        assert_eq!(taps.last().unwrap().tensor, "logits");
    }

    #[test]
    fn an_unknown_layer_lists_the_available_ones() {
        let s = inspect(&torch_cnn()).unwrap();
        let err = select_taps(&s, &"conv1,nosuchlayer".parse().unwrap()).unwrap_err().to_string();
        assert!(err.contains("`nosuchlayer`") && err.contains(&s.layers[0].name), "{err}");
    }

    #[test]
    fn taps_match_the_model_output_and_batching_does_not_change_them() {
        const TOLERANCE: f32 = 1e-4;
        let s = inspect(&torch_cnn()).unwrap();
        let taps = select_taps(&s, &LayerSelection::Auto).unwrap();
        let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
        let images = data.images.select(&(0..7).collect::<Vec<_>>());
        let runner = TapRunner::new(&torch_cnn(), taps).unwrap();
        let mut seen = vec![];
        let by3 = runner.run(&images, 3, |done| seen.push(done)).unwrap();
        assert_eq!(seen, [3, 6, 7]);
        let by7 = runner.run(&images, 7, |_| {}).unwrap();
        for (a, b) in by3.iter().zip(&by7) {
            assert_eq!(a.data.len(), 7 * a.width());
            let worst = a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            assert!(worst < TOLERANCE, "{}: batch 3 vs 7 differ by {worst}", a.tap.layer);
        }
        assert_eq!(by3.last().unwrap().sample_shape, [10]);
        // PyTorch's logits for X_test[0..5] (torch-small-cnn.reference.json, PyTorch 2.x).
        const LOGIT_TOLERANCE: f64 = 1e-3;
        let reference: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(shared().join("fixtures/torch-small-cnn.reference.json")).unwrap(),
        )
        .unwrap();
        let logits = &by3.last().unwrap().data;
        for i in 0..5 {
            let target = reference["target"][i].as_u64().unwrap() as usize;
            let expected = reference["target_logit"][i].as_f64().unwrap();
            let found = logits[i * 10 + target] as f64;
            assert!((found - expected).abs() < LOGIT_TOLERANCE, "image {i}: logit {found}, PyTorch {expected}");
        }
    }

    #[test]
    fn images_of_the_wrong_shape_are_a_clear_error() {
        let s = inspect(&torch_cnn()).unwrap();
        let runner = TapRunner::new(&torch_cnn(), select_taps(&s, &LayerSelection::Auto).unwrap()).unwrap();
        let images = Images { data: vec![0.0; 2 * 3 * 32 * 32], shape: [2, 3, 32, 32] };
        let err = runner.run(&images, 4, |_| {}).unwrap_err().to_string();
        assert!(err.contains("[batch, 1, 32, 32]") && err.contains("[2, 3, 32, 32]"), "{err}");
    }
}
