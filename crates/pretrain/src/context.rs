//! What every row of a pretraining batch is: its length T, the context window k each token is
//! predicted from, and the objective's targets. The window of tokens drawn per row and the
//! attention mask follow from it here alone, for training, evaluation and `pretrain eval`.

use model::AttentionMask;

use crate::config::{Objective, PretrainConfig};

/// BERT's masking (MLM): which positions become targets, and what replaces them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Masking {
    /// Selection probability of a position.
    pub probability: f64,
    /// `[MASK]` id.
    pub mask_id: i64,
    /// `[SEP]` id: never selected.
    pub sep_id: i64,
    /// Vocabulary size, for the random replacements.
    pub vocab_size: i64,
    /// The run's seed: the decisions are a pure function of it, the step and the position.
    pub seed: u64,
}

/// The shape and targets of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// Context window: under the causal objective a token sees at most its k previous tokens.
    pub k: i64,
    /// Tokens per row, T (k unless `objective.seq_len` says otherwise).
    pub seq_len: i64,
    /// MLM's masking; `None` for the causal objective (every next token is a target).
    pub mlm: Option<Masking>,
}

impl Context {
    /// The rows `config` trains on, with the corpus's special ids and the model's vocabulary.
    pub fn of(
        config: &PretrainConfig,
        special: corpus::tokenizer::SpecialIds,
        vocab_size: i64,
    ) -> anyhow::Result<Self> {
        let mlm = match config.objective.kind {
            Objective::Causal => None,
            Objective::Mlm => Some(Masking {
                probability: config.objective.mlm_probability,
                mask_id: special.mask.map(i64::from).ok_or_else(|| {
                    anyhow::anyhow!("objective.kind = \"mlm\" needs a [MASK] token; the corpus tokenizer has none")
                })?,
                sep_id: i64::from(special.sep),
                vocab_size,
                seed: config.seed,
            }),
        };
        Ok(Context { k: config.objective.k, seq_len: config.seq_len(), mlm })
    }

    /// Causal scoring over windows of k + 1 tokens (`pretrain eval`).
    pub fn causal_scoring(k: i64) -> Self {
        Context { k, seq_len: k, mlm: None }
    }

    /// The objective these rows serve.
    pub fn objective(&self) -> Objective {
        if self.mlm.is_some() {
            Objective::Mlm
        } else {
            Objective::Causal
        }
    }

    /// Tokens drawn per row: T, plus one under the causal objective, whose inputs are the first
    /// T tokens of the window and whose targets are the last T.
    pub fn window(&self) -> usize {
        (self.seq_len + i64::from(self.mlm.is_none())) as usize
    }

    /// Who attends to whom: bidirectional under MLM; causal, limited to the last k tokens when
    /// rows are longer than k.
    pub fn mask(&self) -> AttentionMask {
        match self.mlm {
            Some(_) => AttentionMask::Bidirectional,
            None if self.seq_len > self.k => AttentionMask::CausalWindow(self.k),
            None => AttentionMask::Causal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_and_the_mask_follow_the_objective_k_and_the_row_length() {
        let causal = Context { k: 16, seq_len: 16, mlm: None };
        assert_eq!((causal.window(), causal.mask()), (17, AttentionMask::Causal));
        let long = Context { seq_len: 64, ..causal };
        assert_eq!((long.window(), long.mask()), (65, AttentionMask::CausalWindow(16)));
        let masking = Masking { probability: 0.15, mask_id: 4, sep_id: 3, vocab_size: 100, seed: 1 };
        let mlm = Context { mlm: Some(masking), ..long };
        assert_eq!((mlm.window(), mlm.mask(), mlm.objective()), (64, AttentionMask::Bidirectional, Objective::Mlm));
        assert_eq!(Context::causal_scoring(8), Context { k: 8, seq_len: 8, mlm: None });
    }
}
