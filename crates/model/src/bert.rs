//! `BertModel`: embeddings, encoder and (optionally) the pooler over the first token.

use tch::{nn, Kind, Tensor};

use crate::attention::{sdpa_mask, AttentionMask};
use crate::config::BertConfig;
use crate::embeddings::BertEmbeddings;
use crate::encoder::BertEncoder;
use crate::error::{Error, Result};
use crate::linear::Linear;

/// The inputs of a forward pass.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Token ids, [B, T] int64.
    pub input_ids: &'a Tensor,
    /// 1 for real tokens, 0 for padding, [B, T]; `None` means no padding.
    pub attention_mask: Option<&'a Tensor>,
    /// Segment ids, [B, T]; `None` means all 0.
    pub token_type_ids: Option<&'a Tensor>,
}

impl<'a> Inputs<'a> {
    /// Ids only: no padding, one segment.
    pub fn ids(input_ids: &'a Tensor) -> Self {
        Inputs { input_ids, attention_mask: None, token_type_ids: None }
    }
}

/// What a forward pass returns (transformers' `BaseModelOutputWithPooling`; not `BertOutput`,
/// which there and in [`crate::encoder`] is the feed-forward output module).
#[derive(Debug)]
pub struct BertModelOutput {
    /// [B, T, H].
    pub last_hidden_state: Tensor,
    /// tanh(dense(`[CLS]`)), `[B, H]`, when the model has a pooler.
    pub pooler_output: Option<Tensor>,
}

/// The encoder.
#[derive(Debug)]
pub struct BertModel {
    /// The input embeddings (the LM head shares `word_embeddings`).
    pub embeddings: BertEmbeddings,
    encoder: BertEncoder,
    pooler: Option<Linear>,
    /// Dtype of the matmuls: f32, or bf16 with f32 parameters.
    pub compute_kind: Kind,
}

impl BertModel {
    /// Parameters under `p`: `embeddings`, `encoder`, and `pooler.dense` if `add_pooler`.
    pub fn new(p: nn::Path, c: &BertConfig, add_pooler: bool) -> Self {
        BertModel {
            embeddings: BertEmbeddings::new(&p / "embeddings", c),
            encoder: BertEncoder::new(&p / "encoder", c),
            pooler: add_pooler
                .then(|| Linear::new(&p / "pooler" / "dense", c.hidden_size, c.hidden_size, c.initializer_range)),
            compute_kind: Kind::Float,
        }
    }

    /// Runs the encoder with the given attention pattern.
    pub fn forward_t(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> Result<BertModelOutput> {
        let (b, t) = inputs.input_ids.size2()?;
        for (name, other) in [("attention_mask", inputs.attention_mask), ("token_type_ids", inputs.token_type_ids)] {
            if let Some(o) = other {
                if o.size() != [b, t] {
                    return Err(Error::Input(format!("{name} has shape {:?}; input_ids has [{b}, {t}]", o.size())));
                }
            }
        }
        let x = self.embeddings.forward_t(inputs.input_ids, inputs.token_type_ids, self.compute_kind, train)?;
        let mask = sdpa_mask(mask, inputs.attention_mask, t, x.device());
        let last_hidden_state = self.encoder.forward_t(&x, &mask, train);
        let pooler_output = self.pool(&last_hidden_state.select(1, 0));
        Ok(BertModelOutput { last_hidden_state, pooler_output })
    }

    /// The pooler (dense + tanh) applied to `states` [B, H], if the model has one.
    pub fn pool(&self, states: &Tensor) -> Option<Tensor> {
        self.pooler.as_ref().map(|dense| dense.forward(states).tanh())
    }
}
