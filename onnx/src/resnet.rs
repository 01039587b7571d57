//! torchvision ResNet checkpoints (`.pth`, BasicBlock: ResNet-18 and ResNet-34) → burn → ONNX.
//!
//! The architecture is torchvision's `torchvision.models.resnet.ResNet` with `BasicBlock`
//! (He et al., *Deep Residual Learning for Image Recognition*, <https://arxiv.org/abs/1512.03385>):
//! a 7×7 stride-2 stem convolution, BatchNorm, ReLU, a 3×3 stride-2 max-pool padded by 1, four
//! stages of residual blocks (the first stage at stride 1, the others at stride 2, a 1×1
//! convolution + BatchNorm shortcut where the shape changes), global average pooling and a
//! fully connected classifier.
//!
//! Nothing about the size is assumed: [`ResNetArchitecture::from_checkpoint`] reads the number
//! of blocks per stage from the keys (`layer2.3.conv1.weight` ⇒ stage 2 has at least 4 blocks)
//! and the widths and class count from the tensor shapes, and then checks every tensor against
//! the shape that architecture needs. So torchvision's `resnet34-b627a593.pth` (widths
//! 64/128/256/512) and a narrow test checkpoint convert with the same code. Weights are read by
//! burn-store's [`PytorchStore`], which parses the pickle without executing it.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::store::pytorch::PytorchReader;
use burn::store::{ModuleSnapshot, PytorchStore};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};

use crate::error::{OnnxError, Result};

/// Number of residual stages in a torchvision ResNet (`layer1` … `layer4`).
pub const RESNET_STAGES: usize = 4;

/// Side of the square input the exported graph is traced at (torchvision's ImageNet crop).
/// The exported model has a symbolic batch axis and this fixed spatial size.
pub const RESNET_INPUT_SIZE: usize = 224;

/// Kernel side of the stem convolution (`conv1`).
const STEM_KERNEL: usize = 7;
/// Kernel side of the convolutions inside a BasicBlock.
const BLOCK_KERNEL: usize = 3;
/// Colour channels of the input image (RGB).
const INPUT_CHANNELS: usize = 3;

/// One stage (`layerN`) of a ResNet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageSpec {
    /// Residual blocks in the stage (torchvision ResNet-34: 3, 4, 6, 3).
    pub blocks: usize,
    /// Output channels of every block in the stage (ResNet-34: 64, 128, 256, 512).
    pub width: usize,
    /// Stride of the stage's first block: 1 for `layer1`, 2 for the others.
    pub stride: usize,
}

/// The shape of a torchvision BasicBlock ResNet, as read from a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResNetArchitecture {
    /// Output channels of the stem convolution `conv1` (64 in torchvision).
    pub stem_width: usize,
    /// The four stages `layer1` … `layer4`.
    pub stages: Vec<StageSpec>,
    /// Outputs of the classifier `fc` (1000 for ImageNet-1k).
    pub num_classes: usize,
}

impl ResNetArchitecture {
    /// torchvision's ResNet-34: stages of 3/4/6/3 blocks, widths 64/128/256/512, 1000 classes.
    pub fn resnet34() -> Self {
        Self::basic([3, 4, 6, 3], [64, 128, 256, 512], 1000)
    }

    /// torchvision's ResNet-18: stages of 2/2/2/2 blocks, widths 64/128/256/512, 1000 classes.
    pub fn resnet18() -> Self {
        Self::basic([2, 2, 2, 2], [64, 128, 256, 512], 1000)
    }

