//! `BertEmbeddings`: word + position + token-type embeddings, LayerNorm, dropout
//! (transformers `modeling_bert.py`, class `BertEmbeddings`).

use tch::{nn, Kind, Tensor};

use crate::config::BertConfig;
use crate::dropout::dropout;
use crate::error::{Error, Result};
use crate::linear::LayerNorm;

/// The input embeddings.
#[derive(Debug)]
pub struct BertEmbeddings {
    /// [vocab_size, hidden]; the LM head's decoder shares it.
    pub word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    layer_norm: LayerNorm,
    dropout: f64,
    max_positions: i64,
}

impl BertEmbeddings {
    /// HF's initialisation: N(0, initializer_range), the padding row of the word embedding zeroed.
    pub fn new(p: nn::Path, c: &BertConfig) -> Self {
        let init = nn::Init::Randn { mean: 0.0, stdev: c.initializer_range };
        let word_embeddings = (&p / "word_embeddings").var("weight", &[c.vocab_size, c.hidden_size], init);
        if (0..c.vocab_size).contains(&c.pad_token_id) {
            tch::no_grad(|| {
                let _ = word_embeddings.get(c.pad_token_id).zero_();
            });
        }
        let position_embeddings =
            (&p / "position_embeddings").var("weight", &[c.max_position_embeddings, c.hidden_size], init);
        let token_type_embeddings =
            (&p / "token_type_embeddings").var("weight", &[c.type_vocab_size, c.hidden_size], init);
        BertEmbeddings {
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            layer_norm: LayerNorm::new(&p / "LayerNorm", c.hidden_size, c.layer_norm_eps),
            dropout: c.hidden_dropout_prob,
            max_positions: c.max_position_embeddings,
        }
    }

    /// `input_ids` [B, T] → [B, T, hidden] in `kind`.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        kind: Kind,
        train: bool,
    ) -> Result<Tensor> {
        let (_, t) = input_ids.size2()?;
        if t > self.max_positions {
            return Err(Error::Input(format!(
                "sequence of {t} tokens is longer than max_position_embeddings = {}",
                self.max_positions
            )));
        }
        let positions = Tensor::arange(t, (Kind::Int64, input_ids.device()));
        let words = Tensor::embedding(&self.word_embeddings, input_ids, -1, false, false);
        let types = match token_type_ids {
            Some(ids) => Tensor::embedding(&self.token_type_embeddings, ids, -1, false, false),
            None => self.token_type_embeddings.get(0).view([1, 1, -1]),
        };
        let positions = Tensor::embedding(&self.position_embeddings, &positions, -1, false, false).unsqueeze(0);
        let x = self.layer_norm.forward(&(words + types + positions));
        Ok(dropout(&x, self.dropout, train).to_kind(kind))
    }
}
