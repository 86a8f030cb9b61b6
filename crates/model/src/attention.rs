//! Self-attention (`BertSelfAttention`, `BertSelfOutput`, `BertAttention` in transformers), through
//! libtorch's fused `scaled_dot_product_attention`, with the three masks the stages need.

use tch::{nn, Device, Kind, Tensor};

use crate::config::BertConfig;
use crate::dropout::dropout;
use crate::linear::{linear, LayerNorm, Linear};

/// Which positions a token may attend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionMask {
    /// Every (non-padding) position: BERT's encoder.
    Bidirectional,
    /// Positions up to and including its own: a decoder (`BertLMHeadModel`).
    Causal,
    /// Its own and the k − 1 before it: each token sees at most k tokens, the pretraining window.
    CausalWindow(i64),
}

/// The boolean mask (true = may attend) for SDPA, or `None` with `is_causal` when the fused
/// kernels can do without one. `padding` is [B, T] with 1 for real tokens.
///
/// A query always attends to itself, so that a row is never fully masked (which would give NaN;
/// such rows are padding, whose outputs are ignored).
pub fn sdpa_mask(kind: AttentionMask, padding: Option<&Tensor>, t: i64, device: Device) -> (Option<Tensor>, bool) {
    let window = match kind {
        AttentionMask::CausalWindow(k) if k < t => Some(k),
        _ => None,
    };
    let causal = !matches!(kind, AttentionMask::Bidirectional);
    // A padding mask of all ones masks nothing: dropping it lets SDPA use its fused kernels
    // (transformers does the same). On a GPU this check costs one sync; callers without padding
    // should pass `None`.
    let padding = padding.filter(|p| p.numel() > 0 && p.min().int64_value(&[]) == 0);
    if padding.is_none() && window.is_none() {
        return (None, causal);
    }
    let i = Tensor::arange(t, (Kind::Int64, device)).unsqueeze(1); // query position, [T, 1]
    let j = Tensor::arange(t, (Kind::Int64, device)).unsqueeze(0); // key position, [1, T]
    let mut allowed = if causal { j.le_tensor(&i) } else { Tensor::ones([t, t], (Kind::Bool, device)) };
    if let Some(k) = window {
        allowed = allowed.logical_and(&(&i - &j).lt(k));
    }
    let mut allowed = allowed.view([1, 1, t, t]);
    if let Some(pad) = padding {
        let keys = pad.to_kind(Kind::Bool).view([pad.size()[0], 1, 1, t]);
        let diagonal = i.eq_tensor(&j).view([1, 1, t, t]);
        allowed = allowed.logical_and(&keys.logical_or(&diagonal));
    }
    (Some(allowed), false)
}

/// `BertAttention`: self-attention, then the output projection with residual and LayerNorm.
#[derive(Debug)]
pub struct BertAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output_dense: Linear,
    output_layer_norm: LayerNorm,
    heads: i64,
    head_dim: i64,
    attention_dropout: f64,
    hidden_dropout: f64,
}

impl BertAttention {
    /// Parameters under `attention.self.{query,key,value}` and `attention.output.{dense,LayerNorm}`.
    pub fn new(p: nn::Path, c: &BertConfig) -> Self {
        let h = c.hidden_size;
        let std = c.initializer_range;
        let s = &p / "self";
        let o = &p / "output";
        BertAttention {
            query: Linear::new(&s / "query", h, h, std),
            key: Linear::new(&s / "key", h, h, std),
            value: Linear::new(&s / "value", h, h, std),
            output_dense: Linear::new(&o / "dense", h, h, std),
            output_layer_norm: LayerNorm::new(&o / "LayerNorm", h, c.layer_norm_eps),
            heads: c.num_attention_heads,
            head_dim: c.head_dim(),
            attention_dropout: c.attention_probs_dropout_prob,
            hidden_dropout: c.hidden_dropout_prob,
        }
    }

