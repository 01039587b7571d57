//! The one error type of `netlens-onnx`. Each variant names the file, layer or node involved,
//! what was expected and what was found.

use std::path::PathBuf;

/// Errors while reading, converting or running an ONNX model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The file could not be read or written.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX model.
    #[error("{}: not a valid ONNX model: {reason}", path.display())]
    NotOnnx { path: PathBuf, reason: String },
    /// A layer or tensor name that the graph does not have.
    #[error("layer `{name}` not in {}; available: {}", path.display(), available.join(", "))]
    UnknownLayer { path: PathBuf, name: String, available: Vec<String> },
    /// Images whose shape does not fit the model's input.
    #[error("{}: the model's input `{input}` expects images of shape {expected}, found {found}", path.display())]
    InputShape { path: PathBuf, input: String, expected: String, found: String },
    /// tract failed to optimise or run the graph.
    #[error("{}: tract could not {action}", path.display())]
    Tract {
        path: PathBuf,
        action: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// tract or burn panicked (a bug or an unchecked limit in the library): caught at the
    /// boundary and reported with what was being done.
    #[error("{}: {engine} failed to {action}: {message}", path.display())]
    Panic { path: PathBuf, engine: &'static str, action: String, message: String },
    /// An op the differentiable executor does not evaluate.
    #[error("node `{node}`: ONNX op `{op}` is not supported by the differentiable executor; supported: {supported}")]
    UnsupportedOp { node: String, op: String, supported: String },
    /// A node whose inputs or attributes do not fit its op.
    #[error("node `{node}` ({op}): {reason}")]
    Op { node: String, op: String, reason: String },
    /// A target class outside the model's classes.
    #[error("target class {target} is outside the model's {classes} classes (0..{classes})")]
    TargetClass { target: usize, classes: usize },
    /// A different number of targets than images.
    #[error("{targets} target classes given for {images} images")]
    TargetCount { targets: usize, images: usize },
    /// A PyTorch checkpoint could not be parsed or its weights not applied (burn-store).
    #[error("{}: cannot read the PyTorch checkpoint", path.display())]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor the architecture needs is not in the checkpoint.
    #[error("{}: missing key `{key}` (expected a tensor of shape {expected})", path.display())]
    MissingKey { path: PathBuf, key: String, expected: String },
    /// A checkpoint tensor has the wrong shape.
    #[error("{}: key `{key}`: expected shape {expected}, found {found:?}", path.display())]
    KeyShape { path: PathBuf, key: String, expected: String, found: Vec<usize> },
    /// A checkpoint tensor that a torchvision BasicBlock ResNet (ResNet-18/34) does not have.
    #[error("{}: unexpected key `{key}`: not part of a torchvision BasicBlock ResNet (ResNet-18/34; Bottleneck ResNets such as ResNet-50 are not supported)", path.display())]
    UnexpectedKey { path: PathBuf, key: String },
    /// A checkpoint tensor that is not floating point (float16, bfloat16, float32 or float64).
    #[error("{}: key `{key}`: expected a floating-point tensor, found {found}", path.display())]
    KeyDType { path: PathBuf, key: String, found: String },
    /// A checkpoint whose pickle names a global `torch.load(..., weights_only=True)` refuses.
    #[error("{}: the checkpoint's pickle names `{global}`, which is not a tensor, storage or plain container (torch.load's weights_only=True refuses it too); save the weights with torch.save(model.state_dict(), path)", path.display())]
    UnsafeGlobal { path: PathBuf, global: String },
    /// No set of tensors in the checkpoint looks like the state dict sought.
    #[error("{}: no state dict with `{wanted}` found; the file holds {found}", path.display())]
    NoStateDict { path: PathBuf, wanted: String, found: String },
    /// More than one set of tensors in the checkpoint looks like the state dict sought.
    #[error("{}: {} state dicts with `{wanted}` found, under the prefixes {}; keep one of them", path.display(), prefixes.len(), prefixes.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    AmbiguousStateDict { path: PathBuf, wanted: String, prefixes: Vec<String> },
    /// burn-onnx could not export the module.
    #[error("ONNX export failed")]
    Export {
        #[source]
        source: burn_onnx::export::ExportError,
    },
    /// Writing an output file failed.
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: netlens_fetch::FetchError,
    },
}

/// Runs `f` behind the panic boundary (see `netlens_fetch::panic`): a panic inside `engine`
/// becomes [`OnnxError::Panic`] naming `path` and `action`.
pub(crate) fn guard<T>(
    path: &std::path::Path,
    engine: &'static str,
    action: &str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    netlens_fetch::panic::catch(f)
        .unwrap_or_else(|message| Err(OnnxError::Panic { path: path.into(), engine, action: action.into(), message }))
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, OnnxError>;
