//! `BertLayer` and `BertEncoder`: attention, then the feed-forward block (`BertIntermediate`,
//! `BertOutput`) with residual and LayerNorm, repeated `num_hidden_layers` times.

use tch::{nn, Tensor};

use crate::attention::BertAttention;
use crate::config::{BertConfig, HiddenAct};
use crate::dropout::dropout;
use crate::linear::{LayerNorm, Linear};

/// Applies BERT's activation.
pub fn activation(act: HiddenAct, x: &Tensor) -> Tensor {
    match act {
        HiddenAct::Gelu => x.gelu("none"),
        HiddenAct::GeluNew => x.gelu("tanh"),
        HiddenAct::Relu => x.relu(),
    }
}

/// One encoder layer.
#[derive(Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate_dense: Linear,
    output_dense: Linear,
    output_layer_norm: LayerNorm,
    act: HiddenAct,
    dropout: f64,
}

impl BertLayer {
    /// Parameters under `attention`, `intermediate.dense` and `output.{dense,LayerNorm}`.
    pub fn new(p: nn::Path, c: &BertConfig) -> Self {
        let std = c.initializer_range;
        BertLayer {
            attention: BertAttention::new(&p / "attention", c),
            intermediate_dense: Linear::new(&p / "intermediate" / "dense", c.hidden_size, c.intermediate_size, std),
            output_dense: Linear::new(&p / "output" / "dense", c.intermediate_size, c.hidden_size, std),
            output_layer_norm: LayerNorm::new(&p / "output" / "LayerNorm", c.hidden_size, c.layer_norm_eps),
            act: c.hidden_act,
            dropout: c.hidden_dropout_prob,
        }
    }

    /// [B, T, H] → [B, T, H].
    pub fn forward_t(&self, x: &Tensor, mask: &(Option<Tensor>, bool), train: bool) -> Tensor {
        let a = self.attention.forward_t(x, mask, train);
        let h = activation(self.act, &self.intermediate_dense.forward(&a));
        let y = dropout(&self.output_dense.forward(&h), self.dropout, train);
        self.output_layer_norm.forward(&(y + a))
    }
}

/// The stack of layers (`encoder.layer.N`).
#[derive(Debug)]
pub struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// `num_hidden_layers` layers under `layer/0`, `layer/1`, ...
    pub fn new(p: nn::Path, c: &BertConfig) -> Self {
        let p = &p / "layer";
        BertEncoder { layers: (0..c.num_hidden_layers).map(|i| BertLayer::new(&p / i, c)).collect() }
    }

    /// [B, T, H] → [B, T, H].
    pub fn forward_t(&self, x: &Tensor, mask: &(Option<Tensor>, bool), train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for layer in &self.layers {
            h = layer.forward_t(&h, mask, train);
        }
        h
    }
}
