//! `y = x W^T + b` (PyTorch's layout, `W: [out, in]`) and its backward pass, on f32 with the
//! `gemm` crate directly: the bias is written into the output before the product accumulates
//! onto it, the weight may be any strided view (a transposed or sliced composed weight is read
//! in place), and nothing is zero-filled and copied the way burn's matmul output is.

use rayon::prelude::*;

use super::isa::{multiversion, ROWS_PER_TASK};

/// A strided f32 matrix view: element (r, c) at `data[r * rs + c * cs]`.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: isize,
    pub cs: isize,
}

impl Strided<'_> {
    /// Checks that every element lies inside `data` (strides are non-negative).
    fn check(&self) {
        assert!(self.rs >= 0 && self.cs >= 0, "negative strides");
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs as usize + (self.cols - 1) * self.cs as usize;
            assert!(last < self.data.len(), "strided view out of bounds");
        }
    }
}

/// Parallelize one product inside gemm only when it is big enough to pay for the threads.
fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m * n * k >= 64 * 64 * 64 * 8 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// y `[rows, out]` = x `[rows, in]` (contiguous) W^T + b.
pub fn forward(x: &[f32], w: Strided, b: &[f32], y: &mut [f32]) {
    w.check();
    let (n_out, n_in) = (w.rows, w.cols);
    assert_eq!(b.len(), n_out);
    assert_eq!(x.len() % n_in, 0);
    let rows = x.len() / n_in;
    assert_eq!(y.len(), rows * n_out);
    y.par_chunks_mut(n_out * 256).for_each(|y| {
        for row in y.chunks_exact_mut(n_out) {
            row.copy_from_slice(b);
        }
    });
    // SAFETY: shapes and strides checked above; y does not alias x or W.
    unsafe {
        gemm::gemm(
            rows,
            n_out,
            n_in,
            y.as_mut_ptr(),
            1,
            n_out as isize,
            true,
            x.as_ptr(),
            1,
            n_in as isize,
            w.data.as_ptr(),
            w.rs,
            w.cs, // rhs = W^T: element (i, o) = W[o, i]
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism(rows, n_out, n_in),
        );
    }
}

multiversion! {
    fn add_rows(dy: &[f32], acc: &mut [f32]) {
        let n = acc.len();
        for row in dy.chunks_exact(n) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
    }
}

/// (dx `[rows, in]`, dW `[out, in]` contiguous, db `[out]`) from dy `[rows, out]`.
pub fn backward(
    x: &[f32],
    w: Strided,
    dy: &[f32],
    need_dx: bool,
    need_dw: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>, Vec<f32>) {
    w.check();
    let (n_out, n_in) = (w.rows, w.cols);
    let rows = x.len() / n_in;
    assert_eq!(dy.len(), rows * n_out);
    let dx = need_dx.then(|| {
        let mut dx = Vec::<f32>::with_capacity(rows * n_in);
        // SAFETY: gemm with read_dst = false writes every element before anything reads it.
        unsafe {
            gemm::gemm(
                rows,
                n_in,
                n_out,
                dx.as_mut_ptr(),
                1,
                n_in as isize,
                false,
                dy.as_ptr(),
                1,
                n_out as isize,
                w.data.as_ptr(),
                w.cs,
                w.rs, // rhs = W: element (o, i)
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism(rows, n_in, n_out),
            );
            dx.set_len(rows * n_in);
        }
        dx
    });
    let dw = need_dw.then(|| {
        let mut dw = Vec::<f32>::with_capacity(n_out * n_in);
        // SAFETY: as above; lhs = dy^T: element (o, r) = dy[r, o].
        unsafe {
            gemm::gemm(
                n_out,
                n_in,
                rows,
                dw.as_mut_ptr(),
                1,
                n_in as isize,
                false,
                dy.as_ptr(),
                n_out as isize,
                1,
                x.as_ptr(),
                1,
                n_in as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism(n_out, n_in, rows),
            );
            dw.set_len(n_out * n_in);
        }
        dw
    });
    // db: per-task partial column sums over fixed row blocks, added in block order.
    let partials: Vec<Vec<f32>> = dy
        .par_chunks(ROWS_PER_TASK * 8 * n_out)
        .map(|block| {
            let mut acc = vec![0.0f32; n_out];
            add_rows(block, &mut acc);
            acc
        })
        .collect();
    let mut db = vec![0.0f32; n_out];
    for p in partials {
        for (a, v) in db.iter_mut().zip(p) {
            *a += v;
        }
    }
    (dx, dw, db)
}
