//! Inverted dropout: keep each element with probability 1 − p and scale it by 1/(1 − p), the
//! same distribution as `torch.nn.functional.dropout`.
//!
//! On CUDA this is libtorch's fused kernel. On CPU libtorch draws one number per element from a
//! single Mersenne Twister on one thread (`bernoulli_`), a large share of a small BERT's training
//! step. Here the keep-mask is built by [`keep_mask`] from a xoshiro256++ stream in parallel
//! chunks, 16 bits per element, several times faster (figures: docs/benchmarks.md, model).
//!
//! Reproducibility is kept: each call takes one 64-bit seed from libtorch's global generator, so
//! `tch::manual_seed` fixes every mask and a saved generator state resumes them exactly; the mask
//! is a pure function of (seed, number of elements), whatever the thread count.

use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use tch::{Device, Kind, Tensor};

/// Applies dropout with probability `p` when `train`, else returns `x`.
pub fn dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return x.shallow_clone();
    }
    if x.device() != Device::Cpu || p >= 1.0 {
        return x.dropout(p, train);
    }
    let mask = keep_mask(&x.size(), p);
    if x.kind() == Kind::Float {
        x * mask
    } else {
        (x.to_kind(Kind::Float) * mask).to_kind(x.kind())
    }
}

/// Elements per independent random stream: fixed, so the mask does not depend on the threads.
const STREAM_LEN: usize = 1 << 14;

/// A CPU f32 tensor of `shape` holding 0 with probability p and 1/(1 − p) otherwise.
///
/// p is rounded to a multiple of 2⁻¹⁶ (0.1 becomes 0.0999908) and the scale is computed from the
/// rounded value, so the mask's expectation is exactly 1.
pub fn keep_mask(shape: &[i64], p: f64) -> Tensor {
    let threshold = (p * 65536.0).round().clamp(0.0, 65535.0) as u64;
    let scale = (65536.0 / (65536 - threshold) as f64) as f32;
    let seed = Tensor::randint(i64::MAX, [1], (Kind::Int64, Device::Cpu)).int64_value(&[0]) as u64;
    let mask = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    let n = mask.numel();
    // SAFETY: `mask` was just allocated: a contiguous CPU f32 buffer of exactly `n` elements,
    // not shared with any other tensor, and it outlives `values`.
    let values: &mut [f32] = unsafe { std::slice::from_raw_parts_mut(mask.data_ptr() as *mut f32, n) };
    values.par_chunks_mut(STREAM_LEN).enumerate().for_each(|(stream, chunk)| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for four in chunk.chunks_mut(4) {
            let bits = rng.next_u64();
            for (i, v) in four.iter_mut().enumerate() {
                *v = if (bits >> (16 * i)) & 0xFFFF >= threshold { scale } else { 0.0 };
            }
        }
    });
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_minus_p_scaled_and_passes_gradients() {
        let _rng = crate::global_rng();
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

    #[test]
    fn mask_follows_the_seed_not_the_threads_and_streams_differ() {
        let _rng = crate::global_rng();
        // Several tests share libtorch's global generator: compare masks drawn back to back.
        let draw = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            tch::manual_seed(7);
            pool.install(|| keep_mask(&[3, STREAM_LEN as i64], 0.1))
        };
        let (one, four) = (draw(1), draw(4));
        assert!(one.equal(&four));
        // Each row is its own stream: no two rows repeat each other.
        assert!(!one.get(0).equal(&one.get(1)) && !one.get(1).equal(&one.get(2)));
        let kept = one.ne(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        // Unbiased: the scale matches the rounded probability.
        let expected = 65536.0 / (65536.0 - 6554.0);
        assert!((one.max().double_value(&[]) - expected).abs() < 1e-6);
    }

    #[test]
    fn bf16_inputs_keep_their_kind() {
        let _rng = crate::global_rng();
        let x = Tensor::ones([64, 64], (Kind::BFloat16, Device::Cpu));
        assert_eq!(dropout(&x, 0.1, true).kind(), Kind::BFloat16);
    }
}
