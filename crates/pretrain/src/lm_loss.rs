//! The LM head and its loss, forward and backward, in chunks of rows, with the cross-entropy's
//! gradient written out.
//!
//! A plain head materialises [tokens × vocabulary] logits in f32, their log-softmax and their
//! gradient, which dominates memory and time for small models and large vocabularies. Here only
//! positions with a target go through the head (15% of them for MLM), chunk by chunk, and the
//! vocabulary projection is differentiated by hand: the gradient of the summed cross-entropy with
//! respect to a row's logits is softmax − one-hot, computed in the softmax's own buffer, so each
//! chunk costs the projection's three matmuls, one fused softmax and one pass for the bias
//! gradient, where autograd adds a log-softmax backward and a zero-filled gradient buffer. The matmuls go through `model::linear`, so on CPU in f32 they
//! run on oneDNN's AVX-512 kernels like the rest of the model. The gradients of the transformed
//! states, the tied decoder weight and the bias are accumulated over the chunks, then go back
//! through the transform, the encoder and the embeddings in one backward call. The result is the
//! same gradient as `cross_entropy(head(h), labels)`.

use model::linear::{linear, linear_backward};
use model::BertForLM;
use tch::{Kind, Tensor};

use training::loss::IGNORE;

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
    let transformed = model.head.transform(&hidden);
    let weight = &model.bert.embeddings.word_embeddings;
    let bias = model.head.bias();
    let (total, grads) = tch::no_grad(|| decoder_loss_and_gradients(&transformed, weight, bias, &labels));
    if transformed.size()[0] > 0 {
        // d(Σ p ⊙ g)/dp = g: feeds each gradient into the graph, scaled, in one backward pass.
        let [g_transformed, g_weight, g_bias] = grads.map(|g| g * scale);
        let surrogate = (&transformed * g_transformed).sum(Kind::Float)
            + (weight * g_weight).sum(Kind::Float)
            + (bias * g_bias).sum(Kind::Float);
        surrogate.backward();
    }
    total
}

/// The summed cross-entropy of `x ↦ x Wᵀ + b` over rows `x` [N, H] (in the compute dtype) against
/// `labels` [N], and its gradients with respect to `x`, `W` [V, H] and `b` [V] (`W` and `b` are
/// f32 master weights, used in `x`'s dtype as the forward pass does).
fn decoder_loss_and_gradients(x: &Tensor, weight: &Tensor, bias: &Tensor, labels: &Tensor) -> (Tensor, [Tensor; 3]) {
    let kind = x.kind();
    let (w, b) = (weight.to_kind(kind), bias.to_kind(kind));
    let n = x.size()[0];
    let mut total = Tensor::zeros([], (Kind::Float, x.device()));
    let g_x = x.empty_like(); // every row is written by its chunk below
    let mut g_w = weight.zeros_like();
    let mut g_b = bias.zeros_like();
    let mut start = 0;
    while start < n {
        let len = CHUNK_ROWS.min(n - start);
        let rows = x.narrow(0, start, len);
        let targets = labels.narrow(0, start, len).unsqueeze(1);
        let mut g = linear(&rows, &w, &b).softmax(-1, Kind::Float);
        // −log p of the target, from the softmax rather than a second pass for the log-sum-exp.
        // Exact while p is a normal f32; a row whose target has p below 1.2e-38 counts 87.3 nats
        // instead of its true, larger loss (only a diverged model gets there; its gradient,
        // below, is still exact, and NaN logits still give a NaN loss).
        total -= g.gather(1, &targets, false).clamp_min(f64::from(f32::MIN_POSITIVE)).log().sum(Kind::Float);
        // softmax − one-hot: the gradient of the summed cross-entropy with respect to the logits.
        let _ = g.scatter_add_(1, &targets, &Tensor::full([len, 1], -1.0, (Kind::Float, x.device())));
        let [g_rows, g_w_chunk, g_b_chunk] = linear_backward(&rows, &w, &g);
        g_x.narrow(0, start, len).copy_(&g_rows);
        g_w += g_w_chunk.to_kind(Kind::Float);
        g_b += g_b_chunk;
        start += len;
    }
    (total, [g_x, g_w, g_b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{AttentionMask, BertConfig, Inputs};
    use tch::nn::VarStore;
    use tch::Device;

    #[test]
    fn a_vanishing_target_caps_the_loss_but_not_the_gradient_and_nan_stays_nan() {
        let opts = (Kind::Float, Device::Cpu);
        // One row, logits [0, 200]: the target 0 has p = e^-200, below f32's range.
        let x = Tensor::from_slice(&[1.0f32]).view([1, 1]);
        let weight = Tensor::from_slice(&[0.0f32, 200.0]).view([2, 1]);
        let bias = Tensor::zeros([2], opts);
        let (loss, [g_x, g_w, g_b]) = decoder_loss_and_gradients(&x, &weight, &bias, &Tensor::from_slice(&[0i64]));
        assert!((loss.double_value(&[]) - 87.336).abs() < 1e-3, "{loss}");
        // softmax − one-hot = [−1, 1]: dL/dx = −w0 + w1, dL/dW = [−x, x], dL/db = [−1, 1].
        assert!((g_x.double_value(&[0, 0]) - 200.0).abs() < 1e-4);
        assert!(g_w.allclose(&Tensor::from_slice(&[-1.0f32, 1.0]).view([2, 1]), 1e-6, 1e-6, false));
        assert!(g_b.allclose(&Tensor::from_slice(&[-1.0f32, 1.0]), 1e-6, 1e-6, false));
        let nan = Tensor::from_slice(&[f32::NAN, 0.0]).view([2, 1]);
        let (loss, _) = decoder_loss_and_gradients(&x, &nan, &bias, &Tensor::from_slice(&[1i64]));
        assert!(loss.double_value(&[]).is_nan());
    }

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
        let plain = training::loss::summed_cross_entropy(&logits, &labels);
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
