//! The stages of a `netlens run` that have finished, saved as `stages.json` in the folder of
//! its runs: what each was made from, so that a later invocation skips what is up to date.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::{read_json, write_json};
use crate::error::Result;

/// The size and modification time of one input file when a stage ran (make's rule: a rewritten
/// input makes the outputs stale).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamp {
    /// The file, as the stage named it.
    pub path: PathBuf,
    /// Its size in bytes; `None` when it did not exist.
    pub bytes: Option<u64>,
    /// Its modification time in nanoseconds since the Unix epoch; `None` when unknown.
    pub modified_ns: Option<u128>,
}

impl InputStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> InputStamp {
        let meta = std::fs::metadata(path).ok();
        let modified = meta.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        InputStamp { path: path.into(), bytes: meta.map(|m| m.len()), modified_ns: modified.map(|d| d.as_nanos()) }
    }
}

/// A finished stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage (`train cnn`, `features lenet`).
    pub name: String,
    /// Wall-clock seconds it took; `None` when unknown.
    pub seconds: Option<f64>,
    /// The stage's settings, serialised, when it ran.
    #[serde(default)]
    pub settings: serde_json::Value,
    /// Its input files when it ran.
    #[serde(default)]
    pub inputs: Vec<InputStamp>,
}

impl StageRecord {
    /// Whether this record was made from `settings` and the files of `inputs` as they are now.
    pub fn made_from(&self, settings: &serde_json::Value, inputs: &[InputStamp]) -> bool {
        &self.settings == settings && self.inputs == inputs
    }
}

/// Every finished stage, in the order they finished.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StageRecords(pub Vec<StageRecord>);

impl StageRecords {
    /// The records in `path`; empty when the file is absent or of an older form (then every
    /// stage runs again, which is always safe).
    pub fn load(path: &Path) -> StageRecords {
        read_json(path).unwrap_or_default()
    }

    /// Writes the records to `path` atomically.
    ///
    /// # Errors
    /// As [`write_json`].
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }

    /// The record of stage `name`.
    pub fn get(&self, name: &str) -> Option<&StageRecord> {
        self.0.iter().find(|r| r.name == name)
    }

    /// Replaces the record of the same name, or appends.
    pub fn insert(&mut self, record: StageRecord) {
        self.0.retain(|r| r.name != record.name);
        self.0.push(record);
    }

    /// Removes the record of stage `name` (its outputs are about to be remade).
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|r| r.name != name);
    }

    /// `(name, seconds)` of every stage.
    pub fn times(&self) -> Vec<(String, Option<f64>)> {
        self.0.iter().map(|r| (r.name.clone(), r.seconds)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_changes_when_the_file_is_rewritten_and_records_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.onnx");
        let missing = InputStamp::of(&input);
        assert_eq!(missing.bytes, None);
        std::fs::write(&input, b"first").unwrap();
        let first = InputStamp::of(&input);
        std::fs::write(&input, b"second model").unwrap();
        assert_ne!(InputStamp::of(&input), first);
        let settings = serde_json::json!({"epochs": 2});
        let mut records = StageRecords::default();
        records.insert(StageRecord {
            name: "train cnn".into(),
            seconds: Some(1.5),
            settings: settings.clone(),
            inputs: vec![InputStamp::of(&input)],
        });
        let path = dir.path().join("stages.json");
        records.save(&path).unwrap();
        let back = StageRecords::load(&path);
        assert!(back.get("train cnn").unwrap().made_from(&settings, &[InputStamp::of(&input)]));
        assert!(
            !back.get("train cnn").unwrap().made_from(&serde_json::json!({"epochs": 3}), &[InputStamp::of(&input)])
        );
        assert_eq!(StageRecords::load(&dir.path().join("none.json")), StageRecords::default());
    }
}
