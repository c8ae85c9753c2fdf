//! Initial factors so that composed blocks start at timm's scale (std .02): U and V with
//! orthonormal columns, `X ~ N(0, 1/r1)`, `G ~ N(0, (0.02 D)^2 / (r2 r3))`. With orthonormal
//! U and V, `U M V^T` keeps the Frobenius norm of M, and `M = sum_a X[i, a] G[a]` has entries of
//! variance `(0.02 D)^2 / (r2 r3)`, so each `D x D` block has entries of variance `0.02^2`.

use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Row-major `[rows, cols]` with orthonormal columns (Gram-Schmidt of a Gaussian matrix, in
/// f64). When `cols > rows` the rows are orthonormal instead.
pub fn orthonormal(rows: usize, cols: usize, rng: &mut impl Rng) -> Vec<f32> {
    if cols > rows {
        let t = orthonormal(cols, rows, rng);
        let mut out = vec![0.0; rows * cols];
        for i in 0..cols {
            for j in 0..rows {
                out[j * cols + i] = t[i * rows + j];
            }
        }
        return out;
    }
    let n = Normal::new(0.0f64, 1.0).expect("valid");
    // columns as vectors
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(cols);
    while q.len() < cols {
        let mut c: Vec<f64> = (0..rows).map(|_| n.sample(rng)).collect();
        for _ in 0..2 {
            // two passes of modified Gram-Schmidt for accuracy
            for b in &q {
                let dot: f64 = c.iter().zip(b).map(|(x, y)| x * y).sum();
                c.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
            }
        }
        let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-6 {
            c.iter_mut().for_each(|x| *x /= norm);
            q.push(c);
        }
    }
    let mut out = vec![0.0f32; rows * cols];
    for (j, c) in q.iter().enumerate() {
        for i in 0..rows {
            out[i * cols + j] = c[i] as f32;
        }
    }
    out
}

/// `n` samples of N(0, std^2).
pub fn gaussian(n: usize, std: f64, rng: &mut impl Rng) -> Vec<f32> {
    let d = Normal::new(0.0f64, std).expect("finite std");
    (0..n).map(|_| d.sample(rng) as f32).collect()
}

/// Standard deviation of G's entries for width `d` and ranks r2, r3.
pub fn template_std(d: usize, r2: usize, r3: usize) -> f64 {
    0.02 * d as f64 / ((r2 * r3) as f64).sqrt()
}
