//! Reproducibility: the command, versions, seeds, devices and run times — all from the run
//! folders and [`ReportMeta`].

use std::path::{Path, PathBuf};

use netlens_fetch::runs::{EXPLANATIONS, Explanations, RunFolder, read_json};

use super::doc::Doc;
use super::{ReportMeta, RunKind};
use crate::error::Result;

/// The "Reproducibility" section.
pub(crate) fn section(doc: &mut Doc, runs: &[(PathBuf, RunKind)], meta: &ReportMeta) -> Result<()> {
    doc.heading(2, "6. Reproducibility");
    if !meta.command.is_empty() {
        doc.para(&format!("Command:\n\n```\n{}\n```", meta.command));
    }
    let commit = meta.commit.as_deref().unwrap_or("unknown");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    doc.para(&format!(
        "Made by netlens {} (git commit `{commit}`), built with rustc for {}-{}; {cores} CPU core(s) available when the report was written. Dependencies are pinned in `Cargo.lock`. Every number of the report comes from the files of these run folders (`config.json`, `history.json`, `model_card.json`, `features/summary.json` and its CSVs, `explain*/explanations.json`, `interpolation.json`):",
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
    let folder = RunFolder::new(dir);
    Ok(match kind {
        RunKind::Explanations => {
            // Shapley orders and random deletion orders are the seeded parts of an explanation.
            let json: Explanations = read_json(&folder.file(EXPLANATIONS))?;
            let seed = json.settings.seed().map_or("—".into(), |s| s.to_string());
            let device = "CPU (burn flex for gradients, tract for forward passes)".to_string();
            vec![name, "explanations".into(), seed, device, "—".into(), "—".into()]
        }
        RunKind::Vae => {
            let (config, history) = (folder.vae_config()?, folder.vae_history()?);
            let epochs = history.epochs.len().to_string();
            let seconds = format!("{:.1}", history.seconds());
            vec![name, "VAE".into(), config.seed.to_string(), config.device.to_string(), epochs, seconds]
        }
        RunKind::Classifier => {
            let (config, history) = (folder.train_config()?, folder.classifier_history()?);
            let epochs = history.epochs.len().to_string();
            let seconds = format!("{:.1}", history.seconds());
            let arch = config.architecture.to_string();
            vec![name, arch, config.seed.to_string(), config.device.to_string(), epochs, seconds]
        }
    })
}
