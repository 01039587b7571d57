//! The executor against tract on the same files, and its gradients against finite differences.

use std::path::{Path, PathBuf};

use netlens_fetch::{Images, Split, load_split};
use onnx_ir::{Message, ModelProto};
use tract_onnx::prelude::*;

use super::*;

/// Forward agreement with tract, relative to the largest |logit|.
const FORWARD_TOLERANCE: f32 = 1e-4;
/// Central finite differences (step 1e-3) in f32 through a piecewise-linear ReLU network:
/// relative agreement (exact but for f32 rounding unless a ReLU kink is crossed).
const FINITE_DIFFERENCE_TOLERANCE: f32 = 2e-2;

fn shared() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../shared")
}

fn torch_cnn() -> PathBuf {
    shared().join("fixtures/torch-small-cnn.onnx")
}

fn test_images(n: usize) -> Images {
    let data = load_split(&shared().join("data/fashion-mnist-small"), Split::Test).unwrap();
    data.images.select(&(0..n).collect::<Vec<_>>())
}

/// Logits from tract, `[batch, classes]` row-major.
fn tract_logits(path: &Path, images: &Images) -> Vec<f32> {
    let model = tract_onnx::onnx().model_for_path(path).unwrap();
    let model = model.with_input_fact(0, f32::fact(images.shape).into()).unwrap();
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let input = tract_onnx::prelude::Tensor::from_shape(&images.shape, &images.data).unwrap();
    let out = plan.run(tvec![input.into_tvalue()]).unwrap();
    out[0].cast_to::<f32>().unwrap().to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}

/// Asserts max |a − b| ≤ FORWARD_TOLERANCE · max |b|, printing the worst index.
pub(crate) fn assert_close_to_tract(ours: &[f32], tract: &[f32]) {
    assert_eq!(ours.len(), tract.len());
    let scale = tract.iter().fold(0f32, |m, v| m.max(v.abs())).max(1.0);
    let (i, diff) = ours
        .iter()
        .zip(tract)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0f32), |w, (i, d)| if d > w.1 { (i, d) } else { w });
    assert!(
        diff <= FORWARD_TOLERANCE * scale,
        "index {i}: ours {} tract {} (diff {diff}, scale {scale})",
        ours[i],
        tract[i]
    );
}

#[test]
fn forward_matches_tract_on_the_torch_cnn() {
    let model = DifferentiableModel::load(&torch_cnn()).unwrap();
    let images = test_images(8);
    let ours = model.forward(&images).unwrap();
    assert_eq!(ours.shape, vec![8, 10]);
    assert_close_to_tract(&ours.data, &tract_logits(&torch_cnn(), &images));
}

#[test]
fn original_tensor_names_are_kept() {
    let model = DifferentiableModel::load(&torch_cnn()).unwrap();
    let names = model.tensor_names();
    assert!(names.iter().any(|n| n == "/relu2/Relu_output_0"), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("logits"), "{names:?}");
    assert_eq!(model.input_name(), "image");
    assert_eq!(model.num_classes(), Some(10));
    assert_eq!(model.last_conv_feature_map().as_deref(), Some("/relu2/Relu_output_0"));
}

#[test]
fn input_gradient_matches_finite_differences() {
    let model = DifferentiableModel::load(&torch_cnn()).unwrap();
    let images = test_images(1);
    let g = model.gradient(&images, &[2], GradientAt::Input).unwrap();
    let mut idx: Vec<usize> = (0..g.gradient.data.len()).collect();
    idx.sort_by(|&a, &b| g.gradient.data[b].abs().total_cmp(&g.gradient.data[a].abs()));
    let eps = 1e-3;
    for &i in &idx[..5] {
        let mut plus = images.clone();
        plus.data[i] += eps;
        let mut minus = images.clone();
        minus.data[i] -= eps;
        let (p, m) = (model.forward(&plus).unwrap().data[2], model.forward(&minus).unwrap().data[2]);
        let fd = (p - m) / (2.0 * eps);
        let an = g.gradient.data[i];
        assert!(
            (fd - an).abs() <= FINITE_DIFFERENCE_TOLERANCE * an.abs().max(1e-3),
            "pixel {i}: autodiff {an}, finite difference {fd}"
        );
    }
}

