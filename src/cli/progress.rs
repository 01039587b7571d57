//! Progress on the terminal: indicatif bars on stderr (hidden when stderr is not a terminal)
//! and one line per epoch, stage or note. The libraries never print; they report to this.

use std::collections::HashMap;

use indicatif::{ProgressBar, ProgressStyle};
use netlens::pipeline::Reporter;
use netlens_analyze::features::FeatureProgress;
use netlens_fetch::download::DownloadProgress;
use netlens_fetch::runs::{EpochMetrics, VaeEpochMetrics};
use netlens_train::Progress;

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

/// Bars and lines for every command.
#[derive(Default)]
pub struct Terminal {
    /// The current bar (an epoch's batches, a feature study's steps).
    bar: Option<ProgressBar>,
    /// Epochs of the training loop running now.
    epochs: usize,
    /// Stop after this epoch, as an interruption would (`netlens vae --stop-after`).
    stop_after: Option<usize>,
    /// The last finished epoch.
    last_epoch: usize,
    /// One byte-counting bar per downloaded file.
    downloads: HashMap<String, ProgressBar>,
}

impl Terminal {
    /// A terminal whose training loops stop after epoch `n` when given, as an interruption
    /// would.
    pub fn stopping_after(n: Option<usize>) -> Self {
        Terminal { stop_after: n, ..Terminal::default() }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn batch_bar(&mut self, epoch: usize, batch: usize, batches: usize) {
        let epochs = self.epochs;
        let bar = self.bar.get_or_insert_with(|| progress_bar(batches as u64, &format!("epoch {epoch}/{epochs}")));
        bar.set_position(batch as u64);
    }
}

impl Progress<EpochMetrics> for Terminal {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize) {
        self.batch_bar(epoch, batch, batches);
    }

    fn epoch(&mut self, m: &EpochMetrics) {
        self.finish_bar();
        self.last_epoch = m.epoch;
        eprintln!(
            "epoch {:>3}/{}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1} s",
            m.epoch, self.epochs, m.train_loss, m.train_accuracy, m.test_loss, m.test_accuracy, m.seconds
        );
    }

    fn stop_requested(&mut self) -> bool {
        self.stop_after.is_some_and(|n| self.last_epoch >= n)
    }
}

impl Progress<VaeEpochMetrics> for Terminal {
    fn batch(&mut self, epoch: usize, batch: usize, batches: usize) {
        self.batch_bar(epoch, batch, batches);
    }

    fn epoch(&mut self, m: &VaeEpochMetrics) {
        self.finish_bar();
        self.last_epoch = m.epoch;
        eprintln!(
            "epoch {:>3}/{}: train rec {:.2} KL {:.2} | held-out rec {:.2} KL {:.2} MSE/pixel {:.4} | {:.1} s",
            m.epoch,
            self.epochs,
            m.train_reconstruction,
            m.train_kl,
            m.heldout_reconstruction,
            m.heldout_kl,
            m.heldout_mse,
            m.seconds
        );
    }

    fn stop_requested(&mut self) -> bool {
        self.stop_after.is_some_and(|n| self.last_epoch >= n)
    }
}

impl Reporter for Terminal {
    fn note(&mut self, line: &str) {
        self.finish_bar();
        eprintln!("{line}");
    }

    fn training(&mut self, epochs: usize) {
        self.epochs = epochs;
        self.last_epoch = 0;
    }

    fn features(&mut self, progress: FeatureProgress<'_>) {
        match progress {
            FeatureProgress::Tapped { done, total } => {
                let bar = self.bar.get_or_insert_with(|| progress_bar(total as u64, "tract"));
                bar.set_position(done as u64);
                if done == total {
                    self.finish_bar();
                }
            }
            FeatureProgress::Embedding { layer, method, index, total } => {
                let bar = self.bar.get_or_insert_with(|| progress_bar(total as u64, "embed"));
                bar.set_message(format!("{layer} {method}"));
                bar.set_position(index as u64);
                if index + 1 == total {
                    self.finish_bar();
                }
            }
            FeatureProgress::Note(line) => eprintln!("{line}"),
        }
    }

    fn download(&mut self, file: &str, progress: DownloadProgress) {
        let bar = self.downloads.entry(file.to_string()).or_insert_with(|| {
            let bar = ProgressBar::new(progress.total.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{msg:>28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("static progress template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message(file.to_string());
            bar
        });
        if let Some(total) = progress.total {
            bar.set_length(total);
        }
        bar.set_position(progress.downloaded);
        if progress.total == Some(progress.downloaded) {
            bar.finish();
        }
    }
}
