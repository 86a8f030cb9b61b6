//! A linear layer that computes in its input's dtype: parameters stay f32 (the master weights)
//! and are cast on the fly, which is what bf16 autocast does, without needing it from tch.
//!
//! On CPU in f32 the product goes through oneDNN rather than libtorch's default BLAS: see
//! [`linear`].

use std::sync::OnceLock;

use tch::{nn, Device, Kind, Tensor};

/// The environment variable that picks the library of CPU f32 matmuls: `onednn` (the default
/// where libtorch was built with it) or `mkl` (libtorch's own `linear`, its BLAS).
pub const CPU_GEMM_VAR: &str = "POLYGLOT_CPU_GEMM";

/// The library that runs CPU f32 matmuls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuGemm {
    /// oneDNN's inner product (AVX-512 where the CPU has it, whatever its vendor).
    OneDnn,
    /// libtorch's `linear`: MKL's sgemm in the PyPI wheels.
    Mkl,
}

impl CpuGemm {
    /// The choice [`CPU_GEMM_VAR`] asks for, as the binaries check it at start: an unknown value,
    /// or `onednn` with a libtorch built without it, is an error naming the variable.
    pub fn from_env() -> Result<CpuGemm, String> {
        Self::parse(std::env::var(CPU_GEMM_VAR).ok().as_deref(), tch::utils::has_mkldnn())
    }

    /// oneDNN wherever libtorch has it.
    fn default_for(has_onednn: bool) -> CpuGemm {
        if has_onednn {
            CpuGemm::OneDnn
        } else {
            CpuGemm::Mkl
        }
    }

    fn parse(value: Option<&str>, has_onednn: bool) -> Result<CpuGemm, String> {
        match value.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => Ok(Self::default_for(has_onednn)),
            Some("mkl") => Ok(CpuGemm::Mkl),
            Some("onednn") if has_onednn => Ok(CpuGemm::OneDnn),
            Some("onednn") => {
                Err(format!("{CPU_GEMM_VAR}=onednn, but this libtorch was built without oneDNN: unset it"))
            }
            Some(other) => {
                Err(format!("{CPU_GEMM_VAR}={other:?} is not understood: set it to onednn or mkl, or unset it"))
            }
        }
    }
}

/// The library CPU f32 matmuls use in this process, read once from [`CPU_GEMM_VAR`]; a value
/// [`CpuGemm::from_env`] refuses falls back to the default here.
pub fn cpu_gemm() -> CpuGemm {
    static CHOICE: OnceLock<CpuGemm> = OnceLock::new();
    *CHOICE.get_or_init(|| CpuGemm::from_env().unwrap_or(CpuGemm::default_for(tch::utils::has_mkldnn())))
}

impl std::fmt::Display for CpuGemm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CpuGemm::OneDnn => "oneDNN",
            CpuGemm::Mkl => "MKL",
        })
    }
}

/// Whether a product with input `x` goes through oneDNN: CPU, f32, and oneDNN chosen.
fn on_onednn(x: &Tensor) -> bool {
    x.device() == Device::Cpu && x.kind() == Kind::Float && cpu_gemm() == CpuGemm::OneDnn
}

/// `y = x Wᵀ + b` in `x`'s dtype; `weight` and `bias` must already be in it.
///
/// On CPU in f32, libtorch's `linear` calls MKL's sgemm, which on AMD CPUs takes its AVX2 path:
/// half the FMA throughput of a Zen 5 core. oneDNN's inner product, in the same libtorch, picks
/// AVX-512 kernels there and is still exact f32 (only the summation order differs), so it
/// is used, with autograd through `to_mkldnn`/`to_dense`. On GPU, and in bf16 (where libtorch
/// already uses oneDNN), `linear` is used as is.
pub fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Tensor {
    if on_onednn(x) {
        x.to_mkldnn().mkldnn_linear(weight, Some(bias)).to_dense(None, false)
    } else {
        x.linear(weight, Some(bias))
    }
}

/// The gradients of `y = x Wᵀ + b` with respect to `x` [N, in], `weight` [out, in] and the bias,
/// given `grad_y` [N, out]: for losses whose backward is written by hand. The matmuls run in
/// `x`'s dtype (`weight` must be in it), the bias gradient is summed in f32 from `grad_y` as
/// given. Same dispatch as [`linear`]; no autograd graph is recorded.
pub fn linear_backward(x: &Tensor, weight: &Tensor, grad_y: &Tensor) -> [Tensor; 3] {
    tch::no_grad(|| {
        if on_onednn(x) {
            let grad_y = grad_y.to_kind(Kind::Float).to_mkldnn();
            let grad_x = Tensor::mkldnn_linear_backward_input(x.size(), &grad_y, weight).to_dense(None, false);
            let (grad_w, grad_b) = x.to_mkldnn().mkldnn_linear_backward_weights(&grad_y, weight, true);
            [grad_x, grad_w, grad_b]
        } else {
            let grad_b = grad_y.sum_dim_intlist(0, false, Kind::Float);
            let grad_y = grad_y.to_kind(x.kind());
            [grad_y.mm(weight), grad_y.tr().mm(x), grad_b]
        }
    })
}

