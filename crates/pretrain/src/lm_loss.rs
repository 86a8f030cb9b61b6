//! The LM head and its loss, forward and backward, in chunks of rows.
//!
//! A plain head materialises [tokens × vocabulary] logits in f32, their log-softmax and their
//! gradient, which dominates memory and time for small models and large vocabularies. Here only
//! positions with a target go through the head (15% of them for MLM), chunk by chunk: each
//! chunk's logits are created, differentiated and freed before the next, then the accumulated
//! gradient of the transformed states flows back through the encoder in one call. The result is
//! the same gradient as `cross_entropy(head(h), labels)`.

use model::BertForLM;
use tch::{Kind, Tensor};

use crate::batch::IGNORE;

/// Rows of the head computed at once.
pub const CHUNK_ROWS: i64 = 1024;

/// Back-propagates `scale` × the summed cross-entropy of the LM head over `hidden` [B, T, H]
/// (the encoder's output, still attached to its graph) against `labels` [B, T]; returns the
/// summed, unscaled loss (detached).
pub fn backward_lm_loss(model: &BertForLM, hidden: &Tensor, labels: &Tensor, scale: f64) -> Tensor {
    let width = hidden.size()[hidden.dim() - 1];
    let labels = labels.view([-1]);
    let keep = labels.ne(IGNORE).nonzero().squeeze_dim(1);
    let hidden = hidden.view([-1, width]).index_select(0, &keep);
    let labels = labels.index_select(0, &keep);
    // The transform runs on all kept rows at once; the graph is cut after it so that the
    // vocabulary projection can be differentiated chunk by chunk.
    let transformed = model.head.transform(&hidden);
    let cut = transformed.detach().set_requires_grad(true);
    let n = cut.size()[0];
    let mut total = Tensor::zeros([], (Kind::Float, cut.device()));
    let mut start = 0;
    while start < n {
        let len = CHUNK_ROWS.min(n - start);
        let logits = model.head.decode(&cut.narrow(0, start, len), &model.bert.embeddings.word_embeddings);
        let loss = logits.to_kind(Kind::Float).cross_entropy_loss::<Tensor>(
            &labels.narrow(0, start, len),
            None,
            tch::Reduction::Sum,
            IGNORE,
            0.0,
        );
        (&loss * scale).backward();
        total += loss.detach();
        start += len;
    }
    if n > 0 {
        // d(sum(transformed ⊙ g))/d(transformed) = g: continues the backward pass from the cut.
        (transformed * cut.grad()).sum(Kind::Float).backward();
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{AttentionMask, BertConfig, Inputs};
    use tch::nn::VarStore;
    use tch::Device;

    #[test]
    fn chunked_gradients_equal_the_plain_head_and_loss() {
        let config = BertConfig {
            vocab_size: 300,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 48,
            max_position_embeddings: 200,
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            ..BertConfig::default()
        };
        tch::manual_seed(4);
        let vs = VarStore::new(Device::Cpu);
        let model = BertForLM::new(&vs.root(), &config);
        let ids = Tensor::randint_low(5, 300, [8, 160], (Kind::Int64, Device::Cpu));
        // Some positions without a target, as with MLM; more than one chunk of kept rows.
        let labels = ids.where_self(&ids.remainder(7).ne(0), &Tensor::from(IGNORE));
        let scale = 1.0 / 999.0;
        let grads = |vs: &VarStore| -> Vec<(String, Tensor)> {
            let mut g: Vec<_> = vs.variables().into_iter().map(|(n, v)| (n, v.grad().copy())).collect();
            g.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, v) in vs.variables() {
                let _ = v.grad().zero_();
            }
            g
        };
        let logits = model.forward_t(Inputs::ids(&ids), AttentionMask::Causal, true).unwrap();
        let plain = crate::batch::summed_cross_entropy(&logits, &labels);
        (&plain * scale).backward();
        let want = grads(&vs);
        let hidden = model.bert.forward_t(Inputs::ids(&ids), AttentionMask::Causal, true).unwrap().last_hidden_state;
        let chunked = backward_lm_loss(&model, &hidden, &labels, scale);
        let got = grads(&vs);
        assert!((plain.double_value(&[]) - chunked.double_value(&[])).abs() < 1e-3);
        for ((name, a), (_, b)) in want.iter().zip(&got) {
            assert!(a.allclose(b, 1e-4, 1e-7, false), "{name}: max diff {}", (a - b).abs().max().double_value(&[]));
        }
    }
}
