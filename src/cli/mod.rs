//! Subcommands: one `#[derive(Args)]` struct and one `run` function per file.

use clap::{Parser, Subcommand};

mod progress;

pub use progress::progress_bar;

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
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {}
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
