//! The DDPM noise schedule: betas (linear or cosine), the cumulative products of the alphas
//! that noise an image in one jump, and the timesteps a DDIM sampler visits.
//!
//! Everything in f64 on the host: 1,000 numbers, read per step.
//!
//! - **linear** (Ho et al. 2020): betas evenly spaced from `1e-4 * 1000 / T` to
//!   `0.02 * 1000 / T` (improved-diffusion's scaling, the DDPM values at T = 1000);
//! - **cosine** (Nichol & Dhariwal 2021): `alpha_bar(t) = cos^2(((t / T) + s) / (1 + s) * pi/2)`,
//!   `s = 0.008`, `beta_i = min(1 - alpha_bar(i + 1) / alpha_bar(i), 0.999)`.
//!
//! `tests/schedule.rs` checks both against values written by `scripts/make_schedule_fixture.py`
//! (numpy, improved-diffusion's formulas).

use serde::{Deserialize, Serialize};

/// Which beta schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BetaSchedule {
    Linear,
    #[default]
    Cosine,
}

impl BetaSchedule {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "linear" => Ok(BetaSchedule::Linear),
            "cosine" => Ok(BetaSchedule::Cosine),
            _ => Err(format!("unknown beta schedule {s:?}: linear or cosine")),
        }
    }
}

/// The noise levels of a diffusion of `T` steps (t = 0 .. T-1, 0 the least noisy).
#[derive(Clone, Debug, PartialEq)]
pub struct NoiseSchedule {
    /// `[T]`.
    pub betas: Vec<f64>,
    /// `alpha_bar_t = prod_{i <= t} (1 - beta_i)`, `[T]`.
    pub alphas_cumprod: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule `kind` over `steps` timesteps (`steps >= 2`).
    pub fn new(kind: BetaSchedule, steps: usize) -> Self {
        assert!(steps >= 2, "a diffusion needs at least 2 timesteps");
        let t = steps as f64;
        let betas: Vec<f64> = match kind {
            BetaSchedule::Linear => {
                let scale = 1000.0 / t;
                let (lo, hi) = (scale * 1e-4, scale * 0.02);
                (0..steps)
                    .map(|i| lo + (hi - lo) * i as f64 / (t - 1.0))
                    .collect()
            }
            BetaSchedule::Cosine => {
                let alpha_bar = |x: f64| {
                    let s = 0.008;
                    ((x + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
                        .cos()
                        .powi(2)
                };
                (0..steps)
                    .map(|i| {
                        let (t1, t2) = (i as f64 / t, (i + 1) as f64 / t);
                        (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999)
                    })
                    .collect()
            }
        };
        let mut prod = 1.0;
        let alphas_cumprod = betas
            .iter()
            .map(|b| {
                prod *= 1.0 - b;
                prod
            })
            .collect();
        NoiseSchedule {
            betas,
            alphas_cumprod,
        }
    }

    /// Timesteps T.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }

    /// `(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t))`: `x_t = a x_0 + b eps`.
    pub fn noise_coefficients(&self, t: usize) -> (f64, f64) {
        let ab = self.alphas_cumprod[t];
        (ab.sqrt(), (1.0 - ab).sqrt())
    }

    /// The timesteps a DDIM sampler of `steps` steps visits, increasing: DDIM's uniform
    /// spacing `0, c, 2c, ...` with `c = T / steps` (integer division), `steps` of them
    /// (`1 <= steps <= T`). The sampler walks them from the last to the first.
    pub fn ddim_timesteps(&self, steps: usize) -> Vec<usize> {
        assert!(
            (1..=self.len()).contains(&steps),
            "DDIM steps must be in 1..={}",
            self.len()
        );
        let c = self.len() / steps;
        (0..steps).map(|i| i * c).collect()
    }
}
