//! End-to-end tests of the `netlens` binary on the real small data in `../shared/data`.
//! One module per command.

mod common;
mod data_sources;
mod explain;
mod features;
mod fetch;
mod gpu;
mod hostile;
mod report;
mod run;
mod train;
mod vae;
