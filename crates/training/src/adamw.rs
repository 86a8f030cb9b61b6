//! AdamW whose state this crate owns (tch's optimizer cannot save its moments, and exact resume
//! needs them), step for step the arithmetic of `torch.optim.AdamW` (single-tensor path), plus
//! global gradient-norm clipping as `torch.nn.utils.clip_grad_norm_`.

use std::collections::BTreeMap;
use std::path::Path;

use tch::nn::VarStore;
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// Hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay, not applied to biases and LayerNorm parameters.
    pub weight_decay: f64,
}

/// One parameter and its moments.
struct Slot {
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    decay: bool,
}

/// The optimizer.
pub struct AdamW {
    config: AdamWConfig,
    slots: BTreeMap<String, Slot>,
    /// Optimizer steps taken (the bias corrections depend on it).
    pub steps: u64,
}

/// True for parameters HF trainers exclude from weight decay: biases and LayerNorm weights.
pub fn excluded_from_decay(name: &str) -> bool {
    name.ends_with("bias") || name.contains("LayerNorm")
}

impl AdamW {
    /// Moments at zero for every trainable variable of `vs`.
    pub fn new(vs: &VarStore, config: AdamWConfig) -> Self {
        let slots = vs
            .variables()
            .into_iter()
            .filter(|(_, v)| v.requires_grad())
            .map(|(name, param)| {
                let slot = Slot {
                    exp_avg: param.zeros_like(),
                    exp_avg_sq: param.zeros_like(),
                    decay: !excluded_from_decay(&name),
                    param,
                };
                (name, slot)
            })
            .collect();
        AdamW { config, slots, steps: 0 }
    }

    /// The gradients of the trainable variables, in a fixed order (for a data-parallel
    /// all-reduce; they share storage with the variables' gradients). A variable without a
    /// gradient yet gets a zero one, so that every rank reduces the same tensors.
    pub fn gradients(&self) -> Vec<Tensor> {
        self.slots
            .values()
            .map(|s| {
                if !s.param.grad().defined() {
                    (s.param.sum(Kind::Float) * 0.0).backward();
                }
                s.param.grad()
            })
            .collect()
    }

