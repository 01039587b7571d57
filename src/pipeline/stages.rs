//! The stage cache of `netlens run`: a stage runs again only when its settings, its input
//! files or its outputs changed since it last finished (make's rule), as recorded in
//! `stages.json` ([`StageRecords`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use netlens_fetch::runs::{InputStamp, STAGES, StageRecord, StageRecords};
use serde::Serialize;

use super::{PipelineError, Reporter};

/// The finished stages of one folder of runs.
pub(crate) struct Stages {
    path: PathBuf,
    records: StageRecords,
}

/// What a stage is made from and makes.
pub(crate) struct Stage {
    /// Its name (`train cnn`).
    pub name: String,
    /// Its settings, serialised (a config of the plan).
    pub settings: serde_json::Value,
    /// Its input files.
    pub inputs: Vec<PathBuf>,
    /// Files that exist once it has run.
    pub outputs: Vec<PathBuf>,
    /// Its outputs are known to be complete and made from these settings although no record
    /// says so (a run folder whose `config.json` and history show it finished).
    pub done_without_record: bool,
}

impl Stage {
    /// A stage named `name` made from `settings` and the files `inputs`, making `outputs`.
    ///
    /// # Errors
    /// [`PipelineError::Plan`] when the settings cannot be serialised.
    pub fn new(
        name: impl Into<String>,
        settings: &impl Serialize,
        inputs: Vec<PathBuf>,
        outputs: Vec<PathBuf>,
    ) -> Result<Self, PipelineError> {
        let name = name.into();
        let settings = serde_json::to_value(settings).map_err(|e| PipelineError::Plan {
            path: None,
            reason: format!("the settings of stage `{name}` cannot be recorded: {e}"),
        })?;
        Ok(Stage { name, settings, inputs, outputs, done_without_record: false })
    }
}

impl Stages {
    /// The records in `out_runs/stages.json` (none when absent or of an older form).
    pub fn load(out_runs: &Path) -> Stages {
        let path = out_runs.join(STAGES);
        Stages { records: StageRecords::load(&path), path }
    }

    /// `(name, seconds)` of every finished stage.
    pub fn times(&self) -> Vec<(String, Option<f64>)> {
        self.records.times()
    }

    /// Runs `work` unless `stage` is up to date; records it when it finishes. A stage whose
    /// record is removed before it runs never looks finished after an interruption.
    ///
    /// # Errors
    /// The stage's own error, wrapped with its name; I/O errors writing `stages.json`.
    pub fn run(
        &mut self,
        stage: Stage,
        reporter: &mut dyn Reporter,
        work: impl FnOnce(&mut dyn Reporter) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let stamps: Vec<InputStamp> = stage.inputs.iter().map(|p| InputStamp::of(p)).collect();
        let outputs_exist = stage.outputs.iter().all(|p| p.exists());
        let earlier = self.records.get(&stage.name).cloned();
        let recorded = earlier.as_ref().is_some_and(|r| r.made_from(&stage.settings, &stamps));
        if outputs_exist && (recorded || stage.done_without_record) {
            reporter.note(&format!("== {}: up to date, skipped", stage.name));
            let seconds = earlier.and_then(|r| r.seconds);
            return self.record(StageRecord { name: stage.name, seconds, settings: stage.settings, inputs: stamps });
        }
        let why = match &earlier {
            _ if !outputs_exist && earlier.is_none() => String::new(),
            Some(r) if r.settings != stage.settings => format!(" ({})", settings_change(&r.settings, &stage.settings)),
            Some(r) if r.inputs != stamps => format!(" ({})", input_change(&r.inputs, &stamps)),
            _ if !outputs_exist => " (outputs missing)".into(),
            _ => String::new(),
        };
        reporter.note(&format!("== {}{why}", stage.name));
        self.records.remove(&stage.name);
        self.records.save(&self.path)?;
        let started = Instant::now();
        work(reporter).map_err(|e| PipelineError::Stage { name: stage.name.clone(), source: Box::new(e) })?;
        let seconds = Some(started.elapsed().as_secs_f64());
        self.record(StageRecord { name: stage.name, seconds, settings: stage.settings, inputs: stamps })
    }

