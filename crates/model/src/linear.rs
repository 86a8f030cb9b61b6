//! A linear layer that computes in its input's dtype: parameters stay f32 (the master weights)
//! and are cast on the fly, which is what bf16 autocast does, without needing it from tch.

use tch::{nn, Tensor};

/// `y = x Wᵀ + b`, with `weight` [out, in] and `bias` [out] as in `torch.nn.Linear`.
#[derive(Debug)]
pub struct Linear {
    /// [out, in].
    pub weight: Tensor,
    /// [out].
    pub bias: Tensor,
}

impl Linear {
    /// HF's initialisation: weight ~ N(0, std), bias 0.
    pub fn new(p: nn::Path, input: i64, output: i64, std: f64) -> Self {
        let weight = p.var("weight", &[output, input], nn::Init::Randn { mean: 0.0, stdev: std });
        let bias = p.var("bias", &[output], nn::Init::Const(0.0));
        Linear { weight, bias }
    }

    /// Applies the layer in `x`'s dtype.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        x.linear(&self.weight.to_kind(kind), Some(self.bias.to_kind(kind)))
    }
}

/// LayerNorm computed in f32 whatever the input dtype, returned in the input's dtype.
#[derive(Debug)]
pub struct LayerNorm {
    /// Scale, initialised to 1.
    pub weight: Tensor,
    /// Shift, initialised to 0.
    pub bias: Tensor,
    eps: f64,
    size: i64,
}

impl LayerNorm {
    /// Creates `weight` and `bias` under `p` (HF names them `LayerNorm.weight/bias`).
    pub fn new(p: nn::Path, size: i64, eps: f64) -> Self {
        let weight = p.var("weight", &[size], nn::Init::Const(1.0));
        let bias = p.var("bias", &[size], nn::Init::Const(0.0));
        LayerNorm { weight, bias, eps, size }
    }

    /// Normalises the last dimension.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        x.to_kind(tch::Kind::Float)
            .layer_norm([self.size], Some(&self.weight), Some(&self.bias), self.eps, true)
            .to_kind(kind)
    }
}
