//! `netlens`: the command line. Argument parsing, progress output and wiring of the member
//! crates and the [`netlens::pipeline`]; no math and no file formats live here (see DESIGN.md).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Every error keeps its cause out of its own message; `{:#}` prints the chain once.
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
