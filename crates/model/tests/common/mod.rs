//! Shared by the model crate's test binaries.

use model::BertConfig;

/// A tiny BERT: 2 layers × 32, 4 heads, vocabulary 100, 64 positions.
pub fn tiny() -> BertConfig {
    BertConfig {
        vocab_size: 100,
        hidden_size: 32,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 40,
        max_position_embeddings: 64,
        ..BertConfig::default()
    }
}
