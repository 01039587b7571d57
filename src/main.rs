//! `netlens`: the command line. Argument parsing, progress output and wiring of the member
//! crates and the [`netlens::pipeline`]; no math and no file formats live here (see DESIGN.md).

mod cli;

/// mimalloc keeps freed memory for reuse; glibc's malloc unmaps large blocks on free, and the
/// Shapley sampler's batches (and training's tensors) then fault their pages in again on every
/// call: a third of a small model's Shapley run was system time (`bench/shapley_small.py`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    // The libraries' panics are caught where they are called and reported as errors naming
    // the model, node or file; this boundary catches anything left (a bug in netlens itself),
    // so the program never ends with a panic's exit status 101.
    netlens_fetch::panic::install_hook();
    match netlens_fetch::panic::catch(|| cli::run(args)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            // Every error keeps its cause out of its own message; `{:#}` prints the chain once.
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
        Err(panic) => {
            eprintln!(
                "error: netlens stopped on an internal error: {panic}\n\
                 This is a bug in netlens; please report it with the command you ran \
                 (RUST_BACKTRACE=1 prints where it happened)."
            );
            ExitCode::from(1)
        }
    }
}
