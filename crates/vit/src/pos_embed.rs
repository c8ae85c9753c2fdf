//! Position tables for other grids and widths: MAE's fixed 2-D sin-cos table (recomputed, never
//! sliced) and timm's bicubic resampling of a learned table (`resample_abs_pos_embed`).
//!
//! Both are computed in f64 and rounded to f32 once.

use burn::prelude::*;

/// A width the 2-D sin-cos table cannot be built for.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "sin-cos position embedding width {0} is not a positive multiple of 4 (two axes x sin/cos)"
)]
pub struct PosEmbedError(pub usize);

/// Checks that `dim` is a valid width for [`sincos_2d`].
pub fn check_dim(dim: usize) -> Result<(), PosEmbedError> {
    if dim > 0 && dim.is_multiple_of(4) {
        Ok(())
    } else {
        Err(PosEmbedError(dim))
    }
}

/// MAE's `get_2d_sincos_pos_embed(dim, grid, cls_token=True)` for a `[rows, cols]` grid:
/// `[1 + rows*cols, dim]` row-major; row 0 (class token) is zeros, row `1 + i*cols + j` is the
/// patch in grid row `i`, column `j`.
///
/// Channel layout, as MAE's numpy code (`meshgrid(w, h)`, `emb_h` from `grid[0]`): the first
/// half encodes the column `j`, the second half the row `i`; each half is `[sin(pos * w_k) for
/// k < dim/4]` then `[cos(pos * w_k)]` with `w_k = 1 / 10000^(k / (dim/4))`. For a square grid
/// this is exactly MAE's table; for other grids it is the same formula per axis.
///
/// # Panics
/// If `dim` is not a positive multiple of 4 (validate with [`check_dim`]).
pub fn sincos_2d(dim: usize, grid: [usize; 2]) -> Vec<f32> {
    if let Err(e) = check_dim(dim) {
        panic!("{e}");
    }
    let [rows, cols] = grid;
    let quarter = dim / 4;
    let omega: Vec<f64> = (0..quarter)
        .map(|k| 1.0 / 10000f64.powf(k as f64 / quarter as f64))
        .collect();
    let mut out = vec![0.0f32; (1 + rows * cols) * dim];
    for i in 0..rows {
        for j in 0..cols {
            let t = 1 + i * cols + j;
            let row = &mut out[t * dim..(t + 1) * dim];
            for (half, pos) in [(0, j as f64), (1, i as f64)] {
                let base = half * 2 * quarter;
                for (k, w) in omega.iter().enumerate() {
                    row[base + k] = (pos * w).sin() as f32;
                    row[base + quarter + k] = (pos * w).cos() as f32;
                }
            }
        }
    }
    out
}

/// [`sincos_2d`] as a tensor `[1, 1 + rows*cols, dim]` on `device` (not a parameter).
///
/// # Panics
/// As [`sincos_2d`].
pub fn sincos_2d_tensor(dim: usize, grid: [usize; 2], device: &Device) -> Tensor<3> {
    let n = 1 + grid[0] * grid[1];
    Tensor::from_data(TensorData::new(sincos_2d(dim, grid), [1, n, dim]), device)
}

/// PIL's and PyTorch's anti-aliased bicubic kernel (a = -0.5).
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Interpolation weights of one axis, `[out][(first input index, weights)]`, as PyTorch's
/// `interpolate(mode='bicubic', antialias=True, align_corners=False)` computes them: the kernel
/// is widened by the scale when shrinking, and the weights of each output are normalized over
/// the inputs that exist (no border replication).
fn axis_weights(input: usize, output: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = input as f64 / output as f64;
    let (support, inv) = if scale >= 1.0 {
        (2.0 * scale, 1.0 / scale)
    } else {
        (2.0, 1.0)
    };
    (0..output)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(input);
            let mut w: Vec<f64> = (lo..hi)
                .map(|j| cubic((j as f64 - center + 0.5) * inv))
                .collect();
            let total: f64 = w.iter().sum();
            if total != 0.0 {
                w.iter_mut().for_each(|x| *x /= total);
            }
            (lo, w)
        })
        .collect()
}

/// The same interpolation of one axis as a dense matrix `[output, input]`, row-major: row `i`
/// holds output `i`'s weights over the inputs (a resize of a length-`input` signal is this
/// matrix times it). Used to build the resize matrix of a whole patch
/// ([`crate::patch_resample::resize_matrix`]).
pub(crate) fn axis_matrix(input: usize, output: usize) -> Vec<f64> {
    let mut m = vec![0f64; output * input];
    for (i, (lo, w)) in axis_weights(input, output).into_iter().enumerate() {
        m[i * input + lo..i * input + lo + w.len()].copy_from_slice(&w);
    }
    m
}