#[test]
fn layer_gradient_has_the_layer_shape_and_unknown_layers_list_the_names() {
    let model = DifferentiableModel::load(&torch_cnn()).unwrap();
    let images = test_images(2);
    let g = model.gradient(&images, &[0, 1], GradientAt::Tensor("/relu2/Relu_output_0")).unwrap();
    assert_eq!(g.activation.shape, g.gradient.shape);
    assert_eq!(g.activation.shape.len(), 4);
    assert!(g.gradient.data.iter().any(|&v| v != 0.0));
    let err = model.gradient(&images, &[0, 1], GradientAt::Tensor("/relu9/Relu_output_0")).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OnnxError::UnknownLayer { .. }) && msg.contains("/relu2/Relu_output_0"), "{msg}");
}

#[test]
fn bad_inputs_and_targets_are_clear_errors() {
    let model = DifferentiableModel::load(&torch_cnn()).unwrap();
    let rgb = Images { data: vec![0.0; 3 * 32 * 32], shape: [1, 3, 32, 32] };
    let msg = model.forward(&rgb).unwrap_err().to_string();
    assert!(msg.contains("[1, 3, 32, 32]") && msg.contains("image"), "{msg}");
    let small = Images { data: vec![0.0; 28 * 28], shape: [1, 1, 28, 28] };
    assert!(matches!(model.forward(&small), Err(OnnxError::InputShape { .. })));
    let err = model.gradient(&test_images(1), &[10], GradientAt::Input).unwrap_err();
    assert!(matches!(err, OnnxError::TargetClass { target: 10, classes: 10 }), "{err}");
}

#[test]
fn an_unsupported_op_names_the_op_and_the_node() {
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let node = proto.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "Relu").unwrap();
    node.op_type = "NonMaxSuppression".into();
    let name = node.name.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nms.onnx");
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    let err = DifferentiableModel::load(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, OnnxError::UnsupportedOp { .. }) && msg.contains("`NonMaxSuppression`") && msg.contains(&name),
        "{msg}"
    );
    // An attribute the op does not implement is refused by name, before anything runs.
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let node = proto.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "MaxPool").unwrap();
    node.attribute.push(onnx_ir::AttributeProto { name: "future_option".into(), i: 1, ..Default::default() });
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    let msg = DifferentiableModel::load(&path).unwrap_err().to_string();
    assert!(msg.contains("`future_option`") && msg.contains("MaxPool"), "{msg}");
}

mod burn_export {
    //! A small burn network (conv, BatchNorm, ReLU, max-pool, padded conv, linear) exported
    //! with burn-onnx's exporter, as `netlens train` exports: the executor must match tract.
    use burn::module::Module;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
    use burn::tensor::activation::relu;
    use burn::tensor::{Device, Tensor};
    use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};

    use super::*;

    #[derive(Module, Debug)]
    struct SmallNet {
        c1: Conv2d,
        bn: BatchNorm,
        pool: MaxPool2d,
        c2: Conv2d,
        fc: Linear,
    }

    impl SmallNet {
        fn new(device: &Device) -> Self {
            Self {
                c1: Conv2dConfig::new([1, 4], [3, 3]).init(device),
                bn: BatchNormConfig::new(4).init(device),
                pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                c2: Conv2dConfig::new([4, 6], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device),
                fc: LinearConfig::new(6 * 7 * 7, 5).init(device),
            }
        }

        fn forward(&self, x: Tensor<4>) -> Tensor<2> {
            let x = self.pool.forward(relu(self.bn.forward(self.c1.forward(x))));
            let x = relu(self.c2.forward(x));
            let [b, c, h, w] = x.dims();
            self.fc.forward(x.reshape([b, c * h * w]))
        }
    }

    #[test]
    fn forward_matches_tract_on_a_burn_export() {
        let device = Device::flex();
        let net = SmallNet::new(&device);
        let sample = Tensor::<4>::zeros([2, 1, 16, 16], &device);
        let validation = Tensor::<4>::zeros([3, 1, 16, 16], &device);
        let specs =
            [InputSpec::new([AxisSpec::dynamic("batch"), AxisSpec::Static, AxisSpec::Static, AxisSpec::Static])];
        let onnx = OnnxExporter::new()
            .export_dynamic(&net, sample, validation, &specs, |m: &SmallNet, x| m.forward(x))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.onnx");
        std::fs::write(&path, onnx.into_bytes()).unwrap();
        let model = DifferentiableModel::load(&path).unwrap();
        let images =
            Images { data: (0..3 * 256).map(|i| ((i * 37 % 101) as f32) / 101.0).collect(), shape: [3, 1, 16, 16] };
        let ours = model.forward(&images).unwrap();
        assert_eq!(ours.shape, vec![3, 5]);
        assert_close_to_tract(&ours.data, &tract_logits(&path, &images));
        let layer = model.last_conv_feature_map().unwrap();
        let g = model.gradient(&images, &[0, 1, 2], GradientAt::Tensor(&layer)).unwrap();
        assert_eq!(g.activation.shape, vec![3, 6, 7, 7], "layer {layer}");
    }
}

