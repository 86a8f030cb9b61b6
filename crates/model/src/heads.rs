//! The task models: a `BertModel` under `bert.` plus a head, named as in transformers so that
//! checkpoints load both ways.

use tch::{nn, Tensor};

use crate::attention::AttentionMask;
use crate::bert::{BertModel, Inputs};
use crate::config::{BertConfig, HiddenAct};
use crate::dropout::dropout;
use crate::encoder::activation;
use crate::error::Result;
use crate::linear::{linear, LayerNorm, Linear};

/// `cls.predictions`: transform (dense, activation, LayerNorm), then a decoder tied to the word
/// embeddings, plus its own bias (`BertLMPredictionHead`).
#[derive(Debug)]
pub struct BertLMPredictionHead {
    transform_dense: Linear,
    transform_layer_norm: LayerNorm,
    bias: Tensor,
    act: HiddenAct,
}

impl BertLMPredictionHead {
    /// Parameters under `p` = `cls/predictions`.
    pub fn new(p: nn::Path, c: &BertConfig) -> Self {
        let t = &p / "transform";
        BertLMPredictionHead {
            transform_dense: Linear::new(&t / "dense", c.hidden_size, c.hidden_size, c.initializer_range),
            transform_layer_norm: LayerNorm::new(&t / "LayerNorm", c.hidden_size, c.layer_norm_eps),
            bias: p.var("bias", &[c.vocab_size], nn::Init::Const(0.0)),
            act: c.hidden_act,
        }
    }

    /// The transformed hidden states [.., H], before the vocabulary projection. Kept separate so
    /// that a loss can project only the positions it needs, in chunks.
    pub fn transform(&self, hidden: &Tensor) -> Tensor {
        self.transform_layer_norm.forward(&activation(self.act, &self.transform_dense.forward(hidden)))
    }

    /// The decoder's own bias `[V]` (`cls.predictions.bias`); its weight is the word embeddings.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// Vocabulary logits of transformed states, with the decoder tied to `word_embeddings`.
    pub fn decode(&self, transformed: &Tensor, word_embeddings: &Tensor) -> Tensor {
        let kind = transformed.kind();
        linear(transformed, &word_embeddings.to_kind(kind), &self.bias.to_kind(kind))
    }
}

/// `BertLMHeadModel` (causal) and `BertForMaskedLM` (bidirectional): the same parameters.
#[derive(Debug)]
pub struct BertForLM {
    /// The encoder, under `bert.` (no pooler, as in transformers).
    pub bert: BertModel,
    /// The head, under `cls.predictions.`.
    pub head: BertLMPredictionHead,
}

impl BertForLM {
    /// Builds under the root of a VarStore.
    pub fn new(root: &nn::Path, c: &BertConfig) -> Self {
        BertForLM {
            bert: BertModel::new(root / "bert", c, false),
            head: BertLMPredictionHead::new(root / "cls" / "predictions", c),
        }
    }

    /// Vocabulary logits [B, T, V].
    pub fn forward_t(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> Result<Tensor> {
        let h = self.bert.forward_t(inputs, mask, train)?.last_hidden_state;
        Ok(self.head.decode(&self.head.transform(&h), &self.bert.embeddings.word_embeddings))
    }
}

/// Dropout before a classifier: `classifier_dropout`, else `hidden_dropout_prob` (as HF).
fn classifier_dropout(c: &BertConfig) -> f64 {
    c.classifier_dropout.unwrap_or(c.hidden_dropout_prob)
}

/// Which state a sequence classifier pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The first token (`[CLS]`), as BERT and transformers.
    Cls,
    /// The mean over real (non-padding) tokens.
    Mean,
    /// The last real token: with causal attention, the only one that has seen the whole input.
    Last,
}

/// `BertForSequenceClassification`: a linear classifier on the pooled state (`[CLS]` by
/// default, as transformers; `mean` or `last` for encoders kept causal).
#[derive(Debug)]
pub struct BertForSequenceClassification {
    /// The encoder with its pooler, under `bert.`.
    pub bert: BertModel,
    classifier: Linear,
    dropout: f64,
    /// Which state goes through the pooler.
    pub pooling: Pooling,
}

