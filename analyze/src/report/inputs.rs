//! Reading run folders for the report: every file through the typed schema of
//! [`netlens_fetch::runs`]; this module only turns a record into table rows.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::error::{AnalyzeError, Result};

/// `setting | value` rows of a settings record (a config), one per field in its order, nested
/// records flattened as `outer.inner`.
///
/// # Errors
/// [`AnalyzeError::Parse`] naming `path` when the record is not a JSON object.
pub(crate) fn settings_rows(record: &impl Serialize, path: &Path) -> Result<Vec<Vec<String>>> {
    let value = serde_json::to_value(record).map_err(|e| parse_error(path, &e.to_string()))?;
    let Value::Object(fields) = value else { return Err(parse_error(path, "the settings are not a JSON object")) };
    let mut rows = vec![];
    for (k, v) in fields {
        match v {
            Value::Object(inner) => {
                rows.extend(inner.into_iter().map(|(ik, iv)| vec![format!("`{k}.{ik}`"), show(&iv)]));
            }
            other => rows.push(vec![format!("`{k}`"), show(&other)]),
        }
    }
    Ok(rows)
}

/// The rows of [`settings_rows`] whose key is in `names`, in the order of `names`, with the
/// readable label given there (`batch_size` → `batch size`); other rows (the data folder and
/// device, said elsewhere in the report) are left out.
pub(crate) fn readable_rows(rows: Vec<Vec<String>>, names: &[(&str, &str)]) -> Vec<Vec<String>> {
    names
        .iter()
        .filter_map(|(key, label)| {
            rows.iter().find(|r| r[0] == format!("`{key}`")).map(|r| vec![label.to_string(), r[1].clone()])
        })
        .collect()
}

fn parse_error(path: &Path, reason: &str) -> AnalyzeError {
    AnalyzeError::Parse { path: path.to_path_buf(), reason: reason.into() }
}

/// A JSON value as compact text for tables (strings without quotes).
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