#[test]
fn forward_matches_tract_on_the_converted_tiny_resnet34() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-resnet34.onnx");
    crate::resnet::convert_resnet_checkpoint(&shared().join("fixtures/tiny-resnet34.pth"), &path).unwrap();
    let model = DifferentiableModel::load(&path).unwrap();
    assert_eq!(model.num_classes(), Some(1000));
    let cat_dog =
        netlens_fetch::npy::read_f32(&shared().join("fixtures/cat_dog.imagenet.npy"), "(3, 224, 224)").unwrap();
    let images = Images { data: cat_dog.data, shape: [1, 3, 224, 224] };
    let ours = model.forward(&images).unwrap();
    assert_close_to_tract(&ours.data, &tract_logits(&path, &images));
    let layer = model.last_conv_feature_map().unwrap();
    let g = model.gradient(&images, &[281], GradientAt::Tensor(&layer)).unwrap();
    assert_eq!(g.activation.shape, vec![1, 32, 7, 7], "layer {layer}");
}

/// A conformance-case model (a small graph of one op) by name.
fn conformance_model(name: &str) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join(format!("tests/conformance/cases/{name}.onnx"))
}

#[test]
fn a_model_without_one_image_input_is_refused_by_what_it_has() {
    // One input of rank 3: no [batch, channels, height, width] image.
    let err = DifferentiableModel::load(&conformance_model("relu_opset6_basic")).unwrap_err().to_string();
    assert!(err.contains("expected float images [batch, channels, height, width]") && err.contains("3 axes"), "{err}");
    // Two data inputs.
    let err = DifferentiableModel::load(&conformance_model("add_opset13_same_shape")).unwrap_err().to_string();
    assert!(err.contains("expected one image input, found 2 inputs"), "{err}");
}

#[test]
fn a_truncated_file_is_not_onnx_and_says_so() {
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.onnx");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = DifferentiableModel::load(&path).unwrap_err();
    assert!(matches!(err, OnnxError::NotOnnx { .. }) && err.to_string().contains("cut.onnx"), "{err}");
}

#[test]
fn a_channels_last_input_is_refused_as_channels_last() {
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let input = &mut proto.graph.as_mut().unwrap().input[0];
    let shape = input.type_.mut_or_insert_default().mut_tensor_type().shape.mut_or_insert_default();
    // [batch, 1, 32, 32] → [batch, 32, 32, 1], as tf2onnx writes Keras models.
    let dims: Vec<_> = shape.dim.clone();
    shape.dim = vec![dims[0].clone(), dims[2].clone(), dims[3].clone(), dims[1].clone()];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nhwc.onnx");
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    let err = DifferentiableModel::load(&path).unwrap_err().to_string();
    assert!(err.contains("channels-last"), "{err}");
}

#[test]
fn logits_shaped_n_c_1_1_count_as_c_classes() {
    // Append Unsqueeze(axes 2, 3) to the torch CNN's logits: [batch, 10] → [batch, 10, 1, 1].
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let old = graph.output[0].name.clone();
    let mut node = onnx_ir::NodeProto::new();
    node.op_type = "Unsqueeze".into();
    node.name = "to_nc11".into();
    node.input = vec![old, "axes_23".into()];
    node.output = vec!["logits_nc11".into()];
    graph.node.push(node);
    let mut axes = onnx_ir::TensorProto::new();
    axes.name = "axes_23".into();
    axes.data_type = 7;
    axes.dims = vec![2];
    axes.int64_data = vec![2, 3];
    graph.initializer.push(axes);
    graph.output[0].name = "logits_nc11".into();
    graph.output[0].type_.mut_or_insert_default().mut_tensor_type().shape.clear();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nc11.onnx");
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    let model = DifferentiableModel::load(&path).unwrap();
    assert_eq!(model.num_classes(), Some(10));
    let plain = DifferentiableModel::load(&torch_cnn()).unwrap();
    let images = test_images(2);
    assert_eq!(model.forward(&images).unwrap(), plain.forward(&images).unwrap());
}

