//! MAE's fixed 2-D sin-cos position embedding (`util/pos_embed.py`), computed in f64 as numpy
//! does and rounded to f32 once.

use burn::prelude::*;

/// A width the 2-D sin-cos table cannot be built for.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "sin-cos position embedding width {0} is not a positive multiple of 4 (two axes x sin/cos)"
)]
pub struct PosEmbedError(pub usize);

/// Checks that `dim` is a valid width for [`sincos_2d`].
pub fn check_dim(dim: usize) -> Result<(), PosEmbedError> {
    if dim > 0 && dim % 4 == 0 {
        Ok(())
    } else {
        Err(PosEmbedError(dim))
    }
}

/// MAE's `get_2d_sincos_pos_embed(dim, grid, cls_token=True)`: `[1 + grid*grid, dim]`
/// row-major; row 0 (class token) is zeros, row `1 + i*grid + j` is the patch in grid row `i`,
/// column `j`.
///
/// Channel layout, as MAE's numpy code (`meshgrid(w, h)`, `emb_h` from `grid[0]`): the first
/// half encodes the column `j`, the second half the row `i`; each half is `[sin(pos * w_k) for
/// k < dim/4]` then `[cos(pos * w_k)]` with `w_k = 1 / 10000^(k / (dim/4))`.
///
/// # Panics
/// If `dim` is not a positive multiple of 4 (validate with [`check_dim`]).
pub fn sincos_2d(dim: usize, grid: usize) -> Vec<f32> {
    if let Err(e) = check_dim(dim) {
        panic!("{e}");
    }
    let quarter = dim / 4;
    let omega: Vec<f64> = (0..quarter)
        .map(|k| 1.0 / 10000f64.powf(k as f64 / quarter as f64))
        .collect();
    let mut out = vec![0.0f32; (1 + grid * grid) * dim];
    for i in 0..grid {
        for j in 0..grid {
            let row = &mut out[(1 + i * grid + j) * dim..(2 + i * grid + j) * dim];
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

/// [`sincos_2d`] as a tensor `[1, 1 + grid*grid, dim]` on `device` (not a parameter).
///
/// # Panics
/// As [`sincos_2d`].
pub fn sincos_2d_tensor(dim: usize, grid: usize, device: &Device) -> Tensor<3> {
    Tensor::from_data(
        TensorData::new(sincos_2d(dim, grid), [1, 1 + grid * grid, dim]),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_row_is_zero_and_axes_split_in_halves() {
        let (dim, g) = (8, 3);
        let t = sincos_2d(dim, g);
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
    fn rejects_widths_not_multiple_of_four() {
        assert_eq!(check_dim(6), Err(PosEmbedError(6)));
        assert_eq!(check_dim(0), Err(PosEmbedError(0)));
        assert!(check_dim(12).is_ok());
        assert!(std::panic::catch_unwind(|| sincos_2d(10, 2)).is_err());
    }
}
