//! Drawing training windows: a language by the manifest's α-smoothed probabilities, then a
//! uniform position in that language's stream. Each draw is a pure function of its key
//! (seed, step, micro-step, rank, index), so resuming at any step costs O(1) and replays or skips
//! nothing, and ranks draw independent windows.

use crate::dataset::{Corpus, TokenStream};
use crate::error::{Error, Result};
use crate::manifest::sampling_probabilities;

/// What identifies one window in a training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DrawKey {
    /// Optimizer step.
    pub step: u64,
    /// Gradient-accumulation micro-step within the step.
    pub micro_step: u32,
    /// Data-parallel rank.
    pub rank: u32,
    /// Row within the micro-batch.
    pub index: u32,
}

/// A window chosen by the sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Index into [`WindowSampler::languages`].
    pub lang: usize,
    /// First token of the window in that language's stream.
    pub start: u64,
}

/// Samples windows of a fixed length from one split of a corpus.
#[derive(Debug)]
pub struct WindowSampler<'a> {
    streams: Vec<TokenStream<'a>>,
    cumulative: Vec<f64>,
    window: usize,
    seed: u64,
}

/// SplitMix64's finaliser: a bijective mix with full avalanche, cheap and well studied. Every
/// keyed random decision of the training stages goes through it.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from 64 random bits (the top 53).
pub fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl<'a> WindowSampler<'a> {
    /// A sampler over `split` with languages weighted p_i ∝ n_i^alpha (n_i: tokens of the
    /// split). Languages shorter than one window are left out with a warning.
    pub fn new(corpus: &'a Corpus, split: &str, alpha: f64, window: usize, seed: u64) -> Result<Self> {
        let streams: Vec<TokenStream<'a>> = corpus
            .languages()
            .into_iter()
            .map(|lang| corpus.stream(split, lang))
            .filter(|s| {
                let fits = s.len() >= window as u64;
                if !fits {
                    tracing::warn!(
                        "{}: {} tokens in {split}, fewer than one window of {window}; not sampled",
                        s.lang(),
                        s.len()
                    );
                }
                fits
            })
            .collect();
        if streams.is_empty() {
            return Err(Error::format(
                corpus.dir(),
                format!("no language has a {split} stream of at least {window} tokens"),
            ));
        }
        let counts: Vec<u64> = streams.iter().map(TokenStream::len).collect();
        let mut acc = 0.0;
        let cumulative = sampling_probabilities(&counts, alpha)
            .into_iter()
            .map(|p| {
                acc += p;
                acc
            })
            .collect();
        Ok(WindowSampler { streams, cumulative, window, seed })
    }

    /// The sampled languages, in the order of [`Draw::lang`].
    pub fn languages(&self) -> Vec<&'a str> {
        self.streams.iter().map(TokenStream::lang).collect()
    }

    /// The probability of each language.
    pub fn probabilities(&self) -> Vec<f64> {
        let mut prev = 0.0;
        self.cumulative
            .iter()
            .map(|&c| {
                let p = c - prev;
                prev = c;
                p
            })
            .collect()
    }

    /// The window for `key`.
    pub fn draw(&self, key: DrawKey) -> Draw {
        let mut h = mix(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        for part in [key.step, u64::from(key.micro_step), u64::from(key.rank), u64::from(key.index)] {
            h = mix(h ^ part.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        let u = unit(h);
        let lang = self.cumulative.partition_point(|&c| c <= u).min(self.streams.len() - 1);
        let positions = self.streams[lang].len() - self.window as u64 + 1;
        let start = mix(h ^ 0xd1b5_4a32_d192_ed03) % positions;
        Draw { lang, start }
    }

    /// Appends the tokens of `draw` to `out`.
    pub fn fill(&self, draw: Draw, out: &mut Vec<i64>) -> Result<()> {
        self.streams[draw.lang].window_into(draw.start, self.window, out)
    }
}