#[test]
fn a_graph_that_fixes_its_batch_at_one_runs_image_by_image() {
    // The torch CNN with its flatten's Reshape target fixed to [1, -1] and its input to batch 1.
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let dim = &mut graph.input[0].type_.mut_or_insert_default().mut_tensor_type().shape.mut_or_insert_default().dim[0];
    dim.set_dim_value(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("batch1.onnx");
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    let model = DifferentiableModel::load(&path).unwrap();
    assert!(model.one_at_a_time());
    let plain = DifferentiableModel::load(&torch_cnn()).unwrap();
    let images = test_images(3);
    let (a, b) = (model.forward(&images).unwrap(), plain.forward(&images).unwrap());
    assert_eq!(a.shape, vec![3, 10]);
    assert_close_to_tract(&a.data, &b.data);
    let g = model.gradient(&images, &[0, 1, 2], GradientAt::Input).unwrap();
    let h = plain.gradient(&images, &[0, 1, 2], GradientAt::Input).unwrap();
    assert_close_to_tract(&g.gradient.data, &h.gradient.data);
}

/// The torch CNN with every float initializer, the input and the output stored as float16.
fn half_precision_copy(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(torch_cnn()).unwrap();
    let mut proto = ModelProto::parse_from_bytes(&bytes).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    for t in graph.initializer.iter_mut().filter(|t| t.data_type == 1) {
        let values: Vec<f32> = if t.raw_data.is_empty() {
            t.float_data.clone()
        } else {
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        };
        t.float_data.clear();
        t.raw_data = values.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        t.data_type = 10;
    }
    for v in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        v.type_.mut_or_insert_default().mut_tensor_type().elem_type = 10;
    }
    let path = dir.join("half.onnx");
    std::fs::write(&path, proto.write_to_bytes().unwrap()).unwrap();
    path
}

#[test]
fn a_float16_model_runs_in_float32_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let path = half_precision_copy(dir.path());
    let images = test_images(2);
    let full = DifferentiableModel::load(&torch_cnn()).unwrap().forward(&images).unwrap();
    let half = DifferentiableModel::load(&path).unwrap().forward(&images).unwrap();
    let tract = crate::TractModel::load(&path, crate::BatchAxis::Symbolic).unwrap();
    let tract = tract.run(&images.data, 2).unwrap().remove(0);
    let scale = full.data.iter().fold(0f32, |m, v| m.max(v.abs()));
    // Weights rounded to float16 (11 significant bits) move the logits by well under 1 %.
    for (name, got) in [("executor", &half.data), ("tract", &tract.data)] {
        let worst = got.iter().zip(&full.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-2 * scale, "{name}: float16 weights moved a logit by {worst} (scale {scale})");
    }
}

#[test]
fn token_maps_are_read_as_patch_grids_without_their_class_tokens() {
    assert_eq!(token_layout(197), Some(FeatureLayout::Tokens { grid: [14, 14], prefix: 1 }));
    assert_eq!(token_layout(196), Some(FeatureLayout::Tokens { grid: [14, 14], prefix: 0 }));
    assert_eq!(token_layout(198), Some(FeatureLayout::Tokens { grid: [14, 14], prefix: 2 }));
    assert_eq!(token_layout(3), None);
    // 1 class token + a 2×2 grid, 3 channels: token t, channel c at t·3 + c.
    let tokens: Vec<f32> = (0..15).map(|v| v as f32).collect();
    let layout = FeatureLayout::Tokens { grid: [2, 2], prefix: 1 };
    assert_eq!(layout.chw(&[5, 3]), Some([3, 2, 2]));
    // Channel 0 of patches 1..=4 is 3, 6, 9, 12; channel 2 is 5, 8, 11, 14.
    let chw = layout.to_chw(&tokens, &[5, 3]).unwrap();
    assert_eq!(&chw[..4], &[3.0, 6.0, 9.0, 12.0]);
    assert_eq!(&chw[8..], &[5.0, 8.0, 11.0, 14.0]);
    // Channels-last [2, 2, 3] → [3, 2, 2].
    let hwc: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let chw = FeatureLayout::ChannelsLast.to_chw(&hwc, &[2, 2, 3]).unwrap();
    assert_eq!(&chw[..4], &[0.0, 3.0, 6.0, 9.0]);
}
