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
    let root = doc.root().to_path_buf();
    let rows = runs.iter().map(|(p, k)| run_row(p, *k, &root)).collect::<Result<Vec<_>>>()?;
    doc.table(&["run (relative to this report)", "kind", "seed", "device", "epochs", "training time (s)"], &rows);
    doc.para(
        "Devices: `flex` is burn's CPU backend (`wgpu` is a GPU through Vulkan, Metal or DirectX, `cuda` an NVIDIA \
         GPU); the same seed on the same device gives the same run.",
    );
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

/// `path` relative to the folder `base` (`../runs/lenet` for a report in `out/report` and a run
/// in `out/runs/lenet`), when both resolve; else `path` as given.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (Ok(path_abs), Ok(base_abs)) = (path.canonicalize(), base.canonicalize()) else { return path.into() };
    let (p, b): (Vec<_>, Vec<_>) = (path_abs.components().collect(), base_abs.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    p[common..].iter().for_each(|c| out.push(c));
    out
}

fn run_row(dir: &Path, kind: RunKind, report: &Path) -> Result<Vec<String>> {
    let name = format!("`{}`", relative_to(dir, report).display());
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

#[cfg(test)]
mod tests {
    use super::relative_to;

    #[test]
    fn run_folders_are_named_relative_to_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let (report, run) = (dir.path().join("out/report"), dir.path().join("out/runs/lenet"));
        std::fs::create_dir_all(&report).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        assert_eq!(relative_to(&run, &report), std::path::Path::new("../runs/lenet"));
        assert_eq!(relative_to(&report.join("x"), &report), report.join("x"), "a missing path stays as given");
    }
}
