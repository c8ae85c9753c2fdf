//! Images to flattened patches and back, in MAE's order, and MAE's per-patch normalized target.

use burn::prelude::*;

/// Epsilon of MAE's norm-pix target: `(x - mean) / sqrt(var + 1e-6)`.
pub const NORM_PIX_EPS: f64 = 1e-6;

/// Cuts images into flattened patches exactly as MAE's `patchify` (`'nchpwq->nhwpqc'`):
/// `[B, C, H, W]` -> `[B, N, p*p*C]` with N = (H/p)(W/p) row-major over the patch grid and each
/// patch flattened in the order (row in patch, column in patch, channel), channel fastest.
///
/// Note this differs from the patch-embedding conv's order `(c, py, px)`
/// ([`sweet_vit::layers::functional::patchify_conv_order`]); pixel targets use MAE's order.
///
/// # Panics
/// If H or W is not a multiple of `p`.
pub fn patchify(images: Tensor<4>, p: usize) -> Tensor<3> {
    let [b, c, h, w] = images.dims();
    assert!(
        p > 0 && h % p == 0 && w % p == 0,
        "image {h}x{w} is not a whole number of {p}x{p} patches"
    );
    let (gh, gw) = (h / p, w / p);
    images
        .reshape([b, c, gh, p, gw, p])
        .permute([0, 2, 4, 3, 5, 1])
        .reshape([b, gh * gw, p * p * c])
}

/// The inverse of [`patchify`] for a square patch grid, as MAE's `unpatchify`:
/// `[B, N, p*p*C]` -> `[B, C, H, W]` with H = W = p * sqrt(N).
///
/// # Panics
/// If N is not a perfect square or the last dim is not `p * p * c`.
pub fn unpatchify(patches: Tensor<3>, p: usize, c: usize) -> Tensor<4> {
    let [b, n, k] = patches.dims();
    let g = grid_side(n);
    assert_eq!(k, p * p * c, "patch length {k} is not {p}*{p}*{c}");
    patches
        .reshape([b, g, g, p, p, c])
        .permute([0, 5, 1, 3, 2, 4])
        .reshape([b, c, g * p, g * p])
}

/// MAE's norm-pix target: each patch normalized by its own mean and unbiased variance
/// (`torch.var` default, as MAE's `forward_loss`): `(x - mean) / sqrt(var + 1e-6)`.
/// `[B, N, P]` -> `[B, N, P]`.
pub fn norm_pix(patches: Tensor<3>) -> Tensor<3> {
    let (var, mean) = patches.clone().var_mean(2);
    (patches - mean) / (var + NORM_PIX_EPS).sqrt()
}

/// Side of a square grid of `n` patches.
///
/// # Panics
/// If `n` is not a perfect square.
pub fn grid_side(n: usize) -> usize {
    let g = (n as f64).sqrt().round() as usize;
    assert_eq!(g * g, n, "{n} patches do not form a square grid");
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn norm_pix_uses_unbiased_variance() {
        let device = Device::default();
        // One patch [1, 2, 3, 4]: mean 2.5, unbiased var 5/3.
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 4]),
            &device,
        );
        let got = values(norm_pix(x));
        let s = (5.0f64 / 3.0 + 1e-6).sqrt();
        for (g, v) in got.iter().zip([1.0f64, 2.0, 3.0, 4.0]) {
            assert!((*g as f64 - (v - 2.5) / s).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn grid_side_of_squares() {
        assert_eq!(grid_side(49), 7);
        assert_eq!(grid_side(1), 1);
    }

    #[test]
    #[should_panic(expected = "square grid")]
    fn grid_side_rejects_non_squares() {
        grid_side(12);
    }
}
