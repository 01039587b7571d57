//! ONNX export of a trained classifier with burn-onnx's exporter (opset 18).

use burn::tensor::{Device, Tensor};
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};

use crate::error::Result;
use crate::models::{Classifier, Cnn, LeNet5, ShallowNet};
use crate::trainer::INPUT_SIZE;

/// Exports `model` to ONNX bytes with a symbolic batch axis: input `[batch, 1, 32, 32]`
/// float32 pixels in `[0, 1]`, output `[batch, classes]` logits. Node and tensor names are
/// burn-onnx's (`node_N`, `tensor_N`); `netlens_onnx::naming` renames them for people.
///
/// Export captures the forward pass on a capture device, which leaves the module's BatchNorm
/// state unusable afterwards (DESIGN.md pitfall): pass a module loaded afresh for export and do
/// not run it after.
///
/// # Errors
/// [`crate::TrainError::Export`] when burn-onnx cannot lower an operation.
pub fn export_onnx(model: &Classifier, device: &Device) -> Result<Vec<u8>> {
    let sample = Tensor::<4>::zeros([2, 1, INPUT_SIZE, INPUT_SIZE], device);
    let validation = Tensor::<4>::zeros([3, 1, INPUT_SIZE, INPUT_SIZE], device);
    let specs = [InputSpec::new([AxisSpec::dynamic("batch"), AxisSpec::Static, AxisSpec::Static, AxisSpec::Static])];
    // Export the inner network, not the enum, so initializers keep the network's own module
    // paths (`conv1.weight`, not `Lenet.conv1.weight`).
    let exporter = OnnxExporter::new();
    let onnx = match model {
        Classifier::Lenet(m) => exporter.export_dynamic(m, sample, validation, &specs, |m: &LeNet5, x| m.forward(x)),
        Classifier::Shallow(m) => {
            exporter.export_dynamic(m, sample, validation, &specs, |m: &ShallowNet, x| m.forward(x))
        }
        Classifier::Cnn(m) => exporter.export_dynamic(m, sample, validation, &specs, |m: &Cnn, x| m.forward(x)),
    }?;
    Ok(onnx.into_bytes())
}
