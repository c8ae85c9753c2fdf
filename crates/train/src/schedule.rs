//! Learning rate: linear warm-up, then half-cycle cosine to `min_lr`, set per iteration.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate (after the scaling rule, if any).
    pub lr: f64,
    /// Floor of the cosine.
    pub min_lr: f64,
    /// Iterations of linear warm-up from 0 to `lr`.
    pub warmup_steps: usize,
    /// Total iterations of the run.
    pub total_steps: usize,
}

impl Schedule {
    /// The learning rate of iteration `step` (0-based): `lr * (step + 1) / warmup` during warm-up,
    /// then `min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * t))`, t in [0, 1] over the rest.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let rest = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let t = ((step - self.warmup_steps) as f64 / rest as f64).min(1.0);
        self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// MAE's scaling rule: `base_lr * batch / 256`.
pub fn scaled_lr(base_lr: f64, batch_size: usize) -> f64 {
    base_lr * batch_size as f64 / 256.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Schedule {
        Schedule {
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 10,
            total_steps: 110,
        }
    }

    #[test]
    fn warmup_is_linear_and_reaches_peak() {
        let s = s();
        assert!((s.lr_at(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr_at(4) - 5e-4).abs() < 1e-12);
        assert!((s.lr_at(9) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(10) - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn cosine_halfway_and_end() {
        let s = s();
        let mid = 1e-5 + (1e-3 - 1e-5) * 0.5;
        assert!((s.lr_at(60) - mid).abs() < 1e-12);
        assert!((s.lr_at(110) - 1e-5).abs() < 1e-12);
        assert!((s.lr_at(500) - 1e-5).abs() < 1e-12);
        // strictly decreasing after warm-up
        assert!((10..110).all(|i| s.lr_at(i + 1) < s.lr_at(i)));
    }

    #[test]
    fn no_warmup() {
        let s = Schedule {
            warmup_steps: 0,
            ..s()
        };
        assert!((s.lr_at(0) - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn scaling_rule() {
        assert_eq!(scaled_lr(1.5e-4, 512), 3e-4);
    }
}
