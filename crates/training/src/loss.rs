//! The cross-entropy both stages train and evaluate with, and the label of positions that
//! carry no target.

use tch::{Kind, Tensor};

/// Label of positions that carry no target: PyTorch's `ignore_index` default, which
/// transformers' heads use too.
pub const IGNORE: i64 = -100;

/// Sum of the cross-entropy over positions with a target, in f32 whatever the logits' dtype.
pub fn summed_cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    let v = logits.size()[logits.dim() - 1];
    logits.to_kind(Kind::Float).view([-1, v]).cross_entropy_loss::<Tensor>(
        &labels.view([-1]),
        None,
        tch::Reduction::Sum,
        IGNORE,
        0.0,
    )
}
