//! Reproducibility: the command, versions, seeds, devices and run times — all from the run
//! folders and [`ReportMeta`].

use std::path::{Path, PathBuf};

use super::doc::Doc;
use super::inputs::{array, num, read_json, show};
use super::{ReportMeta, RunKind};
use crate::error::Result;

/// The "Reproducibility" section.
pub(crate) fn section(doc: &mut Doc, runs: &[(PathBuf, RunKind)], meta: &ReportMeta) -> Result<()> {
    doc.heading(2, "5. Reproducibility");
    if !meta.command.is_empty() {
        doc.para(&format!("Command:\n\n```\n{}\n```", meta.command));
    }
    let commit = meta.commit.as_deref().unwrap_or("unknown");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    doc.para(&format!(
        "netlens {} (git commit `{commit}`), built with rustc for {}-{}; {cores} CPU core(s) available when the report was written. Dependencies are pinned in `Cargo.lock`.",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    ));
    let rows = runs.iter().map(|(p, k)| run_row(p, *k)).collect::<Result<Vec<_>>>()?;
    doc.table(&["run", "kind", "seed", "device", "epochs", "training time (s)"], &rows);
    if !meta.stages.is_empty() {
        let rows: Vec<Vec<String>> = meta
            .stages
            .iter()
            .map(|(s, t)| {
                vec![
                    s.clone(),
                    t.map_or("skipped (outputs were already there; time not recorded)".into(), |t| format!("{t:.1}")),
                ]
            })
            .collect();
        doc.para("Wall-clock time of each stage of `netlens run` (from its `stages.json`; a stage skipped on a rerun keeps the time of the invocation that ran it):");
        doc.table(&["stage", "seconds"], &rows);
    }
    Ok(())
}

fn run_row(dir: &Path, kind: RunKind) -> Result<Vec<String>> {
    let name = format!("`{}`", dir.display());
    if kind == RunKind::Explanations {
        // Shapley orders and random deletion orders are the seeded parts of an explanation.
        let json = read_json(&dir.join("explanations.json"))?;
        let seed = ["/settings/shapley/seed", "/settings/faithfulness/seed"]
            .iter()
            .find_map(|p| json.pointer(p))
            .map_or("—".into(), show);
        return Ok(vec![
            name,
            "explanations".into(),
            seed,
            "CPU (burn flex for gradients, tract for forward passes)".into(),
            "—".into(),
            "—".into(),
        ]);
    }
    let cpath = dir.join("config.json");
    let config = read_json(&cpath)?;
    let hpath = dir.join("history.json");
    let history = read_json(&hpath)?;
    let epochs = array(&history, "epochs", &hpath)?;
    let seconds: f64 = epochs.iter().map(|e| num(e, "seconds", &hpath)).sum::<Result<f64>>()?;
    let field = |k: &str| config.get(k).map(show).unwrap_or_else(|| "—".into());
    let kind = if kind == RunKind::Vae { "VAE".to_string() } else { field("architecture") };
    Ok(vec![name, kind, field("seed"), field("device"), epochs.len().to_string(), format!("{seconds:.1}")])
}
