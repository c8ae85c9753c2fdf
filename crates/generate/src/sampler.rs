//! DDIM sampling (Song et al. 2021) with classifier-free guidance.
//!
//! From pure noise `x_T`, over the timesteps `tau_S > ... > tau_1` of
//! [`NoiseSchedule::ddim_timesteps`], with `a_t = alpha_bar_t` and `a_prev` the next lower
//! visited timestep's (1 after the last):
//!
//! ```text
//! eps    = eps_u + s (eps_c - eps_u)                 (guidance scale s; s = 1: eps_c alone)
//! x0     = clip((x_t - sqrt(1 - a_t) eps) / sqrt(a_t), -1, 1)
//! sigma  = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)
//! x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z
//! ```
//!
//! `eta = 0` is deterministic DDIM (no noise after `x_T`), `eta = 1` DDPM-like. The sampler is
//! written over any noise predictor ([`ddim`]); [`sample`] runs it with a [`Dit`].

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::diffusion::gaussian;
use crate::dit::Dit;
use crate::schedule::NoiseSchedule;

/// How samples are drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// DDIM steps (1 ..= the schedule's timesteps).
    pub steps: usize,
    /// 0: deterministic DDIM; 1: as much fresh noise per step as DDPM.
    pub eta: f64,
    /// Classifier-free guidance scale (1: the conditional prediction alone, no extra forward).
    pub guidance: f64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            steps: 50,
            eta: 0.0,
            guidance: 2.0,
        }
    }
}

impl SamplerConfig {
    /// Checks the ranges (the error names the flag).
    pub fn validate(&self, timesteps: usize) -> Result<(), String> {
        if !(1..=timesteps).contains(&self.steps) {
            return Err(format!(
                "--sample-steps {} must be in 1..={timesteps}",
                self.steps
            ));
        }
        if !(0.0..=1.0).contains(&self.eta) {
            return Err(format!("--eta {} must be in [0, 1]", self.eta));
        }
        if !(self.guidance.is_finite() && self.guidance >= 0.0) {
            return Err(format!("--guidance {} must be >= 0", self.guidance));
        }
        Ok(())
    }
}

/// Runs DDIM from `x_t` (pure noise at the schedule's last visited timestep) with the noise
/// predictor `eps(x, t)` (`[B, C, H, W]` at timestep `t` -> `[B, C, H, W]`, already guided);
/// the noise of `eta > 0` comes from `rng`. Returns `x_0` `[B, C, H, W]` in [-1, 1].
pub fn ddim(
    schedule: &NoiseSchedule,
    cfg: &SamplerConfig,
    mut x: Tensor<4>,
    mut eps: impl FnMut(Tensor<4>, usize) -> Tensor<4>,
    rng: &mut ChaCha8Rng,
) -> Tensor<4> {
    let steps = schedule.ddim_timesteps(cfg.steps);
    let dims = x.dims();
    let n: usize = dims.iter().product();
    let device = x.device();
    for (i, &t) in steps.iter().enumerate().rev() {
        let a_t = schedule.alphas_cumprod[t];
        let a_prev = if i == 0 {
            1.0
        } else {
            schedule.alphas_cumprod[steps[i - 1]]
        };
        let e = eps(x.clone(), t);
        let x0 = ((x - e.clone() * (1.0 - a_t).sqrt()) / a_t.sqrt()).clamp(-1.0, 1.0);
        let sigma = cfg.eta * ((1.0 - a_prev) / (1.0 - a_t)).sqrt() * (1.0 - a_t / a_prev).sqrt();
        let dir = (1.0 - a_prev - sigma * sigma).max(0.0).sqrt();
        x = x0 * a_prev.sqrt() + e * dir;
        if sigma > 0.0 {
            let z = Tensor::<4>::from_data(TensorData::new(gaussian(n, rng), dims), &device);
            x = x + z * sigma;
        }
    }
    x.clamp(-1.0, 1.0)
}

/// The guided noise prediction of `model` for `labels` `[B]`: `eps_u + s (eps_c - eps_u)`,
/// conditional and unconditional in one forward of `2B` (just the conditional one at s = 1).
pub fn guided_eps(
    model: &Dit,
    x: Tensor<4>,
    t: usize,
    labels: &[usize],
    classes: usize,
    guidance: f64,
) -> Tensor<4> {
    let b = labels.len();
    if guidance == 1.0 {
        return model.forward(x, &vec![t; b], labels);
    }
    let both: Vec<usize> = labels.iter().copied().chain(vec![classes; b]).collect();
    let e = model.forward(Tensor::cat(vec![x.clone(), x], 0), &vec![t; 2 * b], &both);
    let (cond, uncond) = (e.clone().narrow(0, 0, b), e.narrow(0, b, b));
    uncond.clone() + (cond - uncond) * guidance
}

/// Samples one image per label `[B]` with `model` (inference device): `x_T` and the step
/// noise drawn from `seed`. Returns `[B, C, H, W]` in [-1, 1].
pub fn sample(
    model: &Dit,
    schedule: &NoiseSchedule,
    cfg: &SamplerConfig,
    labels: &[usize],
    classes: usize,
    seed: u64,
) -> Tensor<4> {
    let [gh, gw] = model.grid;
    let p = model.patch_embed.patch_size;
    let dims = [labels.len(), model.in_chans, gh * p, gw * p];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = dims.iter().product();
    let device = model.pos_embed.device();
    let x_t = Tensor::<4>::from_data(TensorData::new(gaussian(n, &mut rng), dims), &device);
    let eps = |x: Tensor<4>, t: usize| guided_eps(model, x, t, labels, classes, cfg.guidance);
    ddim(schedule, cfg, x_t, eps, &mut rng)
}
