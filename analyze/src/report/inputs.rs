//! Reading run folders: which kind a folder is, and JSON fields with errors naming the file.

use std::path::Path;

use serde_json::Value;

use crate::error::{AnalyzeError, Result};

/// What a run folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// `netlens train`: config.json (with `architecture`), history.json, model.onnx.
    Classifier,
    /// `netlens vae`: encoder.onnx and decoder.onnx.
    Vae,
    /// `netlens explain`: explanations.json.
    Explanations,
}

/// The kind of the run folder `dir`, or an error naming what it lacks.
pub fn classify_run(dir: &Path) -> Result<RunKind> {
    if !dir.is_dir() {
        return Err(AnalyzeError::NotARun { path: dir.to_path_buf(), reason: "no such folder".into() });
    }
    if dir.join("encoder.onnx").exists() && dir.join("decoder.onnx").exists() {
        return Ok(RunKind::Vae);
    }
    if dir.join("model.onnx").exists() && dir.join("history.json").exists() && dir.join("config.json").exists() {
        return Ok(RunKind::Classifier);
    }
    if dir.join("explanations.json").exists() {
        return Ok(RunKind::Explanations);
    }
    Err(AnalyzeError::NotARun {
        path: dir.to_path_buf(),
        reason: "expected a `netlens train` run (config.json, history.json, model.onnx), a `netlens vae` run (encoder.onnx, decoder.onnx) or a `netlens explain` folder (explanations.json)".into(),
    })
}

/// Parses the JSON file at `path`.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| AnalyzeError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| AnalyzeError::Parse { path: path.to_path_buf(), reason: e.to_string() })
}

/// `v[key]` as a number.
pub(crate) fn num(v: &Value, key: &str, path: &Path) -> Result<f64> {
    v.get(key).and_then(Value::as_f64).ok_or_else(|| missing(path, key, "a number"))
}

/// `v[key]` as a string.
pub(crate) fn text<'a>(v: &'a Value, key: &str, path: &Path) -> Result<&'a str> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| missing(path, key, "a string"))
}

/// `v[key]` as an array.
pub(crate) fn array<'a>(v: &'a Value, key: &str, path: &Path) -> Result<&'a Vec<Value>> {
    v.get(key).and_then(Value::as_array).ok_or_else(|| missing(path, key, "an array"))
}

/// The error for a field that is absent or of the wrong type.
pub(crate) fn missing(path: &Path, key: &str, what: &str) -> AnalyzeError {
    AnalyzeError::Parse { path: path.to_path_buf(), reason: format!("field `{key}` is missing or not {what}") }
}

/// A JSON value as compact text for tables (strings without quotes).
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
