//! Exact (erf) GELU and its derivative on f32 slices, vectorized and multi-threaded.
//!
//! `gelu(x) = x/2 * (1 + erf(x/sqrt 2))`, `gelu'(x) = Phi(x) + x * phi(x)` with
//! `phi(x) = e^{-x^2/2} / sqrt(2 pi)`.

use rayon::prelude::*;

use super::isa::{erf_nonneg, multiversion};

/// Elements per rayon task.
const CHUNK: usize = 16 * 1024;
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi)
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// (Phi(x), phi(x)): the standard normal CDF and density.
#[inline(always)]
fn cdf_pdf(x: f32) -> (f32, f32) {
    let z = x * FRAC_1_SQRT_2;
    let (e, g) = erf_nonneg(z.abs());
    let erf = if z < 0.0 { -e } else { e };
    (0.5 * (1.0 + erf), g * FRAC_1_SQRT_2PI)
}

multiversion! {
    fn forward_chunk(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * cdf_pdf(x).0;
        }
    }
}

multiversion! {
    fn backward_chunk(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
            let (cdf, pdf) = cdf_pdf(x);
            *dx = g * (cdf + x * pdf);
        }
    }
}

/// `y = gelu(x)`.
pub fn forward(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| forward_chunk(x, y));
}

/// `dx = dy * gelu'(x)`.
pub fn backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(x.len(), dy.len());
    assert_eq!(x.len(), dx.len());
    dx.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|((dx, x), dy)| backward_chunk(x, dy, dx));
}
