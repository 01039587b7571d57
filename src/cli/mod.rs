//! Subcommands: one `#[derive(Args)]` struct and one `run` function per file.

use clap::{Parser, Subcommand};

mod explain;
mod features;
mod fetch;
mod inspect;
mod progress;
mod report;
mod run;
mod train;
mod vae;

/// Look inside image neural networks: train small CNNs and a VAE, export them to ONNX, embed
/// intermediate features with PCA and t-SNE, explain predictions, and write a report.
///
/// Exit status: 0 on success, 1 on failure (the error is printed to stderr), 2 on a usage error.
#[derive(Parser, Debug)]
#[command(name = "netlens", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download and prepare Fashion-MNIST, LFW and torchvision's ResNet-34 (converted to ONNX).
    Fetch(fetch::FetchArgs),
    /// Train LeNet-5, the shallow net or the 27-layer CNN and export it to ONNX.
    Train(train::TrainArgs),
    /// Print the layer table of an ONNX model: names, ops, shapes, parameters.
    Inspect(inspect::InspectArgs),
    /// Embed chosen layers' features with PCA and t-SNE; figures, arrays and separation scores.
    Features(features::FeaturesArgs),
    /// Explain predictions with Grad-CAM, HiResCAM, Integrated Gradients and Shapley values.
    Explain(explain::ExplainArgs),
    /// Train a convolutional VAE on faces; export encoder and decoder; reconstructions, samples.
    Vae(vae::VaeArgs),
    /// Decode faces between two images or groups, or move one along an attribute vector (VAE ONNX files).
    Interpolate(vae::InterpolateArgs),
    /// Write the Markdown report (figures, tables, drafted observations) from run folders.
    Report(report::ReportArgs),
    /// The whole project: train, analyse, explain and report, skipping finished stages.
    Run(run::RunArgs),
}

/// This process's command line as `netlens ARGS…` (arguments with spaces quoted) and the git
/// commit of the working directory, for the report.
pub fn invocation() -> netlens::pipeline::Invocation {
    // The program as `netlens`, not the build folder's path `cargo run` started it from.
    let command = std::iter::once("netlens".to_string())
        .chain(std::env::args().skip(1))
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    netlens::pipeline::Invocation { command, commit: netlens::pipeline::git_commit() }
}

/// Names the device `name` stands for on this machine (a GPU's adapter, e.g. lavapipe's
/// `llvmpipe`) before any work starts on it, so a missing device fails before anything is
/// written; silent for `flex`, the default.
///
/// # Errors
/// A device this binary was built without, or a GPU the machine does not offer.
pub(crate) fn announce_device(name: netlens_fetch::runs::DeviceName) -> anyhow::Result<()> {
    if name != netlens_fetch::runs::DeviceName::Flex {
        eprintln!("device {}", netlens_train::describe_device(name)?);
    }
    Ok(())
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Fetch(args) => fetch::run(args),
        Command::Train(args) => train::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Features(args) => features::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Vae(args) => vae::run(args),
        Command::Interpolate(args) => vae::run_interpolate(args),
        Command::Report(args) => report::run(args),
        Command::Run(args) => run::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
