//! DDPM's training objective with epsilon prediction: noise clean images `x_0` to a uniformly
//! drawn timestep in one jump, `x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps`, and
//! regress the noise, `|| eps - eps_theta(x_t, t, y) ||^2` (mean over every value). For
//! classifier-free guidance each label is replaced by "no class" with probability
//! `label_dropout` (Ho & Salimans 2022; DiT's 0.1).

use burn::prelude::*;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::dit::Dit;
use crate::schedule::NoiseSchedule;

/// One training batch, noised.
pub struct Noised {
    /// `[B, C, H, W]`.
    pub x_t: Tensor<4>,
    /// `[B, C, H, W]`: the noise that was added (the regression target).
    pub eps: Tensor<4>,
    /// `[B]`.
    pub t: Vec<usize>,
    /// `[B]`: the conditioning labels (`classes` for "no class").
    pub labels: Vec<usize>,
}

/// Standard normal values drawn from `rng`, `n` of them.
pub fn gaussian(n: usize, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// Noises clean images `x0` `[B, C, H, W]` (in [-1, 1]) with labels `[B]`: per sample a
/// timestep uniform in `0..T`, standard normal noise, and the label dropped to "no class"
/// (`classes`) with probability `label_dropout`, all drawn from `rng` in that order.
pub fn noise_batch(
    x0: Tensor<4>,
    labels: &[u32],
    schedule: &NoiseSchedule,
    classes: usize,
    label_dropout: f64,
    rng: &mut impl Rng,
) -> Noised {
    let dims = x0.dims();
    let [b, c, h, w] = dims;
    let device = x0.device();
    let t: Vec<usize> = (0..b)
        .map(|_| rng.random_range(0..schedule.len()))
        .collect();
    let eps = Tensor::<4>::from_data(TensorData::new(gaussian(b * c * h * w, rng), dims), &device);
    let labels = labels
        .iter()
        .map(|&l| {
            if rng.random::<f64>() < label_dropout {
                classes
            } else {
                l as usize
            }
        })
        .collect();
    let (a, s): (Vec<f32>, Vec<f32>) = t
        .iter()
        .map(|&t| {
            let (a, s) = schedule.noise_coefficients(t);
            (a as f32, s as f32)
        })
        .unzip();
    let per_sample =
        |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [b, 1, 1, 1]), &device);
    let x_t = x0 * per_sample(a) + eps.clone() * per_sample(s);
    Noised {
        x_t,
        eps,
        t,
        labels,
    }
}

/// The epsilon-prediction loss of `model` on a noised batch: mean squared error, `[1]`.
pub fn loss(model: &Dit, batch: Noised) -> Tensor<1> {
    let pred = model.forward(batch.x_t, &batch.t, &batch.labels);
    (pred - batch.eps).powi_scalar(2).mean()
}