/// timm's `resample_abs_pos_embed` (bicubic, antialias): a learned table
/// `[1, prefix + rows*cols, D]` for a `from` grid -> `[1, prefix + rows'*cols', D]` for `to`,
/// the first `prefix` rows (class token) kept as they are, the patch rows resampled as a
/// `D`-channel image. Host computation in f64 (a one-off, when a model is loaded at another
/// size), no gradient.
pub fn resample_learned(
    table: &Tensor<3>,
    prefix: usize,
    from: [usize; 2],
    to: [usize; 2],
) -> Tensor<3> {
    let [_, n, d] = table.dims();
    assert_eq!(
        n,
        prefix + from[0] * from[1],
        "table rows differ from the grid"
    );
    if from == to {
        return table.clone();
    }
    let device = table.device();
    let src: Vec<f32> = table
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data");
    let (wr, wc) = (axis_weights(from[0], to[0]), axis_weights(from[1], to[1]));
    // Columns first: [from rows, to cols, D].
    let mut mid = vec![0f64; from[0] * to[1] * d];
    for r in 0..from[0] {
        for (c, (lo, w)) in wc.iter().enumerate() {
            let out = &mut mid[(r * to[1] + c) * d..(r * to[1] + c + 1) * d];
            for (k, wk) in w.iter().enumerate() {
                let s = prefix + r * from[1] + lo + k;
                for (o, v) in out.iter_mut().zip(&src[s * d..(s + 1) * d]) {
                    *o += wk * *v as f64;
                }
            }
        }
    }
    // Then rows: [to rows, to cols, D].
    let mut out = src[..prefix * d].to_vec();
    out.reserve(to[0] * to[1] * d);
    for (lo, w) in &wr {
        for c in 0..to[1] {
            let mut acc = vec![0f64; d];
            for (k, wk) in w.iter().enumerate() {
                let m = &mid[((lo + k) * to[1] + c) * d..((lo + k) * to[1] + c + 1) * d];
                acc.iter_mut().zip(m).for_each(|(a, v)| *a += wk * v);
            }
            out.extend(acc.into_iter().map(|v| v as f32));
        }
    }
    Tensor::from_data(
        TensorData::new(out, [1, prefix + to[0] * to[1], d]),
        &device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_row_is_zero_and_axes_split_in_halves() {
        let (dim, g) = (8, 3);
        let t = sincos_2d(dim, [g, g]);
        assert_eq!(t.len(), (1 + g * g) * dim);
        assert!(t[..dim].iter().all(|&v| v == 0.0));
        // Patch (row 2, column 1): first half from the column, second half from the row.
        let row = &t[(1 + 2 * g + 1) * dim..(2 + 2 * g + 1) * dim];
        let w1 = 1.0 / 10000f64.powf(0.5);
        let want = [
            1f64.sin(),
            w1.sin(),
            1f64.cos(),
            w1.cos(),
            2f64.sin(),
            (2.0 * w1).sin(),
            2f64.cos(),
            (2.0 * w1).cos(),
        ];
        for (g, w) in row.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-7, "{row:?}");
        }
    }

    #[test]
    fn non_square_grid_encodes_row_and_column() {
        let (dim, rows, cols) = (8, 2, 3);
        let t = sincos_2d(dim, [rows, cols]);
        assert_eq!(t.len(), (1 + rows * cols) * dim);
        // patch (row 1, column 2) is token 1 + 1*3 + 2 = 6: column half sin(2), row half sin(1)
        let row = &t[6 * dim..7 * dim];
        assert!((row[0] as f64 - 2f64.sin()).abs() < 1e-7);
        assert!((row[4] as f64 - 1f64.sin()).abs() < 1e-7);
    }

    #[test]
    fn rejects_widths_not_multiple_of_four() {
        assert_eq!(check_dim(6), Err(PosEmbedError(6)));
        assert_eq!(check_dim(0), Err(PosEmbedError(0)));
        assert!(check_dim(12).is_ok());
        assert!(std::panic::catch_unwind(|| sincos_2d(10, [2, 2])).is_err());
    }

    #[test]
    fn resampling_keeps_the_class_row_and_constant_tables() {
        let device = Device::default();
        // class row 7, every patch row 3: any normalized interpolation keeps a constant image
        let mut v = vec![7.0f32; 2];
        v.extend(vec![3.0f32; 2 * 4 * 4]);
        let t = Tensor::<3>::from_data(TensorData::new(v, [1, 17, 2]), &device);
        for to in [[6, 6], [2, 3], [4, 4]] {
            let r = resample_learned(&t, 1, [4, 4], to);
            let r: Vec<f32> = r.into_data().try_into_vec::<f32>().unwrap();
            assert_eq!(r.len(), 2 * (1 + to[0] * to[1]));
            assert_eq!(&r[..2], &[7.0, 7.0]);
            assert!(
                r[2..].iter().all(|x| (x - 3.0).abs() < 1e-6),
                "{to:?}: {r:?}"
            );
        }
    }
}
