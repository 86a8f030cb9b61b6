//! Micro-batches drawn from the corpus. Every row is a pure function of (seed, step, row), the
//! row numbered across the micro-batches and ranks of the step, through the corpus's
//! `WindowSampler` and, for MLM, a hash-based masking decision: resuming at any step reproduces
//! the data exactly, ranks draw disjoint rows, and the rows of a step do not depend on how they
//! are split into micro-batches and ranks.

use corpus::sampler::{mix, unit};
use corpus::{DrawKey, WindowSampler};
use tch::{Device, Tensor};

use crate::context::{Context, Masking};

pub use training::loss::IGNORE;

/// One micro-batch.
#[derive(Debug)]
pub struct Batch {
    /// [B, T].
    pub input_ids: Tensor,
    /// [B, T]; `IGNORE` where there is no target.
    pub labels: Tensor,
    /// Positions with a target.
    pub targets: i64,
    /// Rows drawn per language (index as in the sampler).
    pub rows_per_language: Vec<u64>,
}

/// What a batch needs besides the sampler.
#[derive(Debug, Clone, Copy)]
pub struct BatchSpec {
    /// Rows.
    pub rows: i64,
    /// Their shape and targets.
    pub context: Context,
}

/// A uniform number in [0, 1) from the parts of a key.
fn uniform(parts: &[u64]) -> f64 {
    unit(parts.iter().fold(0x2545_f491_4f6c_dd1d_u64, |h, &p| mix(h ^ p.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
}

/// The first row of micro-batch `micro` on `rank`: rows are numbered across the ranks and
/// micro-batches of a step, so that 2 micro-batches of 8 rows, or 2 ranks of 8 rows, hold exactly
/// the windows of 1 batch of 16: accumulation and data parallelism change memory, not data.
pub fn first_row(spec: &BatchSpec, rank: u32, micro: u32, micro_steps: u32) -> u32 {
    (rank * micro_steps + micro) * spec.rows as u32
}

/// Draws the micro-batch of optimizer step `step` whose rows start at `first_row`.
pub fn draw(
    sampler: &WindowSampler,
    spec: &BatchSpec,
    step: u64,
    first_row: u32,
    device: Device,
) -> corpus::Result<Batch> {
    let window = spec.context.window();
    let mut rows_per_language = vec![0u64; sampler.languages().len()];
    let mut tokens = Vec::with_capacity(spec.rows as usize * window);
    for index in first_row..first_row + spec.rows as u32 {
        let d = sampler.draw(DrawKey { step, micro_step: 0, rank: 0, index });
        rows_per_language[d.lang] += 1;
        sampler.fill(d, &mut tokens)?;
    }
    let (inputs, labels, targets) = match &spec.context.mlm {
        None => {
            // Window of k + 1: inputs are the first k tokens, targets the last k.
            let (mut inputs, mut labels) = (Vec::with_capacity(tokens.len()), Vec::with_capacity(tokens.len()));
            for row in tokens.chunks(window) {
                inputs.extend_from_slice(&row[..window - 1]);
                labels.extend_from_slice(&row[1..]);
            }
            let n = labels.len() as i64;
            (inputs, labels, n)
        }
        Some(masking) => mlm_mask(&tokens, masking, step, u64::from(first_row) * spec.context.seq_len as u64),
    };
    let shape = [spec.rows, spec.context.seq_len];
    Ok(Batch {
        input_ids: Tensor::from_slice(&inputs).view(shape).to_device(device),
        labels: Tensor::from_slice(&labels).view(shape).to_device(device),
        targets,
        rows_per_language,
    })
}

/// BERT's masking: each non-separator position is selected with `masking.probability`; selected
/// positions become `[MASK]` (80%), a random token (10%) or stay (10%), and only they have labels.
/// The decisions are a pure function of (seed, step, position in the step's rows).
fn mlm_mask(tokens: &[i64], masking: &Masking, step: u64, first_position: u64) -> (Vec<i64>, Vec<i64>, i64) {
    let seed = masking.seed;
    let mut inputs = tokens.to_vec();
    let mut labels = vec![IGNORE; tokens.len()];
    let mut targets = 0;
    for (pos, &token) in tokens.iter().enumerate() {
        if token == masking.sep_id {
            continue;
        }
        let p = first_position + pos as u64;
        if uniform(&[seed, step, 0, 0, p, 0]) >= masking.probability {
            continue;
        }
        labels[pos] = token;
        targets += 1;
        let r = uniform(&[seed, step, 0, 0, p, 1]);
        if r < 0.8 {
            inputs[pos] = masking.mask_id;
        } else if r < 0.9 {
            inputs[pos] = (uniform(&[seed, step, 0, 0, p, 2]) * masking.vocab_size as f64) as i64;
        }
    }
    (inputs, labels, targets)
}

/// MLM masking for evaluation rows: a fixed key (step u64::MAX), so every evaluation scores the
/// same positions.
pub fn mlm_for_eval(tokens: &[i64], masking: &Masking) -> (Vec<i64>, Vec<i64>, i64) {
    mlm_mask(tokens, masking, u64::MAX, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlm_masks_about_15_percent_with_80_10_10_and_spares_separators() {
        let masking = Masking { probability: 0.15, mask_id: 4, sep_id: 3, vocab_size: 1000, seed: 9 };
        let tokens: Vec<i64> = (0..40_000).map(|i| if i % 10 == 0 { 3 } else { 100 + i % 500 }).collect();
        let (inputs, labels, targets) = mlm_mask(&tokens, &masking, 5, 0);
        let eligible = tokens.iter().filter(|&&t| t != 3).count() as f64;
        assert!((targets as f64 / eligible - 0.15).abs() < 0.01);
        let masked = inputs.iter().filter(|&&t| t == 4).count() as f64;
        assert!((masked / targets as f64 - 0.8).abs() < 0.03);
        let kept = labels.iter().zip(&inputs).filter(|(l, i)| **l != IGNORE && l == i).count() as f64;
        assert!((kept / targets as f64 - 0.1).abs() < 0.03, "{kept}");
        assert!(tokens.iter().zip(&labels).all(|(t, l)| *t != 3 || *l == IGNORE));
        assert_eq!(mlm_mask(&tokens, &masking, 5, 0).0, inputs, "a pure function of its key");
        assert_ne!(mlm_mask(&tokens, &masking, 6, 0).0, inputs);
    }
}
