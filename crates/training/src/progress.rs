//! Progress of a training run: on a terminal, a bar with the step, the latest logged figures
//! (loss, lr, throughput) and the ETA; otherwise (logs, CI) one `tracing` line per logged step.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// The progress of one run of `total` optimizer steps.
#[derive(Debug)]
pub struct StepProgress {
    stage: &'static str,
    total: u64,
    bar: Option<ProgressBar>,
}

impl StepProgress {
    /// Starts at `step` (a resumed run's), showing a bar when stderr is a terminal and `show`
    /// (false on the ranks that do not report).
    pub fn new(stage: &'static str, total: u64, step: u64, show: bool) -> Self {
        let bar = (show && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(stage);
            bar.set_position(step);
            // The ETA counts from the steps of this process, not from those a resumed run skipped.
            bar.reset_eta();
            bar
        });
        StepProgress { stage, total, bar }
    }

    /// Moves the bar to `step` (every step: the ETA follows the steps, not the log).
    pub fn advance(&self, step: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
        }
    }

    /// The figures of a logged step: the bar's message, or a log line without a terminal.
    pub fn report(&self, step: u64, figures: String) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(step);
                bar.set_message(figures);
            }
            None => tracing::info!("{} step {step}/{}: {figures}", self.stage, self.total),
        }
    }

    /// Clears the bar at the end of the run.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Rates of running counts (tokens, targets, samples…) between two logged steps.
#[derive(Debug, Clone)]
pub struct Throughput<const N: usize> {
    since: Instant,
    counts: [u64; N],
}

impl<const N: usize> Throughput<N> {
    /// Counting from `counts` (a resumed run's), now.
    pub fn since(counts: [u64; N]) -> Self {
        Throughput { since: Instant::now(), counts }
    }

    /// Per second since the last call (or the start), from the counts so far, which the next
    /// call counts from.
    pub fn rates(&mut self, counts: [u64; N]) -> [f64; N] {
        let seconds = self.since.elapsed().as_secs_f64().max(1e-9);
        let rates = std::array::from_fn(|i| counts[i].saturating_sub(self.counts[i]) as f64 / seconds);
        *self = Throughput::since(counts);
        rates
    }
}