    /// A BasicBlock ResNet with the given blocks and widths per stage; the stem is as wide as
    /// the first stage, as in torchvision.
    pub fn basic(blocks: [usize; RESNET_STAGES], widths: [usize; RESNET_STAGES], num_classes: usize) -> Self {
        let stages = blocks
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (&blocks, width))| StageSpec { blocks, width, stride: if i == 0 { 1 } else { 2 } })
            .collect();
        Self { stem_width: widths[0], stages, num_classes }
    }

    /// Reads the architecture from a checkpoint's keys and tensor shapes and checks that every
    /// tensor has the shape it needs. `num_batches_tracked` entries may be present or absent.
    ///
    /// # Errors
    /// [`OnnxError::Checkpoint`] if the file cannot be parsed; [`OnnxError::MissingKey`],
    /// [`OnnxError::KeyShape`] or [`OnnxError::UnexpectedKey`] naming the first key that does
    /// not fit a BasicBlock ResNet; [`OnnxError::KeyDType`] for a tensor that is not float32.
    pub fn from_checkpoint(path: &Path) -> Result<Self> {
        let shapes = checkpoint_shapes(path)?;
        let arch = infer_architecture(path, &shapes)?;
        check_checkpoint(path, &shapes, &arch.expected_shapes())?;
        Ok(arch)
    }

    /// Every parameter and buffer torchvision stores for this architecture, with its shape,
    /// keyed by torchvision's state-dict names (`layer2.0.downsample.1.running_var`), without
    /// `num_batches_tracked`.
    pub fn expected_shapes(&self) -> BTreeMap<String, Vec<usize>> {
        let mut keys = BTreeMap::new();
        let stem = self.stem_width;
        keys.insert("conv1.weight".into(), vec![stem, INPUT_CHANNELS, STEM_KERNEL, STEM_KERNEL]);
        insert_batch_norm(&mut keys, "bn1", stem);
        let mut in_channels = stem;
        for (s, stage) in self.stages.iter().enumerate() {
            for b in 0..stage.blocks {
                let block = BlockSpec::new(in_channels, stage, b);
                block.insert_keys(&mut keys, &format!("layer{}.{b}", s + 1));
                in_channels = stage.width;
            }
        }
        keys.insert("fc.weight".into(), vec![self.num_classes, in_channels]);
        keys.insert("fc.bias".into(), vec![self.num_classes]);
        keys
    }

    /// Channels entering the classifier (the last stage's width).
    pub fn feature_width(&self) -> usize {
        self.stages.last().map_or(self.stem_width, |s| s.width)
    }
}

/// The channels and stride of one BasicBlock.
#[derive(Clone, Copy, Debug)]
struct BlockSpec {
    in_channels: usize,
    width: usize,
    stride: usize,
}

impl BlockSpec {
    fn new(in_channels: usize, stage: &StageSpec, index: usize) -> Self {
        let stride = if index == 0 { stage.stride } else { 1 };
        Self { in_channels, width: stage.width, stride }
    }

    /// torchvision adds a 1×1 conv + BatchNorm shortcut when the shape changes.
    fn has_downsample(&self) -> bool {
        self.stride != 1 || self.in_channels != self.width
    }

    fn insert_keys(&self, keys: &mut BTreeMap<String, Vec<usize>>, prefix: &str) {
        let (i, w, k) = (self.in_channels, self.width, BLOCK_KERNEL);
        keys.insert(format!("{prefix}.conv1.weight"), vec![w, i, k, k]);
        insert_batch_norm(keys, &format!("{prefix}.bn1"), w);
        keys.insert(format!("{prefix}.conv2.weight"), vec![w, w, k, k]);
        insert_batch_norm(keys, &format!("{prefix}.bn2"), w);
        if self.has_downsample() {
            keys.insert(format!("{prefix}.downsample.0.weight"), vec![w, i, 1, 1]);
            insert_batch_norm(keys, &format!("{prefix}.downsample.1"), w);
        }
    }
}

fn insert_batch_norm(keys: &mut BTreeMap<String, Vec<usize>>, prefix: &str, channels: usize) {
    for name in ["weight", "bias", "running_mean", "running_var"] {
        keys.insert(format!("{prefix}.{name}"), vec![channels]);
    }
}