    /// Sets every gradient to zero (they accumulate over micro-steps).
    pub fn zero_grad(&self) {
        for slot in self.slots.values() {
            let mut g = slot.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// The global L2 norm of the gradients, after scaling them so that it is at most `max_norm`
    /// (no scaling when `max_norm` ≤ 0). Returns the norm before clipping.
    pub fn clip_grad_norm(&self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = self.slots.values().map(|s| s.param.grad()).filter(Tensor::defined).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm();
        let total_value = total.double_value(&[]);
        if max_norm > 0.0 {
            // As torch: `max_norm / (total + 1e-6)` is reciprocal(total + 1e-6) * max_norm, in f32.
            let coef = ((total + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_(&coef.to_kind(g.kind()));
                }
            });
        }
        total_value
    }

    /// One update with learning rate `lr`, as `torch.optim.AdamW.step`.
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let c = self.config;
        let bias_correction1 = 1.0 - c.beta1.powi(self.steps as i32);
        let bias_correction2_sqrt = (1.0 - c.beta2.powi(self.steps as i32)).sqrt();
        let step_size = lr / bias_correction1;
        tch::no_grad(|| {
            for slot in self.slots.values_mut() {
                let g = slot.param.grad();
                if !g.defined() {
                    continue;
                }
                let mut p = slot.param.shallow_clone();
                if slot.decay && c.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
                }
                let _ = slot.exp_avg.lerp_(&g, 1.0 - c.beta1);
                // addcmul/addcdiv with a value, in ATen's order: (value · t1) · t2, (value · t1) / t2.
                let _ = slot.exp_avg_sq.g_mul_scalar_(c.beta2).g_add_(&(g.g_mul_scalar(1.0 - c.beta2) * &g));
                let denom = (slot.exp_avg_sq.sqrt() / bias_correction2_sqrt) + c.eps;
                let _ = p.g_add_(&(slot.exp_avg.g_mul_scalar(-step_size) / denom));
            }
        });
    }

    /// Writes the moments (`exp_avg.<name>`, `exp_avg_sq.<name>`) and the step count; returns
    /// the file's SHA-256.
    pub fn save(&self, path: &Path) -> Result<String> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, s) in &self.slots {
            tensors.push((format!("exp_avg.{name}"), s.exp_avg.to_device(tch::Device::Cpu)));
            tensors.push((format!("exp_avg_sq.{name}"), s.exp_avg_sq.to_device(tch::Device::Cpu)));
        }
        tensors.push(("steps".into(), Tensor::from_slice(&[self.steps as i64])));
        model::weights::save_tensors(&tensors, path).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("writing the optimizer state: {e}"),
        })
    }

    /// Restores what [`AdamW::save`] wrote; every parameter must be there with its shape.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
        let stored: BTreeMap<String, Tensor> = Tensor::read_safetensors(path)
            .map_err(|e| fail(format!("reading the optimizer state: {e}")))?
            .into_iter()
            .collect();
        let steps = stored.get("steps").ok_or_else(|| fail("no `steps` tensor".into()))?;
        for (name, s) in self.slots.iter_mut() {
            for (key, dst) in [("exp_avg", &mut s.exp_avg), ("exp_avg_sq", &mut s.exp_avg_sq)] {
                let src = stored.get(&format!("{key}.{name}")).ok_or_else(|| fail(format!("no {key}.{name}")))?;
                if src.size() != dst.size() {
                    return Err(fail(format!("{key}.{name} has shape {:?}, expected {:?}", src.size(), dst.size())));
                }
                tch::no_grad(|| dst.copy_(&src.to_kind(Kind::Float)));
            }
        }
        self.steps = steps.int64_value(&[0]) as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::{self, OptimizerConfig};
    use tch::Device;

    /// libtorch's own C++ `torch::optim::AdamW` (through tch) is the reference arithmetic.
    #[test]
    fn matches_libtorch_adamw_with_decay_exclusions_and_clipping() {
        let build = || {
            let vs = VarStore::new(Device::Cpu);
            let root = vs.root();
            tch::manual_seed(0);
            let w = (&root / "dense").var("weight", &[8, 4], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
            let b = (&root / "dense").set_group(1).var("bias", &[8], nn::Init::Randn { mean: 0.0, stdev: 1.0 });
            (vs, w, b)
        };
        let (ours_vs, ow, ob) = build();
        let (ref_vs, rw, rb) = build();
        let cfg = AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 };
        let mut ours = AdamW::new(&ours_vs, cfg);
        let mut reference =
            nn::AdamW { beta1: 0.9, beta2: 0.95, wd: 0.1, eps: 1e-8, amsgrad: false }.build(&ref_vs, 1e-2).unwrap();
        reference.set_weight_decay_group(1, 0.0);
        let x = Tensor::randn([16, 4], (Kind::Float, Device::Cpu));
        for step in 0..5 {
            let lr = 1e-2 * (step + 1) as f64;
            ours.zero_grad();
            (x.matmul(&ow.tr()) + &ob).square().sum(Kind::Float).backward();
            let norm = ours.clip_grad_norm(1.0);
            assert!(norm > 1.0, "the test should exercise clipping");
            ours.step(lr);

            reference.zero_grad();
            (x.matmul(&rw.tr()) + &rb).square().sum(Kind::Float).backward();
            reference.clip_grad_norm(1.0);
            reference.set_lr(lr);
            reference.step();
            assert!(ow.allclose(&rw, 1e-6, 1e-7, false), "weights differ at step {step}");
            assert!(ob.allclose(&rb, 1e-6, 1e-7, false), "biases differ at step {step}");
        }
        assert_eq!(ours.steps, 5);

        // State round trip.
        let tmp = tempfile::tempdir().unwrap();
        ours.save(&tmp.path().join("o.safetensors")).unwrap();
        let mut again = AdamW::new(&ours_vs, cfg);
        again.load(&tmp.path().join("o.safetensors")).unwrap();
        assert_eq!(again.steps, 5);
        for (name, slot) in &ours.slots {
            assert!(
                slot.exp_avg.equal(&again.slots[name].exp_avg) && slot.exp_avg_sq.equal(&again.slots[name].exp_avg_sq)
            );
        }
    }
}
