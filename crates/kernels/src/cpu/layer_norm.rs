//! LayerNorm over the last dimension on f32 rows, forward and backward, multi-threaded over rows.
//!
//! Forward: `y = (x - mean) * rstd * gamma + beta`, `rstd = 1/sqrt(var + eps)` with the biased
//! variance (PyTorch's). Backward (with `xhat = (x - mean) * rstd`, `g = dy * gamma`):
//! `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))`, `dgamma = sum_rows dy * xhat`,
//! `dbeta = sum_rows dy`. Mean and rstd are recomputed in the backward pass (one cheap pass)
//! rather than stored.

use rayon::prelude::*;

use super::isa::{dot, multiversion, sum, ROWS_PER_TASK};

/// (mean, rstd) of one row, two-pass.
#[inline(always)]
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let d = x.len() as f32;
    let mean = sum(x) / d;
    let mut acc = [0.0f32; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            let t = c[i] - mean;
            acc[i] += t * t;
        }
    }
    let mut s = 0.0;
    for &r in rest {
        s += (r - mean) * (r - mean);
    }
    let var = (acc.iter().sum::<f32>() + s) / d;
    (mean, 1.0 / (var + eps).sqrt())
}

multiversion! {
    fn forward_rows(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
        let d = gamma.len();
        for (x, y) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
            let (mean, rstd) = moments(x, eps);
            for i in 0..d {
                y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
            }
        }
    }
}

multiversion! {
    /// dx for these rows; adds this task's share of dgamma and dbeta into `dg`, `db`.
    fn backward_rows(x: &[f32], gamma: &[f32], dy: &[f32], eps: f32, dx: &mut [f32], dg: &mut [f32], db: &mut [f32], xhat: &mut [f32], g: &mut [f32]) {
        let d = gamma.len();
        for ((x, dy), dx) in x.chunks_exact(d).zip(dy.chunks_exact(d)).zip(dx.chunks_exact_mut(d)) {
            let (mean, rstd) = moments(x, eps);
            for i in 0..d {
                xhat[i] = (x[i] - mean) * rstd;
                g[i] = dy[i] * gamma[i];
                dg[i] += dy[i] * xhat[i];
                db[i] += dy[i];
            }
            let inv_d = 1.0 / d as f32;
            let mean_g = sum(g) * inv_d;
            let mean_gx = dot(g, xhat) * inv_d;
            for i in 0..d {
                dx[i] = rstd * (g[i] - mean_g - xhat[i] * mean_gx);
            }
        }
    }
}

/// x, y: `[rows, d]` row-major; gamma, beta: `[d]`.
pub fn forward(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && x.len() == y.len() && beta.len() == d);
    y.par_chunks_mut(ROWS_PER_TASK * d)
        .zip(x.par_chunks(ROWS_PER_TASK * d))
        .for_each(|(y, x)| forward_rows(x, gamma, beta, eps, y));
}

/// Returns (dgamma, dbeta) and writes dx. x, dy, dx: `[rows, d]`; gamma: `[d]`.
pub fn backward(
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
    eps: f32,
    dx: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && x.len() == dy.len() && x.len() == dx.len());
    // Per-task partial sums, then added in task order (deterministic for any thread count).
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(ROWS_PER_TASK * d)
        .zip(x.par_chunks(ROWS_PER_TASK * d))
        .zip(dy.par_chunks(ROWS_PER_TASK * d))
        .map(|((dx, x), dy)| {
            let (mut dg, mut db) = (vec![0.0; d], vec![0.0; d]);
            let (mut xhat, mut g) = (vec![0.0; d], vec![0.0; d]);
            backward_rows(x, gamma, dy, eps, dx, &mut dg, &mut db, &mut xhat, &mut g);
            (dg, db)
        })
        .collect();
    let (mut dg, mut db) = (vec![0.0f32; d], vec![0.0f32; d]);
    for (pg, pb) in partials {
        for i in 0..d {
            dg[i] += pg[i];
            db[i] += pb[i];
        }
    }
    (dg, db)
}