/// Names and shapes of the checkpoint's tensors; fails on any tensor that is not float32
/// (except the integer `num_batches_tracked` counters, which are dropped).
fn checkpoint_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>> {
    let reader = PytorchReader::new(path)
        .map_err(|source| OnnxError::Checkpoint { path: path.into(), source: Box::new(source) })?;
    let mut shapes = BTreeMap::new();
    for (key, tensor) in reader.tensors() {
        if key.ends_with("num_batches_tracked") {
            continue;
        }
        let dtype = format!("{:?}", tensor.dtype());
        if dtype != "F32" {
            return Err(OnnxError::KeyDType { path: path.into(), key: key.clone(), found: dtype });
        }
        shapes.insert(key.clone(), tensor.shape().to_vec());
    }
    Ok(shapes)
}

/// The shape of `key`, which must exist and have `rank` axes.
fn shape_of<'a>(
    path: &Path,
    shapes: &'a BTreeMap<String, Vec<usize>>,
    key: &str,
    rank: usize,
    expected: &str,
) -> Result<&'a [usize]> {
    let shape = shapes.get(key).ok_or_else(|| OnnxError::MissingKey {
        path: path.into(),
        key: key.into(),
        expected: expected.into(),
    })?;
    if shape.len() != rank {
        return Err(OnnxError::KeyShape {
            path: path.into(),
            key: key.into(),
            expected: expected.into(),
            found: shape.clone(),
        });
    }
    Ok(shape)
}

/// Reads stem width, blocks and widths per stage and class count from keys and shapes.
fn infer_architecture(path: &Path, shapes: &BTreeMap<String, Vec<usize>>) -> Result<ResNetArchitecture> {
    let stem_width = shape_of(path, shapes, "conv1.weight", 4, "[C, 3, 7, 7]")?[0];
    let mut stages = Vec::with_capacity(RESNET_STAGES);
    for s in 1..=RESNET_STAGES {
        let first = format!("layer{s}.0.conv1.weight");
        let width = shape_of(path, shapes, &first, 4, "[C_out, C_in, 3, 3]")?[0];
        let blocks = (0..).take_while(|b| shapes.contains_key(&format!("layer{s}.{b}.conv1.weight"))).count();
        stages.push(StageSpec { blocks, width, stride: if s == 1 { 1 } else { 2 } });
    }
    let num_classes = shape_of(path, shapes, "fc.weight", 2, "[classes, features]")?[0];
    Ok(ResNetArchitecture { stem_width, stages, num_classes })
}

/// Every expected key present with its shape, and no key that a BasicBlock ResNet lacks.
fn check_checkpoint(
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
    expected: &BTreeMap<String, Vec<usize>>,
) -> Result<()> {
    for (key, want) in expected {
        let found = shapes.get(key).ok_or_else(|| OnnxError::MissingKey {
            path: path.into(),
            key: key.clone(),
            expected: format!("{want:?}"),
        })?;
        if found != want {
            return Err(OnnxError::KeyShape {
                path: path.into(),
                key: key.clone(),
                expected: format!("{want:?}"),
                found: found.clone(),
            });
        }
    }
    match shapes.keys().find(|k| !expected.contains_key(*k)) {
        Some(key) => Err(OnnxError::UnexpectedKey { path: path.into(), key: key.clone() }),
        None => Ok(()),
    }
}

/// torchvision's `downsample` shortcut: `downsample.0` (1×1 conv) and `downsample.1` (BatchNorm),
/// renamed `conv` and `bn` on load.
#[derive(Module, Debug)]
pub struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

/// torchvision's `BasicBlock`: two 3×3 convolutions with BatchNorm, and a residual connection.
#[derive(Module, Debug)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    downsample: Option<Downsample>,
}

impl BasicBlock {
    fn new(spec: BlockSpec, device: &Device) -> Self {
        let (i, w, s) = (spec.in_channels, spec.width, spec.stride);
        let downsample = spec
            .has_downsample()
            .then(|| Downsample { conv: conv(i, w, 1, s, 0, device), bn: BatchNormConfig::new(w).init(device) });
        Self {
            conv1: conv(i, w, BLOCK_KERNEL, s, 1, device),
            bn1: BatchNormConfig::new(w).init(device),
            conv2: conv(w, w, BLOCK_KERNEL, 1, 1, device),
            bn2: BatchNormConfig::new(w).init(device),
            downsample,
        }
    }