    fn record(&mut self, record: StageRecord) -> Result<(), PipelineError> {
        self.records.insert(record);
        Ok(self.records.save(&self.path)?)
    }
}

/// `settings changed: epochs 15 → 2` for the fields that differ.
fn settings_change(old: &serde_json::Value, new: &serde_json::Value) -> String {
    let mut changes = vec![];
    diff("", old, new, &mut changes);
    if changes.is_empty() { "settings changed".into() } else { format!("settings changed: {}", changes.join(", ")) }
}

fn diff(prefix: &str, old: &serde_json::Value, new: &serde_json::Value, out: &mut Vec<String>) {
    match (old, new) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match a.get(k) {
                    Some(o) => diff(&key, o, v, out),
                    None => out.push(format!("{key} added")),
                }
            }
        }
        (a, b) if a != b => out.push(format!("{prefix} {a} → {b}")),
        _ => {}
    }
}

/// `input changed: runs/main/cnn/model.onnx` for the first input that differs.
fn input_change(old: &[InputStamp], new: &[InputStamp]) -> String {
    let changed = new.iter().find(|s| !old.contains(s)).or(old.first());
    match changed {
        Some(s) => format!("input changed: {}", s.path.display()),
        None => "inputs changed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Quiet;

    /// Runs a stage named `features x` with `settings` reading `input`; counts runs in `runs`.
    fn go(stages: &mut Stages, settings: &str, input: &Path, output: &Path, runs: &mut usize) {
        let stage = Stage::new("features x", &settings, vec![input.into()], vec![output.into()]).unwrap();
        stages
            .run(stage, &mut Quiet, |_| {
                *runs += 1;
                std::fs::write(output, b"made").map_err(|source| PipelineError::Io { path: output.into(), source })
            })
            .unwrap();
    }

    #[test]
    fn a_stage_reruns_when_an_input_file_a_setting_or_an_output_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (dir.path().join("model.onnx"), dir.path().join("summary.json"));
        std::fs::write(&input, b"first").unwrap();
        let mut runs = 0;
        let mut stages = Stages::load(dir.path());
        go(&mut stages, "a", &input, &output, &mut runs);
        go(&mut stages, "a", &input, &output, &mut runs);
        assert_eq!(runs, 1, "same inputs and settings: skipped");
        // A new process reads the record back from stages.json.
        let mut stages = Stages::load(dir.path());
        go(&mut stages, "a", &input, &output, &mut runs);
        assert_eq!(runs, 1, "the record survives a restart");
        go(&mut stages, "b", &input, &output, &mut runs);
        assert_eq!(runs, 2, "other settings: rerun");
        std::fs::write(&input, b"retrained model").unwrap();
        go(&mut stages, "b", &input, &output, &mut runs);
        assert_eq!(runs, 3, "a rewritten input: rerun");
        std::fs::remove_file(&output).unwrap();
        go(&mut stages, "b", &input, &output, &mut runs);
        assert_eq!(runs, 4, "a missing output: rerun");
        assert!(stages.times().iter().all(|(name, seconds)| name == "features x" && seconds.is_some()));
    }

    #[test]
    fn a_failed_stage_is_named_and_not_recorded_as_done() {
        let dir = tempfile::tempdir().unwrap();
        let mut stages = Stages::load(dir.path());
        let stage = Stage::new("train cnn", &1, vec![], vec![dir.path().join("model.onnx")]).unwrap();
        let err = stages
            .run(stage, &mut Quiet, |_| Err(PipelineError::Data { path: "x".into(), expected: "disk space".into() }))
            .unwrap_err();
        assert!(format!("{:#}", anyhow::Error::from(err)).contains("stage `train cnn`: x: expected disk space"));
        assert!(Stages::load(dir.path()).times().is_empty(), "a failed stage is not recorded as done");
    }

    #[test]
    fn the_reason_for_a_rerun_names_the_changed_setting() {
        let old = serde_json::json!({"epochs": 15, "seed": 0, "model": {"latent": 64}});
        let new = serde_json::json!({"epochs": 2, "seed": 0, "model": {"latent": 32}});
        assert_eq!(settings_change(&old, &new), "settings changed: epochs 15 → 2, model.latent 64 → 32");
    }
}
