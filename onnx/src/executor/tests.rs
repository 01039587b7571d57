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
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
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