    /// # Shapes
    /// `[batch, in_channels, height, width]` → `[batch, width, height / stride, width / stride]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = relu(self.bn1.forward(self.conv1.forward(x)));
        let out = self.bn2.forward(self.conv2.forward(out));
        relu(out + identity)
    }
}

/// A square convolution without bias, as torchvision's ResNet uses everywhere.
fn conv(in_channels: usize, out_channels: usize, kernel: usize, stride: usize, pad: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// torchvision's BasicBlock ResNet as a burn module, field names matching the state-dict keys.
#[derive(Module, Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    maxpool: MaxPool2d,
    layer1: Vec<BasicBlock>,
    layer2: Vec<BasicBlock>,
    layer3: Vec<BasicBlock>,
    layer4: Vec<BasicBlock>,
    avgpool: AdaptiveAvgPool2d,
    fc: Linear,
}

impl ResNet {
    /// A ResNet with freshly initialised (random) weights; load real ones with
    /// [`ResNet::from_checkpoint`].
    ///
    /// # Panics
    /// If `arch` does not have exactly [`RESNET_STAGES`] stages (a caller's bug; architectures
    /// read from checkpoints always do).
    pub fn new(arch: &ResNetArchitecture, device: &Device) -> Self {
        assert_eq!(arch.stages.len(), RESNET_STAGES, "a torchvision ResNet has {RESNET_STAGES} stages");
        let mut in_channels = arch.stem_width;
        let mut stages: Vec<Vec<BasicBlock>> = arch
            .stages
            .iter()
            .map(|stage| {
                (0..stage.blocks)
                    .map(|b| {
                        let block = BasicBlock::new(BlockSpec::new(in_channels, stage, b), device);
                        in_channels = stage.width;
                        block
                    })
                    .collect()
            })
            .collect();
        let mut take = || stages.remove(0);
        Self {
            conv1: conv(INPUT_CHANNELS, arch.stem_width, STEM_KERNEL, 2, 3, device),
            bn1: BatchNormConfig::new(arch.stem_width).init(device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: take(),
            layer2: take(),
            layer3: take(),
            layer4: take(),
            avgpool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            fc: LinearConfig::new(arch.feature_width(), arch.num_classes).init(device),
        }
    }

    /// Reads a torchvision BasicBlock ResNet checkpoint (`torch.save(model.state_dict())`, zip
    /// or legacy container) into a burn module on `device`. No pickle code is executed.
    ///
    /// # Errors
    /// Those of [`ResNetArchitecture::from_checkpoint`], and [`OnnxError::Checkpoint`] if
    /// burn-store cannot apply the weights.
    pub fn from_checkpoint(path: &Path, device: &Device) -> Result<(Self, ResNetArchitecture)> {
        let arch = ResNetArchitecture::from_checkpoint(path)?;
        let mut model = Self::new(&arch, device);
        let mut store = PytorchStore::from_file(path)
            .with_key_remapping(r"\.downsample\.0\.", ".downsample.conv.")
            .with_key_remapping(r"\.downsample\.1\.", ".downsample.bn.")
            .map_indices_contiguous(false)
            .validate(true)
            .allow_partial(false);
        model.load_from(&mut store).map_err(|e| OnnxError::Checkpoint { path: path.into(), source: Box::new(e) })?;
        Ok((model, arch))
    }

    /// Class scores for a batch of preprocessed images (see `netlens_fetch::imagenet`).
    ///
    /// # Shapes
    /// `images`: `[batch, 3, height, width]`, ImageNet-normalised RGB (224×224 for the
    /// pretrained weights) → `[batch, num_classes]` pre-softmax logits.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = relu(self.bn1.forward(self.conv1.forward(images)));
        let mut x = self.maxpool.forward(x);
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4) {
            x = block.forward(x);
        }
        let x = self.avgpool.forward(x); // [batch, channels, 1, 1]
        let [batch, channels, _, _] = x.dims();
        self.fc.forward(x.reshape([batch, channels]))
    }
}