    /// `x` [B, T, H] → [B, T, H].
    pub fn forward_t(&self, x: &Tensor, mask: &(Option<Tensor>, bool), train: bool) -> Tensor {
        let (b, t, h) = x.size3().unwrap_or((0, 0, 0));
        let kind = x.kind();
        // One matmul for Q, K and V; the parameters stay separate, under their HF names.
        let w = Tensor::cat(&[&self.query.weight, &self.key.weight, &self.value.weight], 0).to_kind(kind);
        let bias = Tensor::cat(&[&self.query.bias, &self.key.bias, &self.value.bias], 0).to_kind(kind);
        let qkv = linear(x, &w, &bias).view([b, t, 3, self.heads, self.head_dim]).permute([2, 0, 3, 1, 4]); // (3, B, nh, T, hd)
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let attention_dropout = if train { self.attention_dropout } else { 0.0 };
        let (attn_mask, is_causal) = mask;
        let y = if attention_dropout > 0.0 && x.device() == Device::Cpu {
            eager_attention(&q, &k, &v, attn_mask.as_ref(), *is_causal, attention_dropout)
        } else {
            Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                attn_mask.as_ref(),
                attention_dropout,
                *is_causal,
                None,
                false,
            )
        };
        let y = y.transpose(1, 2).contiguous().view([b, t, h]); // (B, T, H)
        let y = dropout(&self.output_dense.forward(&y), self.hidden_dropout, train);
        self.output_layer_norm.forward(&(y + x))
    }
}

/// Softmax attention written out, as transformers' eager attention, with this crate's dropout on
/// the probabilities. Used on CPU in training: there SDPA with dropout takes this same unfused
/// path, but draws its masks with libtorch's slow `bernoulli_`. `allowed` as from [`sdpa_mask`].
///
/// In f32 whatever the compute kind: SDPA's CPU kernels also work in f32 on bf16 inputs, and
/// attention scores rounded to bf16 halve the precision of the output and hurt training.
fn eager_attention(q: &Tensor, k: &Tensor, v: &Tensor, allowed: Option<&Tensor>, causal: bool, p: f64) -> Tensor {
    let kind = q.kind();
    let (q, k, v) = (q.to_kind(Kind::Float), k.to_kind(Kind::Float), v.to_kind(Kind::Float));
    let (t, head_dim) = (q.size()[2], q.size()[3]);
    let mut scores = (&q * (1.0 / (head_dim as f64).sqrt())).matmul(&k.transpose(-2, -1));
    let causal_mask = (allowed.is_none() && causal).then(|| Tensor::ones([t, t], (Kind::Bool, q.device())).tril(0));
    if let Some(allowed) = allowed.or(causal_mask.as_ref()) {
        scores = scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY);
    }
    dropout(&scores.softmax(-1, Kind::Float), p, true).matmul(&v).to_kind(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(mask: &Tensor) -> Vec<Vec<bool>> {
        let t = mask.size()[mask.dim() - 1];
        let flat = Vec::<bool>::try_from(mask.flatten(0, -1)).unwrap();
        flat.chunks(t as usize).map(|r| r.to_vec()).collect()
    }

    #[test]
    fn window_mask_limits_each_query_to_k_tokens() {
        let (mask, causal) = sdpa_mask(AttentionMask::CausalWindow(2), None, 4, Device::Cpu);
        assert!(!causal);
        let m = rows(&mask.unwrap());
        assert_eq!(m[0], vec![true, false, false, false]);
        assert_eq!(m[3], vec![false, false, true, true]);
        // A window at least as long as the sequence is plain causal, left to the fused kernel.
        let (mask, causal) = sdpa_mask(AttentionMask::CausalWindow(4), None, 4, Device::Cpu);
        assert!(mask.is_none() && causal);
    }

    #[test]
    fn eager_attention_equals_sdpa_for_every_mask() {
        let _rng = crate::global_rng();
        tch::manual_seed(3);
        let opts = (Kind::Float, Device::Cpu);
        let (q, k, v) =
            (Tensor::randn([2, 3, 5, 4], opts), Tensor::randn([2, 3, 5, 4], opts), Tensor::randn([2, 3, 5, 4], opts));
        let pad = Tensor::from_slice(&[1i64, 1, 1, 0, 0, 1, 1, 1, 1, 1]).view([2, 5]);
        for kind in [AttentionMask::Bidirectional, AttentionMask::Causal, AttentionMask::CausalWindow(2)] {
            for padding in [None, Some(&pad)] {
                let (mask, causal) = sdpa_mask(kind, padding, 5, Device::Cpu);
                let fused = Tensor::scaled_dot_product_attention(&q, &k, &v, mask.as_ref(), 0.0, causal, None, false);
                let eager = eager_attention(&q, &k, &v, mask.as_ref(), causal, 0.0);
                assert!(eager.allclose(&fused, 1e-5, 1e-6, false), "{kind:?}, padding {}", padding.is_some());
            }
        }
    }

    #[test]
    fn padding_masks_keys_but_never_a_whole_row() {
        let pad = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let (mask, _) = sdpa_mask(AttentionMask::Bidirectional, Some(&pad), 3, Device::Cpu);
        let m = rows(&mask.unwrap());
        assert_eq!(m[0], vec![true, true, false]);
        assert_eq!(m[2], vec![true, true, true]);
    }
}