/// `y = x Wᵀ + b`, with `weight` `[out, in]` and `bias` `[out]` as in `torch.nn.Linear`.
#[derive(Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`.
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
        linear(x, &self.weight.to_kind(kind), &self.bias.to_kind(kind))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `a` equals `b` up to f32 rounding in sums of a few dozen terms: |a − b| ≤ 1e-5 ×
    /// max |b| (elementwise tolerances fail on entries that cancel to nearly 0).
    fn close(a: &Tensor, b: &Tensor) -> bool {
        let max_abs = |t: &Tensor| if t.numel() == 0 { 0.0 } else { t.abs().max().double_value(&[]) };
        a.size() == b.size() && max_abs(&(a - b)) <= 1e-5 * (1.0 + max_abs(b))
    }

    /// Output and the gradients of input, weight and bias, from `f`.
    fn forward_and_gradients(f: impl Fn(&Tensor, &Tensor, &Tensor) -> Tensor, x: &Tensor) -> [Tensor; 4] {
        let opts = (Kind::Float, Device::Cpu);
        let x = x.copy().set_requires_grad(true);
        let w = Tensor::linspace(-1.0, 1.0, 48 * 32, opts).view([48, 32]).set_requires_grad(true);
        let b = Tensor::linspace(-0.5, 0.5, 48, opts).set_requires_grad(true);
        let y = f(&x, &w, &b);
        (&y * &y.sin()).sum(Kind::Float).backward();
        [y.detach(), x.grad(), w.grad(), b.grad()]
    }

    #[test]
    fn onednn_linear_equals_libtorch_linear_forward_and_backward() {
        // The pinned libtorch has oneDNN, so CPU f32 takes that path unless told otherwise.
        assert_eq!(cpu_gemm(), CpuGemm::OneDnn, "libtorch without oneDNN, or {CPU_GEMM_VAR}=mkl in the environment");
        let _rng = crate::global_rng();
        tch::manual_seed(0);
        for shape in [vec![7, 32], vec![3, 5, 32], vec![0, 32]] {
            let x = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu));
            let ours = forward_and_gradients(linear, &x);
            let blas = forward_and_gradients(|x, w, b| x.linear(w, Some(b)), &x);
            for (name, (a, b)) in ["y", "dx", "dW", "db"].iter().zip(ours.iter().zip(&blas)) {
                assert!(close(a, b), "{name} {shape:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_variable_takes_onednn_or_mkl_and_refuses_anything_else() {
        assert_eq!(CpuGemm::parse(None, true), Ok(CpuGemm::OneDnn));
        assert_eq!(CpuGemm::parse(Some(""), true), Ok(CpuGemm::OneDnn));
        assert_eq!(CpuGemm::parse(None, false), Ok(CpuGemm::Mkl));
        assert_eq!(CpuGemm::parse(Some(" MKL"), true), Ok(CpuGemm::Mkl));
        assert_eq!(CpuGemm::parse(Some("oneDNN"), true), Ok(CpuGemm::OneDnn));
        let err = CpuGemm::parse(Some("onednn"), false).unwrap_err();
        assert!(err.contains(CPU_GEMM_VAR) && err.contains("without oneDNN"), "{err}");
        let err = CpuGemm::parse(Some("blas"), true).unwrap_err();
        assert!(err.contains("POLYGLOT_CPU_GEMM=\"blas\"") && err.contains("onednn or mkl"), "{err}");
    }

    #[test]
    fn linear_backward_equals_autograd() {
        let _rng = crate::global_rng();
        tch::manual_seed(1);
        for rows in [7, 0] {
            let x = Tensor::randn([rows, 32], (Kind::Float, Device::Cpu));
            let [y, dx, dw, db] = forward_and_gradients(|x, w, b| x.linear(w, Some(b)), &x);
            // d(Σ y ⊙ sin y)/dy
            let grad_y = y.sin() + &y * y.cos();
            let w = Tensor::linspace(-1.0, 1.0, 48 * 32, (Kind::Float, Device::Cpu)).view([48, 32]);
            for (name, (a, b)) in
                ["dx", "dW", "db"].iter().zip(linear_backward(&x, &w, &grad_y).iter().zip([dx, dw, db]))
            {
                assert!(close(a, &b), "{name}, {rows} rows: {a} vs {b}");
            }
        }
    }
}
