//! Learning-rate schedules: linear warm-up from 0, then cosine or linear decay to `min_lr` at
//! `total_steps`, constant after. A pure function of the step, so resuming needs no state.

use serde::{Deserialize, Serialize};

/// The shape of the decay after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// Half a cosine from `lr` to `min_lr`.
    Cosine,
    /// A straight line from `lr` to `min_lr` (HF's `linear` schedule when `min_lr` = 0).
    Linear,
    /// `lr` throughout.
    Constant,
}

/// A schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate.
    pub lr: f64,
    /// Floor reached at `total_steps`.
    pub min_lr: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// Steps of the whole run.
    pub total_steps: u64,
    /// Decay shape.
    pub decay: Decay,
}

impl Schedule {
    /// The learning rate used at optimizer step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        if self.decay == Decay::Constant || step >= self.total_steps {
            return if self.decay == Decay::Constant { self.lr } else { self.min_lr };
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = (step - self.warmup_steps) as f64 / span;
        let factor = match self.decay {
            Decay::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Decay::Linear => 1.0 - progress,
            Decay::Constant => 1.0,
        };
        self.min_lr + (self.lr - self.min_lr) * factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_peak_decay_and_floor() {
        let s = Schedule { lr: 1e-3, min_lr: 1e-4, warmup_steps: 10, total_steps: 110, decay: Decay::Cosine };
        assert!((s.lr_at(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr_at(9) - 1e-3).abs() < 1e-12, "warm-up ends at the peak");
        assert!((s.lr_at(10) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(60) - 5.5e-4).abs() < 1e-12, "half-way down the cosine");
        assert!((s.lr_at(110) - 1e-4).abs() < 1e-12);
        assert!((s.lr_at(500) - 1e-4).abs() < 1e-12);
        let l = Schedule { decay: Decay::Linear, ..s };
        assert!((l.lr_at(60) - 5.5e-4).abs() < 1e-12);
        assert!((l.lr_at(35) - (1e-4 + 9e-4 * 0.75)).abs() < 1e-12);
        let c = Schedule { decay: Decay::Constant, ..s };
        assert_eq!(c.lr_at(1000), 1e-3);
    }
}