/// Exports `model` to ONNX (opset 18) with a symbolic batch axis `batch` and a fixed
/// `[3, size, size]` image. Traces the forward pass twice (batch 1 and 2).
///
/// Call it on a module that is not used afterwards: after burn-onnx's export, BatchNorm's
/// running statistics live on the capture device and a later `forward` panics (DESIGN.md).
///
/// # Errors
/// [`OnnxError::Export`] when burn-onnx cannot lower the graph.
pub fn export_resnet(model: &ResNet, size: usize, device: &Device) -> Result<Vec<u8>> {
    let sample = Tensor::<4>::zeros([1, INPUT_CHANNELS, size, size], device);
    let validation = Tensor::<4>::zeros([2, INPUT_CHANNELS, size, size], device);
    let specs = [InputSpec::new([AxisSpec::dynamic("batch"), AxisSpec::Static, AxisSpec::Static, AxisSpec::Static])];
    let onnx = OnnxExporter::new()
        .export_dynamic(model, sample, validation, &specs, ResNet::forward)
        .map_err(|source| OnnxError::Export { source })?;
    Ok(onnx.into_bytes())
}

/// Converts a torchvision BasicBlock ResNet checkpoint to an ONNX file, written atomically:
/// input `image` `[batch, 3, 224, 224]` (ImageNet-normalised RGB, see
/// `netlens_fetch::imagenet`), output `logits` `[batch, classes]` (pre-softmax), nodes named
/// after torchvision's modules (`/layer1/0/conv1/Conv`, see [`crate::naming`]). Returns the
/// architecture read from the checkpoint.
///
/// # Errors
/// Those of [`ResNet::from_checkpoint`] and [`export_resnet`]; [`OnnxError::Io`] naming `out`.
pub fn convert_resnet_checkpoint(checkpoint: &Path, out: &Path) -> Result<ResNetArchitecture> {
    let device = Device::flex();
    let (model, arch) = ResNet::from_checkpoint(checkpoint, &device)?;
    let bytes = export_resnet(&model, RESNET_INPUT_SIZE, &device)?;
    crate::naming::write_named(&bytes, out, &["image"], &["logits"])?;
    Ok(arch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The reference logits in `tiny-resnet34.expected.json` (PyTorch 2.x, eval mode) are
    /// matched to this absolute tolerance (the fixture's README).
    const LOGIT_TOLERANCE: f32 = 1e-3;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
    }

    fn tiny_checkpoint() -> PathBuf {
        fixtures().join("tiny-resnet34.pth")
    }

    /// The fixture's synthetic input, `[1, 3, 224, 224]`:
    /// `x[c][y][x] = 0.5*sin(0.013*(y*224+x) + 0.7*c) + 0.25*cos(0.071*x - 0.029*y)`.
    fn synthetic_input() -> Vec<f32> {
        let n = RESNET_INPUT_SIZE;
        let mut out = Vec::with_capacity(3 * n * n);
        for c in 0..3 {
            for y in 0..n {
                for x in 0..n {
                    let (c, yf, xf) = (c as f64, y as f64, x as f64);
                    let v =
                        0.5 * (0.013 * (yf * n as f64 + xf) + 0.7 * c).sin() + 0.25 * (0.071 * xf - 0.029 * yf).cos();
                    out.push(v as f32);
                }
            }
        }
        out
    }

    fn expected_logits() -> Vec<f32> {
        let text = std::fs::read_to_string(fixtures().join("tiny-resnet34.expected.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
    }

    fn assert_close(found: &[f32], want: &[f32]) {
        assert_eq!(found.len(), want.len(), "number of logits");
        let worst = found
            .iter()
            .zip(want)
            .enumerate()
            .map(|(i, (f, w))| (i, (f - w).abs()))
            .fold((0, 0.0f32), |a, b| if b.1 > a.1 { b } else { a });
        assert!(
            worst.1 < LOGIT_TOLERANCE,
            "logit {}: found {}, expected {} (|diff| {})",
            worst.0,
            found[worst.0],
            want[worst.0],
            worst.1
        );
    }

    #[test]
    fn reads_tiny_resnet34_architecture_from_shapes() {
        let arch = ResNetArchitecture::from_checkpoint(&tiny_checkpoint()).unwrap();
        assert_eq!(arch, ResNetArchitecture::basic([3, 4, 6, 3], [4, 8, 16, 32], 1000));
    }

    #[test]
    fn standard_architectures_have_torchvision_parameter_counts() {
        // torchvision: sum(p.numel() for p in resnet34().parameters()) = 21,797,672 and
        // resnet18: 11,689,512; BatchNorm running statistics are buffers, not parameters.
        let count = |arch: ResNetArchitecture| -> usize {
            arch.expected_shapes()
                .iter()
                .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var"))
                .map(|(_, s)| s.iter().product::<usize>())
                .sum()
        };
        assert_eq!(count(ResNetArchitecture::resnet34()), 21_797_672);
        assert_eq!(count(ResNetArchitecture::resnet18()), 11_689_512);
    }

    #[test]
    fn missing_and_misshapen_keys_are_named() {
        let path = tiny_checkpoint();
        let shapes = checkpoint_shapes(&path).unwrap();
        let arch = infer_architecture(&path, &shapes).unwrap();
        let expected = arch.expected_shapes();

        let mut missing = shapes.clone();
        missing.remove("layer3.0.downsample.1.running_var");
        let err = check_checkpoint(&path, &missing, &expected).unwrap_err().to_string();
        assert!(err.contains("missing key `layer3.0.downsample.1.running_var`") && err.contains("[16]"), "{err}");

        let mut misshapen = shapes.clone();
        misshapen.insert("layer2.1.conv2.weight".into(), vec![8, 8, 5, 5]);
        let err = check_checkpoint(&path, &misshapen, &expected).unwrap_err().to_string();
        assert!(err.contains("`layer2.1.conv2.weight`: expected shape [8, 8, 3, 3], found [8, 8, 5, 5]"), "{err}");

        let mut bottleneck = shapes.clone();
        bottleneck.insert("layer1.0.conv3.weight".into(), vec![16, 4, 1, 1]);
        let err = check_checkpoint(&path, &bottleneck, &expected).unwrap_err().to_string();
        assert!(err.contains("unexpected key `layer1.0.conv3.weight`"), "{err}");

        let mut no_fc = shapes;
        no_fc.remove("fc.weight");
        let err = infer_architecture(&path, &no_fc).unwrap_err().to_string();
        assert!(err.contains("missing key `fc.weight`"), "{err}");
    }

    #[test]
    fn not_a_checkpoint_is_an_error_naming_the_file() {
        let path = fixtures().join("tiny-resnet34.expected.json");
        let err = ResNetArchitecture::from_checkpoint(&path).unwrap_err().to_string();
        assert!(err.contains("tiny-resnet34.expected.json") && err.contains("PyTorch checkpoint"), "{err}");
    }

    #[test]
    fn burn_forward_matches_pytorch_logits() {
        let device = Device::flex();
        let (model, _) = ResNet::from_checkpoint(&tiny_checkpoint(), &device).unwrap();
        let n = RESNET_INPUT_SIZE;
        let input = Tensor::<4>::from_data(burn::tensor::TensorData::new(synthetic_input(), [1, 3, n, n]), &device);
        let logits = model.forward(input).into_data().try_to_vec::<f32>().unwrap();
        assert_close(&logits, &expected_logits());
    }

    #[test]
    fn exported_onnx_run_by_tract_matches_pytorch_logits() {
        use tract_onnx::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("tiny.onnx");
        convert_resnet_checkpoint(&tiny_checkpoint(), &out).unwrap();
        let n = RESNET_INPUT_SIZE;
        let model = tract_onnx::onnx()
            .model_for_path(&out)
            .unwrap()
            .with_input_fact(0, f32::fact([1, 3, n, n]).into())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input = tract_ndarray::Array4::from_shape_vec((1, 3, n, n), synthetic_input()).unwrap();
        let result = model.run(tvec!(Tensor::from(input).into())).unwrap();
        let logits: Vec<f32> = result[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        assert_close(&logits, &expected_logits());
    }
}
