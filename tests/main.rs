//! End-to-end tests of the `netlens` binary on the real small data in `../shared/data`.
//! One module per command.

mod common;
mod explain;
mod fetch;
mod features;
mod report;
mod train;
mod vae;
