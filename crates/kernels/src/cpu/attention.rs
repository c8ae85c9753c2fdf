//! Multi-head self-attention straight from timm's fused qkv activations, forward and backward.
//!
//! Input `qkv: [B, N, 3D]` (the output of the qkv linear: columns `[q | k | v]`, each head-major,
//! head `h` at columns `h*hd .. (h+1)*hd`). Output `[B, N, D]` with head `h` at the same columns,
//! i.e. timm's `(attn @ v).transpose(1, 2).reshape(B, N, D)`. No permute copies: the small
//! per-head products read and write those strided views directly. Work is split over the batch,
//! one rayon task per image, so every task owns its output rows.
//!
//! Forward per head: `S = scale * Q K^T`, `P = softmax(S)` (kept for the backward pass),
//! `O = P V`. Backward: `dP = dO V^T`, `dS = P * (dP - rowsum(dP * P))`,
//! `dQ = scale * dS K`, `dK = scale * dS^T Q`, `dV = P^T dO`.

use rayon::prelude::*;

use super::isa::{dot, exp, multiversion, sum};

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dims {
    pub batch: usize,
    pub tokens: usize,
    pub heads: usize,
    pub head_dim: usize,
}

impl Dims {
    pub fn width(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// `dst = alpha * dst + beta * lhs @ rhs` on strided f32 matrices (`cs`: column stride,
/// `rs`: row stride, in elements), single-threaded (callers parallelize over the batch).
///
/// # Safety
/// Every pointer must be valid for the `m x k`, `k x n`, `m x n` extents its strides describe,
/// and `dst` must not alias `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_cs: isize,
    dst_rs: isize,
    accumulate: bool,
    lhs: *const f32,
    lhs_cs: isize,
    lhs_rs: isize,
    rhs: *const f32,
    rhs_cs: isize,
    rhs_rs: isize,
    beta: f32,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            accumulate,
            lhs,
            lhs_cs,
            lhs_rs,
            rhs,
            rhs_cs,
            rhs_rs,
            1.0f32,
            beta,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Largest element (16 lanes, so it vectorizes).
#[inline(always)]
fn max_of(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            acc[i] = acc[i].max(c[i]);
        }
    }
    rest.iter()
        .chain(acc.iter())
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

multiversion! {
    /// Row-wise softmax of an `[n, n]` block in place.
    fn softmax_rows(s: &mut [f32], n: usize) {
        for row in s.chunks_exact_mut(n) {
            let max = max_of(row);
            for v in row.iter_mut() {
                *v = exp(*v - max);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

multiversion! {
    /// `dP <- P * (dP - rowsum(dP * P))` for an `[n, n]` block.
    fn softmax_backward_rows(p: &[f32], dp: &mut [f32], n: usize) {
        for (p, dp) in p.chunks_exact(n).zip(dp.chunks_exact_mut(n)) {
            let s = dot(p, dp);
            for i in 0..n {
                dp[i] = p[i] * (dp[i] - s);
            }
        }
    }
}

/// Returns (out `[B, N, D]`, probabilities `[B, H, N, N]`).
pub fn forward(qkv: &[f32], dims: Dims, scale: f32) -> (Vec<f32>, Vec<f32>) {
    let Dims {
        batch,
        tokens: n,
        heads,
        head_dim: hd,
    } = dims;
    let d = dims.width();
    assert_eq!(qkv.len(), batch * n * 3 * d);
    // SAFETY: both are fully written below (every head's block of every row, by gemm products
    // that do not read their destination) before anything reads them.
    let (mut out, mut probs) = unsafe {
        (
            super::uninit_vec(batch * n * d),
            super::uninit_vec(batch * heads * n * n),
        )
    };
    out.par_chunks_mut(n * d)
        .zip(probs.par_chunks_mut(heads * n * n))
        .enumerate()
        .for_each(|(b, (out, probs))| {
            let qkv = &qkv[b * n * 3 * d..(b + 1) * n * 3 * d];
            let row = (3 * d) as isize;
            for h in 0..heads {
                let p = &mut probs[h * n * n..(h + 1) * n * n];
                let (q, k, v) = (
                    qkv[h * hd..].as_ptr(),
                    qkv[d + h * hd..].as_ptr(),
                    qkv[2 * d + h * hd..].as_ptr(),
                );
                // SAFETY: q/k/v are [n, hd] views with row stride 3D inside this image's qkv rows;
                // p is an owned [n, n] block; the output view [n, hd] (row stride D) lies in `out`.
                unsafe {
                    // S = scale * Q K^T  (rhs = K^T: element (c, j) = k[j, c] -> cs 3D, rs 1)
                    matmul(
                        n,
                        n,
                        hd,
                        p.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        q,
                        1,
                        row,
                        k,
                        row,
                        1,
                        scale,
                    );
                }
                softmax_rows(p, n);
                unsafe {
                    // O = P V
                    matmul(
                        n,
                        hd,
                        n,
                        out[h * hd..].as_mut_ptr(),
                        1,
                        d as isize,
                        false,
                        p.as_ptr(),
                        1,
                        n as isize,
                        v,
                        1,
                        row,
                        1.0,
                    );
                }
            }
        });
    (out, probs)
}

/// Gradient with respect to `qkv` (`[B, N, 3D]`), given the forward's inputs and probabilities
/// and the output gradient `dout: [B, N, D]`.
pub fn backward(qkv: &[f32], probs: &[f32], dout: &[f32], dims: Dims, scale: f32) -> Vec<f32> {
    let Dims {
        batch,
        tokens: n,
        heads,
        head_dim: hd,
    } = dims;
    let d = dims.width();
    assert_eq!(qkv.len(), batch * n * 3 * d);
    assert_eq!(probs.len(), batch * heads * n * n);
    assert_eq!(dout.len(), batch * n * d);
    // SAFETY: fully written below (dq, dk and dv of every head, by gemm products that do not
    // read their destination) before anything reads it.
    let mut dqkv = unsafe { super::uninit_vec(batch * n * 3 * d) };
    dqkv.par_chunks_mut(n * 3 * d)
        .enumerate()
        .for_each(|(b, dqkv)| {
            let qkv = &qkv[b * n * 3 * d..(b + 1) * n * 3 * d];
            let dout = &dout[b * n * d..(b + 1) * n * d];
            let row = (3 * d) as isize;
            let nn = n as isize;
            // SAFETY: each head's dP product writes all of it before it is read.
            let mut ds = unsafe { super::uninit_vec(n * n) };
            for h in 0..heads {
                let p = &probs[(b * heads + h) * n * n..(b * heads + h + 1) * n * n];
                let (q, k, v) = (
                    qkv[h * hd..].as_ptr(),
                    qkv[d + h * hd..].as_ptr(),
                    qkv[2 * d + h * hd..].as_ptr(),
                );
                let d_o = dout[h * hd..].as_ptr();
                // SAFETY: all views are [n, hd] (row stride 3D or D) or [n, n] blocks inside the
                // slices borrowed above; the destinations (ds, this image's dqkv) alias no input.
                unsafe {
                    // dP = dO V^T
                    matmul(
                        n,
                        n,
                        hd,
                        ds.as_mut_ptr(),
                        1,
                        nn,
                        false,
                        d_o,
                        1,
                        d as isize,
                        v,
                        row,
                        1,
                        1.0,
                    );
                }
                softmax_backward_rows(p, &mut ds, n);
                unsafe {
                    // dQ = scale * dS K
                    matmul(
                        n,
                        hd,
                        n,
                        dqkv[h * hd..].as_mut_ptr(),
                        1,
                        row,
                        false,
                        ds.as_ptr(),
                        1,
                        nn,
                        k,
                        1,
                        row,
                        scale,
                    );
                    // dK = scale * dS^T Q  (lhs = dS^T: element (i, c) = ds[c, i] -> cs n, rs 1)
                    matmul(
                        n,
                        hd,
                        n,
                        dqkv[d + h * hd..].as_mut_ptr(),
                        1,
                        row,
                        false,
                        ds.as_ptr(),
                        nn,
                        1,
                        q,
                        1,
                        row,
                        scale,
                    );
                    // dV = P^T dO
                    matmul(
                        n,
                        hd,
                        n,
                        dqkv[2 * d + h * hd..].as_mut_ptr(),
                        1,
                        row,
                        false,
                        p.as_ptr(),
                        nn,
                        1,
                        d_o,
                        1,
                        d as isize,
                        1.0,
                    );
                }
            }
        });
    dqkv
}