impl BertForSequenceClassification {
    /// `num_labels` classes; the classifier is `classifier.{weight,bias}`.
    pub fn new(root: &nn::Path, c: &BertConfig, num_labels: i64) -> Self {
        BertForSequenceClassification {
            bert: BertModel::new(root / "bert", c, true),
            classifier: Linear::new(root / "classifier", c.hidden_size, num_labels, c.initializer_range),
            dropout: classifier_dropout(c),
            pooling: Pooling::Cls,
        }
    }

    /// Logits [B, num_labels].
    pub fn forward_t(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> Result<Tensor> {
        let out = self.bert.forward_t(inputs, mask, train)?;
        let h = &out.last_hidden_state;
        let pooled = match self.pooling {
            Pooling::Cls => out.pooler_output.unwrap_or_else(|| h.select(1, 0)),
            Pooling::Mean | Pooling::Last => {
                let (b, t) = inputs.input_ids.size2()?;
                let real = match inputs.attention_mask {
                    Some(m) => m.to_kind(h.kind()),
                    None => Tensor::ones([b, t], (h.kind(), h.device())),
                };
                let state = if self.pooling == Pooling::Mean {
                    (h * real.unsqueeze(-1)).sum_dim_intlist(1, false, h.kind())
                        / real.sum_dim_intlist(1, true, h.kind())
                } else {
                    let last = (real.sum_dim_intlist(1, false, tch::Kind::Int64) - 1).clamp_min(0);
                    h.gather(1, &last.view([b, 1, 1]).expand([b, 1, h.size()[2]], false), false).squeeze_dim(1)
                };
                self.bert.pool(&state).unwrap_or(state)
            }
        };
        Ok(self.classifier.forward(&dropout(&pooled, self.dropout, train)))
    }
}

/// `BertForTokenClassification`: a linear classifier on every token's state.
#[derive(Debug)]
pub struct BertForTokenClassification {
    /// The encoder (no pooler), under `bert.`.
    pub bert: BertModel,
    classifier: Linear,
    dropout: f64,
}

impl BertForTokenClassification {
    /// `num_labels` tags; the classifier is `classifier.{weight,bias}`.
    pub fn new(root: &nn::Path, c: &BertConfig, num_labels: i64) -> Self {
        BertForTokenClassification {
            bert: BertModel::new(root / "bert", c, false),
            classifier: Linear::new(root / "classifier", c.hidden_size, num_labels, c.initializer_range),
            dropout: classifier_dropout(c),
        }
    }

    /// Logits [B, T, num_labels].
    pub fn forward_t(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> Result<Tensor> {
        let h = self.bert.forward_t(inputs, mask, train)?.last_hidden_state;
        Ok(self.classifier.forward(&dropout(&h, self.dropout, train)))
    }
}

/// `BertForQuestionAnswering`: start and end logits from `qa_outputs`.
#[derive(Debug)]
pub struct BertForQuestionAnswering {
    /// The encoder (no pooler), under `bert.`.
    pub bert: BertModel,
    qa_outputs: Linear,
}

impl BertForQuestionAnswering {
    /// The head is `qa_outputs.{weight,bias}` with two outputs.
    pub fn new(root: &nn::Path, c: &BertConfig) -> Self {
        BertForQuestionAnswering {
            bert: BertModel::new(root / "bert", c, false),
            qa_outputs: Linear::new(root / "qa_outputs", c.hidden_size, 2, c.initializer_range),
        }
    }

    /// (start logits, end logits), each [B, T].
    pub fn forward_t(&self, inputs: Inputs, mask: AttentionMask, train: bool) -> Result<(Tensor, Tensor)> {
        let h = self.bert.forward_t(inputs, mask, train)?.last_hidden_state;
        let logits = self.qa_outputs.forward(&h);
        Ok((logits.select(2, 0).contiguous(), logits.select(2, 1).contiguous()))
    }
}
