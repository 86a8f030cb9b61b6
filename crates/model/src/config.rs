//! `config.json` of a Hugging Face BERT, field for field (`transformers.BertConfig`). Fields this
//! crate does not use are kept and written back unchanged, so a checkpoint round-trips.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The activation of the intermediate layer (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HiddenAct {
    /// Exact GELU with erf (BERT's `gelu`).
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
}

/// A BERT configuration as in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Rows of the word embedding.
    #[serde(default = "d_vocab_size")]
    pub vocab_size: i64,
    /// Width of every layer.
    #[serde(default = "d_hidden_size")]
    pub hidden_size: i64,
    /// Encoder layers.
    #[serde(default = "d_num_hidden_layers")]
    pub num_hidden_layers: i64,
    /// Attention heads; must divide `hidden_size`.
    #[serde(default = "d_num_attention_heads")]
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    #[serde(default = "d_intermediate_size")]
    pub intermediate_size: i64,
    /// Feed-forward activation.
    #[serde(default = "d_hidden_act")]
    pub hidden_act: HiddenAct,
    /// Dropout after embeddings and sub-layers.
    #[serde(default = "d_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "d_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position embedding: the longest input.
    #[serde(default = "d_max_position_embeddings")]
    pub max_position_embeddings: i64,
    /// Rows of the token-type (segment) embedding.
    #[serde(default = "d_type_vocab_size")]
    pub type_vocab_size: i64,
    /// Standard deviation of the initial weights.
    #[serde(default = "d_initializer_range")]
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    #[serde(default = "d_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: i64,
    /// True for a causal (decoder) model such as `BertLMHeadModel`.
    #[serde(default)]
    pub is_decoder: bool,
    /// Dropout before a classification head; `hidden_dropout_prob` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    /// Only `"absolute"` is supported.
    #[serde(default = "d_position_embedding_type")]
    pub position_embedding_type: String,
    /// Head classes the checkpoint was saved with (e.g. `["BertForSequenceClassification"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Label names by id, for classification heads (JSON keys are strings, as in HF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// Always `"bert"`.
    #[serde(default = "d_model_type")]
    pub model_type: String,
    /// Every other field, kept as read and written back on save.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn d_vocab_size() -> i64 {
    30522
}
fn d_hidden_size() -> i64 {
    768
}
fn d_num_hidden_layers() -> i64 {
    12
}
fn d_num_attention_heads() -> i64 {
    12
}
fn d_intermediate_size() -> i64 {
    3072
}
fn d_hidden_act() -> HiddenAct {
    HiddenAct::Gelu
}
fn d_dropout() -> f64 {
    0.1
}
fn d_max_position_embeddings() -> i64 {
    512
}
fn d_type_vocab_size() -> i64 {
    2
}
fn d_initializer_range() -> f64 {
    0.02
}
fn d_layer_norm_eps() -> f64 {
    1e-12
}
fn d_position_embedding_type() -> String {
    "absolute".into()
}
fn d_model_type() -> String {
    "bert".into()
}

impl Default for BertConfig {
    fn default() -> Self {
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("every field has a default"))
    }
}

impl BertConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let config: BertConfig = serde_json::from_str(&text)
            .map_err(|e| Error::Config { path: path.to_path_buf(), reason: e.to_string() })?;
        config.validate().map_err(|reason| Error::Config { path: path.to_path_buf(), reason })?;
        Ok(config)
    }

    /// Writes `config.json` (pretty, like `save_pretrained`).
    pub fn to_file(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json(path)?).map_err(|e| Error::io(path, e))
    }

    /// The text of `config.json` (`path` only names the file in an error).
    pub fn to_json(&self, path: &Path) -> Result<String> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Config { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(text + "\n")
    }

    /// Checks the values the architecture depends on; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (key, value) in positive {
            if value <= 0 {
                return Err(format!("{key} = {value}: must be positive"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size = {} is not a multiple of num_attention_heads = {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type = {:?}: only \"absolute\" is supported",
                self.position_embedding_type
            ));
        }
        if self.model_type != "bert" {
            return Err(format!("model_type = {:?}: this is a BERT implementation", self.model_type));
        }
        for (key, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            ("attention_probs_dropout_prob", self.attention_probs_dropout_prob),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("{key} = {p}: must be in [0, 1)"));
            }
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of labels from `id2label` (HF's `num_labels`), if set.
    pub fn num_labels(&self) -> Option<i64> {
        self.id2label.as_ref().map(|m| m.len() as i64)
    }

    /// Sets `id2label`/`label2id` from label names in id order.
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = Some(labels.iter().enumerate().map(|(i, l)| (i.to_string(), l.clone())).collect());
        self.label2id = Some(labels.iter().enumerate().map(|(i, l)| (l.clone(), i as i64)).collect());
    }

    /// Label names in id order, if `id2label` is set and dense.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        (0..map.len()).map(|i| map.get(&i.to_string()).cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_defaults_and_unknown_fields_round_trip() {
        let json = r#"{"hidden_size": 384, "num_attention_heads": 12, "gradient_checkpointing": false,
                       "transformers_version": "4.8.2", "hidden_act": "gelu_new",
                       "id2label": {"0": "NEG", "1": "POS"}}"#;
        let c: BertConfig = serde_json::from_str(json).unwrap();
        assert_eq!((c.hidden_size, c.vocab_size, c.layer_norm_eps), (384, 30522, 1e-12));
        assert_eq!(c.hidden_act, HiddenAct::GeluNew);
        assert_eq!(c.head_dim(), 32);
        assert_eq!(c.labels().unwrap(), vec!["NEG", "POS"]);
        assert_eq!(c.extra["transformers_version"], "4.8.2");
        let back: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(back["gradient_checkpointing"], false);
        assert_eq!(back["hidden_act"], "gelu_new");
        c.validate().unwrap();
    }

    #[test]
    fn invalid_values_name_the_key() {
        let c = BertConfig { hidden_size: 100, num_attention_heads: 12, ..BertConfig::default() };
        assert!(c.validate().unwrap_err().contains("num_attention_heads"));
        let c = BertConfig { position_embedding_type: "relative_key".into(), ..BertConfig::default() };
        assert!(c.validate().unwrap_err().contains("position_embedding_type"));
    }
}
