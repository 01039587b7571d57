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
//! burn-store's [`PytorchStore`], which parses the pickle without executing it, after
//! [`crate::checkpoint::check_weights_only`] has checked the globals it names.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::store::pytorch::PytorchReader;
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore};
use burn::tensor::activation::relu;
use burn::tensor::{DType, Device, Tensor};
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
    /// tensor has the shape it needs (see [`ResNetCheckpoint::read`]).
    ///
    /// # Errors
    /// Those of [`ResNetCheckpoint::read`].
    pub fn from_checkpoint(path: &Path) -> Result<Self> {
        Ok(ResNetCheckpoint::read(path)?.architecture)
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

/// A torchvision ResNet checkpoint as found: its architecture, where its state dict sits and
/// which float types its tensors had.
#[derive(Clone, Debug)]
pub struct ResNetCheckpoint {
    /// The architecture the tensors describe.
    pub architecture: ResNetArchitecture,
    /// What was stripped from the tensor names to reach torchvision's (`state_dict.module.`
    /// for a `DataParallel` model saved in a training checkpoint; see
    /// [`crate::checkpoint::find_state_dict`]); empty for `torch.save(model.state_dict())`.
    pub prefix: String,
    /// The float types other than float32 found (`"float16"`, `"bfloat16"`, `"float64"`), each
    /// cast to float32 on load as PyTorch's `load_state_dict` does.
    pub cast_from: Vec<String>,
}

/// The state-dict names every torchvision ResNet has, used to find the state dict in a file.
const RESNET_ANCHORS: [&str; 2] = ["conv1.weight", "fc.weight"];

impl ResNetCheckpoint {
    /// Reads a checkpoint as training scripts save it: a plain state dict, or one nested in a
    /// dictionary beside `epoch`/`optimizer`, with or without `module.`/`_orig_mod.` prefixes,
    /// in float16, bfloat16, float32 or float64. The pickle is first checked to name only the
    /// globals `torch.load(..., weights_only=True)` allows.
    ///
    /// # Errors
    /// [`OnnxError::UnsafeGlobal`], [`OnnxError::NoStateDict`], [`OnnxError::AmbiguousStateDict`];
    /// [`OnnxError::Checkpoint`] if the file cannot be parsed; [`OnnxError::MissingKey`],
    /// [`OnnxError::KeyShape`] or [`OnnxError::UnexpectedKey`] naming the first key that does
    /// not fit a BasicBlock ResNet; [`OnnxError::KeyDType`] for a tensor that is not floating
    /// point (other than the integer `num_batches_tracked` counters, which are dropped).
    pub fn read(path: &Path) -> Result<Self> {
        let StateDict { prefix, shapes, cast_from } = read_state_dict(path)?;
        let architecture = infer_architecture(path, &shapes)?;
        check_checkpoint(path, &shapes, &architecture.expected_shapes())?;
        Ok(Self { architecture, prefix, cast_from })
    }
}

/// A ResNet state dict found in a checkpoint: its prefix, the shapes of its tensors under
/// torchvision's names (without `num_batches_tracked`), and the float types cast.
struct StateDict {
    prefix: String,
    shapes: BTreeMap<String, Vec<usize>>,
    cast_from: Vec<String>,
}

fn read_state_dict(path: &Path) -> Result<StateDict> {
    crate::checkpoint::check_weights_only(path)?;
    let reader = PytorchReader::new(path)
        .map_err(|source| OnnxError::Checkpoint { path: path.into(), source: Box::new(source) })?;
    let prefix =
        crate::checkpoint::find_state_dict(path, reader.tensors().keys().map(String::as_str), &RESNET_ANCHORS)?;
    let mut shapes = BTreeMap::new();
    let mut cast_from = std::collections::BTreeSet::new();
    for (key, tensor) in reader.tensors() {
        let Some(name) = key.strip_prefix(&prefix) else { continue };
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        match format!("{:?}", tensor.dtype()).as_str() {
            "F32" => {}
            "F16" => _ = cast_from.insert("float16"),
            "BF16" => _ = cast_from.insert("bfloat16"),
            "F64" => _ = cast_from.insert("float64"),
            other => return Err(OnnxError::KeyDType { path: path.into(), key: key.clone(), found: other.into() }),
        }
        shapes.insert(name.to_string(), tensor.shape().to_vec());
    }
    Ok(StateDict { prefix, shapes, cast_from: cast_from.into_iter().map(str::to_string).collect() })
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

    /// Reads a torchvision BasicBlock ResNet checkpoint (see [`ResNetCheckpoint::read`] for
    /// the layouts and float types accepted) into a burn module on `device`, float tensors cast
    /// to float32. No pickle code is executed.
    ///
    /// # Errors
    /// Those of [`ResNetCheckpoint::read`], and [`OnnxError::Checkpoint`] if burn-store cannot
    /// apply the weights.
    pub fn from_checkpoint(path: &Path, device: &Device) -> Result<(Self, ResNetCheckpoint)> {
        let checkpoint = ResNetCheckpoint::read(path)?;
        let mut model = Self::new(&checkpoint.architecture, device);
        let apply_error = |e: String| OnnxError::Checkpoint { path: path.into(), source: e.into() };
        let mut store = PytorchStore::from_file(path)
            .with_key_remapping(format!("^{}", regex::escape(&checkpoint.prefix)), "")
            .with_key_remapping(r"\.downsample\.0\.", ".downsample.conv.")
            .with_key_remapping(r"\.downsample\.1\.", ".downsample.bn.")
            .map_indices_contiguous(false);
        let tensors = store.get_all_tensors().map_err(|e| apply_error(e.to_string()))?.values().cloned().collect();
        let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
        let applied = model.apply(tensors, None, Some(Box::new(adapter)), false);
        if !applied.errors.is_empty() || !applied.missing.is_empty() {
            return Err(apply_error(applied.to_string()));
        }
        Ok((model, checkpoint))
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
/// `netlens_fetch::imagenet`, recorded in `metadata_props` as `netlens.preprocess`), output `logits` `[batch, classes]` (pre-softmax), nodes named
/// after torchvision's modules (`/layer1/0/conv1/Conv`, see [`crate::naming`]). Returns the
/// checkpoint as read (architecture, state-dict prefix, float types cast).
///
/// # Errors
/// Those of [`ResNet::from_checkpoint`] and [`export_resnet`]; [`OnnxError::Io`] naming `out`.
pub fn convert_resnet_checkpoint(checkpoint: &Path, out: &Path) -> Result<ResNetCheckpoint> {
    let device = Device::flex();
    let (model, read) = ResNet::from_checkpoint(checkpoint, &device)?;
    let bytes = export_resnet(&model, RESNET_INPUT_SIZE, &device)?;
    // torchvision's ImageNet weights take its ImageNet transform; recorded so that a
    // fine-tuned network with other classes still gets it (`netlens_fetch::preprocess`).
    let preprocess = netlens_fetch::Preprocess::imagenet(RESNET_INPUT_SIZE, RESNET_INPUT_SIZE);
    crate::naming::write_named_with_metadata(&bytes, out, &["image"], &["logits"], &[preprocess.to_metadata()])?;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The reference logits in `tiny-resnet34.expected.json` (PyTorch 2.x, eval mode) are
    /// matched to this absolute tolerance (the fixture's README).
    const LOGIT_TOLERANCE: f32 = 1e-3;

    fn fixtures() -> PathBuf {
        Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures")
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
        let shapes = read_state_dict(&path).unwrap().shapes;
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

    use crate::checkpoint::torch_save::{self, Py, str};

    /// The tiny fixture's state dict, each float tensor converted by `float` (storage class
    /// and bytes from the float32 values), each name prefixed by `prefix`.
    /// Float32 values → a PyTorch storage class and its bytes.
    type Encode<'a> = &'a dyn Fn(&[f32]) -> (&'static str, Vec<u8>);

    fn fixture_state_dict(prefix: &str, float: Encode) -> Py {
        let reader = PytorchReader::new(tiny_checkpoint()).unwrap();
        let mut names: Vec<&String> = reader.tensors().keys().collect();
        names.sort();
        let entries = names
            .into_iter()
            .map(|name| {
                let tensor = &reader.tensors()[name];
                let bytes = tensor.read().unwrap();
                let (storage, bytes) = if name.ends_with("num_batches_tracked") {
                    ("LongStorage", bytes)
                } else {
                    let values: Vec<f32> =
                        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                    float(&values)
                };
                (str(&format!("{prefix}{name}")), Py::Tensor { storage, shape: tensor.shape().to_vec(), bytes })
            })
            .collect();
        Py::OrderedDict(entries)
    }

    fn as_f32(values: &[f32]) -> (&'static str, Vec<u8>) {
        ("FloatStorage", values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    /// `{"epoch": 3, "state_dict": ..., "optimizer": {"state": {0: {"momentum_buffer": ...}},
    /// "param_groups": [{"lr": 0.1}]}}`, as a training loop saves it.
    fn training_checkpoint(state_dict: Py) -> Py {
        let momentum = Py::Tensor {
            storage: "FloatStorage",
            shape: vec![2],
            bytes: [0.5f32, -0.25].iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        let state = Py::Dict(vec![(Py::Int(0), Py::Dict(vec![(str("momentum_buffer"), momentum)]))]);
        let groups = Py::List(vec![Py::Dict(vec![(str("lr"), Py::Float(0.1))])]);
        let optimizer = Py::Dict(vec![(str("state"), state), (str("param_groups"), groups)]);
        Py::Dict(vec![(str("epoch"), Py::Int(3)), (str("state_dict"), state_dict), (str("optimizer"), optimizer)])
    }

    fn logits_of(model: &ResNet, device: &Device) -> Vec<f32> {
        let n = RESNET_INPUT_SIZE;
        let input = Tensor::<4>::from_data(burn::tensor::TensorData::new(synthetic_input(), [1, 3, n, n]), device);
        model.forward(input).into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn a_training_checkpoint_is_found_under_its_nesting_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        for wrapper in ["module.", "_orig_mod.", "module._orig_mod."] {
            let path = dir.path().join("checkpoint.pth");
            torch_save::save(&training_checkpoint(fixture_state_dict(wrapper, &as_f32)), &path);
            let (model, read) = ResNet::from_checkpoint(&path, &device).unwrap();
            assert_eq!(read.prefix, format!("state_dict.{wrapper}"));
            assert!(read.cast_from.is_empty());
            assert_close(&logits_of(&model, &device), &expected_logits());
        }
    }

    #[test]
    fn float64_float16_and_bfloat16_checkpoints_are_cast_to_float32() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let path = dir.path().join("double.pth");
        let double = |v: &[f32]| ("DoubleStorage", v.iter().flat_map(|x| f64::from(*x).to_le_bytes()).collect());
        torch_save::save(&fixture_state_dict("", &double), &path);
        let (model, read) = ResNet::from_checkpoint(&path, &device).unwrap();
        assert_eq!(read.cast_from, ["float64"]);
        assert_close(&logits_of(&model, &device), &expected_logits());

        // Half precision rounds the weights: the loaded float32 values must be exactly the
        // rounded ones (as PyTorch's `load_state_dict` copies them), and the forward pass runs.
        type Round = fn(f32) -> f32;
        let halves: [(&str, &'static str, Round); 2] = [
            ("float16", "HalfStorage", |x| half::f16::from_f32(x).to_f32()),
            ("bfloat16", "BFloat16Storage", |x| half::bf16::from_f32(x).to_f32()),
        ];
        let original = PytorchReader::new(tiny_checkpoint()).unwrap().get("conv1.weight").unwrap().read().unwrap();
        let original: Vec<f32> = original.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        for (name, storage, round) in halves {
            let path = dir.path().join(format!("{name}.pth"));
            let encode = move |v: &[f32]| -> (&'static str, Vec<u8>) {
                let bytes = v
                    .iter()
                    .flat_map(|x| match storage {
                        "HalfStorage" => half::f16::from_f32(*x).to_le_bytes(),
                        _ => half::bf16::from_f32(*x).to_le_bytes(),
                    })
                    .collect();
                (storage, bytes)
            };
            torch_save::save(&fixture_state_dict("", &encode), &path);
            let (model, read) = ResNet::from_checkpoint(&path, &device).unwrap();
            assert_eq!(read.cast_from, [name]);
            let loaded = model.conv1.weight.val().into_data();
            assert_eq!(loaded.dtype(), DType::F32, "{name}");
            let loaded = loaded.try_to_vec::<f32>().unwrap();
            let rounded: Vec<f32> = original.iter().map(|&x| round(x)).collect();
            assert_eq!(loaded, rounded, "{name}: conv1.weight after the cast");
            assert!(logits_of(&model, &device).iter().all(|v| v.is_finite()), "{name}");
        }
    }

    #[test]
    fn a_checkpoint_naming_other_globals_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("with-args.pth");
        let args = Py::Object { module: "argparse", name: "Namespace", state: vec![(str("lr"), Py::Float(0.1))] };
        torch_save::save(
            &Py::Dict(vec![(str("state_dict"), fixture_state_dict("", &as_f32)), (str("args"), args)]),
            &path,
        );
        let err = ResNetArchitecture::from_checkpoint(&path).unwrap_err().to_string();
        assert!(err.contains("with-args.pth") && err.contains("`argparse.Namespace`"), "{err}");

        let evil = Py::Object { module: "posix", name: "system", state: vec![] };
        torch_save::save(&Py::Dict(vec![(str("x"), evil)]), &path);
        let err = ResNetArchitecture::from_checkpoint(&path).unwrap_err().to_string();
        assert!(err.contains("`posix.system`"), "{err}");
    }

    #[test]
    fn a_file_without_a_resnet_state_dict_names_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.pth");
        let tensor = |n: usize| Py::Tensor { storage: "FloatStorage", shape: vec![n], bytes: vec![0; 4 * n] };
        let body = Py::OrderedDict(vec![(str("encoder.weight"), tensor(2)), (str("decoder.weight"), tensor(3))]);
        torch_save::save(&Py::Dict(vec![(str("model"), body)]), &path);
        let err = ResNetArchitecture::from_checkpoint(&path).unwrap_err().to_string();
        assert!(err.contains("no state dict with `conv1.weight`, `fc.weight`") && err.contains("`model` (2)"), "{err}");

        let int = Py::Tensor { storage: "LongStorage", shape: vec![1], bytes: vec![0; 8] };
        let Py::OrderedDict(mut entries) = fixture_state_dict("", &as_f32) else { unreachable!() };
        entries.retain(|(k, _)| !matches!(k, Py::Str(k) if k == "fc.bias"));
        entries.push((str("fc.bias"), int));
        torch_save::save(&Py::OrderedDict(entries), &path);
        let err = ResNetArchitecture::from_checkpoint(&path).unwrap_err().to_string();
        assert!(err.contains("key `fc.bias`: expected a floating-point tensor, found I64"), "{err}");
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
