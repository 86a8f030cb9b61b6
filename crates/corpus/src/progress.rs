//! Progress of a long pass: a bar with bytes, documents/s, tokens/s and ETA when stderr is a
//! terminal; a `tracing` line every few seconds otherwise (logs, CI).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(10);

/// One pass over the input.
pub struct Progress {
    label: &'static str,
    total_bytes: u64,
    bar: Option<ProgressBar>,
    start: Instant,
    last_log: Mutex<Instant>,
}

impl Progress {
    /// Starts a pass over `total_bytes` of input (bytes on disk).
    pub fn new(label: &'static str, total_bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_bytes);
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label);
            bar
        });
        let now = Instant::now();
        Progress { label, total_bytes, bar, start: now, last_log: Mutex::new(now) }
    }

    fn rates(&self, docs: u64, tokens: u64) -> String {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        if tokens > 0 {
            format!("{:.0} docs/s, {:.0} tokens/s", docs as f64 / secs, tokens as f64 / secs)
        } else {
            format!("{:.0} docs/s", docs as f64 / secs)
        }
    }

    /// Reports `bytes` read and the documents and tokens done so far.
    pub fn update(&self, bytes: u64, docs: u64, tokens: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(self.rates(docs, tokens));
            return;
        }
        let Ok(mut last) = self.last_log.lock() else { return };
        if last.elapsed() >= LOG_EVERY {
            *last = Instant::now();
            let pct = if self.total_bytes > 0 { 100.0 * bytes as f64 / self.total_bytes as f64 } else { 100.0 };
            tracing::info!(
                "{}: {:.1}% of {} read, {}",
                self.label,
                pct.min(100.0),
                HumanBytes(self.total_bytes),
                self.rates(docs, tokens)
            );
        }
    }

    /// Ends the pass.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Seconds since the pass began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
