//! Progress bars shared by all subcommands (indicatif), drawn on stderr and hidden when stderr
//! is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar of `len` steps labelled with `what` (e.g. "epoch 3/10").
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("static progress template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
