//! `netlens report`: the Markdown report from run folders.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use netlens_analyze::report::{ReportMeta, write_report};

/// Write a Markdown report with figures from run folders.
///
/// Reads only the runs' saved outputs: classifier runs of `netlens train` (their `features/`
/// and `explain/` subfolders when present), VAE runs of `netlens vae` (attribute edits, face
/// pairs and interpolation strips in the run folder or its `interp/`), and folders of
/// `netlens explain`. Writes OUT/report.md and OUT/figures/ (architecture diagrams drawn from
/// the ONNX graphs, copies of the runs' figures); links are relative, so the folder can be
/// moved.
///
/// Example: `netlens report runs/lenet runs/shallow runs/cnn runs/vae --out reports/main`
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folders, in the order they should appear.
    #[arg(value_name = "RUN_DIR", required = true, num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `netlens report`.
pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let invocation = super::invocation();
    let meta = ReportMeta { command: invocation.command, commit: invocation.commit, ..ReportMeta::default() };
    let written = write_report(&args.runs, &args.out, &meta)
        .with_context(|| format!("writing the report into {}", args.out.display()))?;
    println!("wrote {} ({} figures)", written.markdown.display(), written.figures.len());
    Ok(())
}
