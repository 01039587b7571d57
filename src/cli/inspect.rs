//! `netlens inspect`: the layer table of an ONNX model.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Print the layer table of an ONNX image model.
///
/// One row per node in graph order: readable name (from the initializers a node consumes, e.g.
/// `conv1`, or PyTorch's module path), ONNX op, output shape with the batch axis as `batch`,
/// parameter count, and the original ONNX tensor name (what `netlens features --layers` and
/// other tools also accept); then the totals.
///
/// Example: `netlens inspect runs/lenet/model.onnx`
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The ONNX model.
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// Print the table as JSON (the `ModelSummary` the report uses) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `netlens inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let bar = super::progress::progress_bar(1, "inspect");
    let summary = netlens_onnx::inspect(&args.model).with_context(|| format!("inspecting {}", args.model.display()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_table());
    }
    Ok(())
}
