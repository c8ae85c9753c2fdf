//! A patch embedding for another patch size: timm's `resample_patch_embed(weight, new_size,
//! interpolation='bicubic', antialias=True)` (the pseudo-inverse resize of FlexiViT, Beyer et
//! al. 2023, from big_vision), and [`Vit::adapt`] / [`Vit::resample_patch`], which take a
//! model to another patch and image size.
//!
//! Resizing a `k x k` patch to `k' x k'` is linear: flattened row-major, `x' = B x` with `B`
//! `[k'^2, k^2]`, PyTorch's `interpolate(mode='bicubic', antialias=True, align_corners=False)`
//! of each basis image (timm builds `B` exactly so). That resize is separable, so `B` is the
//! Kronecker product of one axis's matrix with itself ([`resize_matrix`]). Each `k x k` kernel
//! `w` of the patch-embedding conv (every output and input channel on its own) becomes
//! `w' = pinv(B^T) w`, the least-squares (minimum-norm) solution of `B^T w' = w`, so that
//! `<B x, w'> ~ <x, w>`: the token of a resized patch is the token of the patch.
//! - Up-sampling (`k' >= k`): `B` has full column rank, `B^T pinv(B^T) = I`, and the token of
//!   the bicubic up-sampled patch equals the original token exactly (up to float error).
//! - Down-sampling: only the least-squares fit (information is lost).
//!
//! Only square patches: sweet's patch embedding is square (timm also resamples to `[h, w]`).
//! Host computation in f64 (kernels are tiny; a one-off when a model changes patch), the
//! pseudo-inverse through burn-linalg's host SVD; timm does it in float32 (the fixture test
//! measures the difference).

use burn::prelude::*;
use burn::tensor::DType;

use crate::config::{check_patch, ConfigError, ImgSize};
use crate::model::Vit;
use crate::pos_embed::axis_matrix;

/// QR sweeps per singular value before the SVD gives up (LAPACK's `dbdsqr` uses 6; the resize
/// matrices are well conditioned).
const SWEEPS: usize = 60;

/// The resize of a `from x from` patch to `to x to` as a matrix `B` `[to^2, from^2]`, row-major:
/// `B[(i*to + j), (a*from + b)]` is the weight of input pixel `(a, b)` in output pixel `(i, j)`
/// (bicubic, antialiased, PyTorch's `interpolate` as in [`crate::pos_embed`]). Column `a*from +
/// b` is the resize of the basis image with a one at `(a, b)`.
pub fn resize_matrix(from: usize, to: usize) -> Vec<f64> {
    let axis = axis_matrix(from, to); // [to, from]
    let (n_in, n_out) = (from * from, to * to);
    let mut b = vec![0f64; n_out * n_in];
    for i in 0..to {
        for j in 0..to {
            let row = &mut b[(i * to + j) * n_in..(i * to + j + 1) * n_in];
            for a in 0..from {
                let wi = axis[i * from + a];
                if wi == 0.0 {
                    continue;
                }
                for c in 0..from {
                    row[a * from + c] = wi * axis[j * from + c];
                }
            }
        }
    }
    b
}

/// The kernel map `pinv(B^T)` `[to^2, from^2]`, row-major, of [`resize_matrix`]`(from, to)`: a
/// flattened `from x from` kernel `w` becomes the `to x to` kernel `pinv(B^T) w`.
///
/// From the SVD `B = U S V^T`: `pinv(B^T) = U S^+ V^T`. Singular values up to
/// `max(m, n) * f32::EPSILON` times the largest count as zero, torch's `linalg.pinv` default
/// rank cut-off at timm's float32 (only a rank-deficient resize meets it).
///
/// # Panics
/// If a size is 0, or the SVD does not converge.
pub fn kernel_map(from: usize, to: usize) -> Vec<f64> {
    assert!(from > 0 && to > 0, "patch sizes must be positive");
    let (m, n) = (to * to, from * from);
    let b = Tensor::<2>::from_data(
        TensorData::new(resize_matrix(from, to), [m, n]),
        (&Device::flex(), DType::F64),
    );
    let (u, s, vt) = burn_linalg::svd::<2, 1>(b, SWEEPS);
    let host = |t: TensorData| t.convert::<f64>().try_into_vec::<f64>().expect("f64 data");
    let (u, s, vt) = (
        host(u.into_data()),
        host(s.into_data()),
        host(vt.into_data()),
    );
    let k = s.len(); // min(m, n): U [m, k], Vt [k, n]
    let cut = s.iter().copied().fold(0.0, f64::max) * m.max(n) as f64 * f32::EPSILON as f64;
    let mut p = vec![0f64; m * n];
    for (r, &sr) in s.iter().enumerate() {
        if sr <= cut {
            continue;
        }
        for row in 0..m {
            let ur = u[row * k + r] / sr;
            let out = &mut p[row * n..(row + 1) * n];
            out.iter_mut()
                .zip(&vt[r * n..(r + 1) * n])
                .for_each(|(o, v)| *o += ur * v);
        }
    }
    p
}

/// timm's `resample_patch_embed` (bicubic, antialias): a patch-embedding conv weight
/// `[D, C, k, k]` -> `[D, C, k', k']` for the patch `new`, every kernel mapped by
/// [`kernel_map`]; on the weight's device, without gradient. The same weight when `k' == k`.
///
/// # Panics
/// If the kernel is not square, or `new` is 0.
pub fn resample_patch_embed(weight: &Tensor<4>, new: usize) -> Tensor<4> {
    let [d, c, kh, kw] = weight.dims();
    assert_eq!(kh, kw, "only square patch kernels are resampled");
    assert!(new > 0, "patch size must be positive");
    if new == kh {
        return weight.clone();
    }
    let (n_in, n_out) = (kh * kw, new * new);
    let map = kernel_map(kh, new);
    let src: Vec<f32> = weight
        .to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data");
    let mut out = Vec::with_capacity(d * c * n_out);
    for kernel in src.chunks_exact(n_in) {
        out.extend(map.chunks_exact(n_in).map(|row| {
            row.iter()
                .zip(kernel)
                .map(|(p, &w)| p * w as f64)
                .sum::<f64>() as f32
        }));
    }
    Tensor::from_data(TensorData::new(out, [d, c, new, new]), &weight.device())
}

impl<G: Module> Vit<G> {
    /// The image size the model is made for: grid x patch, `[h, w]` pixels.
    pub fn img_size(&self) -> ImgSize {
        let p = self.patch_embed.patch_size;
        ImgSize::new(self.grid[0] * p, self.grid[1] * p)
    }

    /// The same model for images of `img_size` cut into patches of `patch` (e.g. a 28x28
    /// patch-4 model to 64x64 patch 8): the patch-embedding weight `[D, C, p, p]` ->
    /// `[D, C, patch, patch]` by [`resample_patch_embed`] (bias unchanged), the grid
    /// `img_size / patch`, its position table resampled once from the old grid (learned,
    /// bicubic as [`Vit::resample_grid`]) or recomputed (sin-cos). Every other parameter is
    /// independent of both. Save it with [`VitConfig::adapted`](crate::VitConfig::adapted)
    /// `(img_size, patch)`, so its `config.json` names the new size and patch.
    ///
    /// One call rather than [`Self::resample_patch`] then [`Self::resample_grid`]: the image
    /// size between the two steps need not be a multiple of the new patch (28 is not of 8), and
    /// a learned table is resampled once, not twice.
    ///
    /// Fails, changing nothing, when `patch` or a side is 0 or `patch` does not divide both
    /// sides ([`ConfigError::PatchDoesNotDivide`]).
    pub fn adapt(mut self, img_size: ImgSize, patch: usize) -> Result<Self, ConfigError> {
        check_patch(img_size, patch)?;
        if patch != self.patch_embed.patch_size {
            self.patch_embed.proj.weight = self.patch_embed.proj.weight.map(|t| {
                let new = resample_patch_embed(&t, patch);
                if t.is_require_grad() {
                    new.require_grad()
                } else {
                    new
                }
            });
            self.patch_embed.patch_size = patch;
        }
        Ok(self.with_grid([img_size.h / patch, img_size.w / patch]))
    }

    /// The same model with patches of `patch` for the same image size ([`Self::img_size`]):
    /// [`Self::adapt`]`(self.img_size(), patch)`; the grid becomes `img_size / patch`. Fails
    /// when `patch` does not divide the image size.
    pub fn resample_patch(self, patch: usize) -> Result<Self, ConfigError> {
        let img = self.img_size();
        self.adapt(img, patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for t in 0..k {
                for j in 0..n {
                    out[i * n + j] += a[i * k + t] * b[t * n + j];
                }
            }
        }
        out
    }

    fn transpose(a: &[f64], m: usize, n: usize) -> Vec<f64> {
        (0..n * m).map(|i| a[(i % m) * n + i / m]).collect()
    }

    /// Catches a wrong pseudo-inverse (a transpose too many or too few, a lost `1/s`): the
    /// four Moore-Penrose conditions of `P = pinv(A)`, `A = B^T` `[k^2, k'^2]`, for an
    /// up-sampling, a down-sampling and odd changes both ways. Sabotage that failed it:
    /// `* sr` instead of `/ sr`.
    #[test]
    fn kernel_map_is_the_pseudo_inverse() {
        for (from, to) in [(4, 8), (4, 2), (3, 5), (5, 3)] {
            let (m, n) = (from * from, to * to);
            let a = transpose(&resize_matrix(from, to), n, m); // [m, n]
            let p = kernel_map(from, to); // [n, m]
            let apa = matmul(&matmul(&a, &p, m, n, m), &a, m, m, n);
            let pap = matmul(&matmul(&p, &a, n, m, n), &p, n, n, m);
            let ap = matmul(&a, &p, m, n, m);
            let pa = matmul(&p, &a, n, m, n);
            let close = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(u, v)| (u - v).abs() < 1e-9);
            assert!(close(&apa, &a), "{from}->{to}: A P A = A");
            assert!(close(&pap, &p), "{from}->{to}: P A P = P");
            assert!(
                close(&ap, &transpose(&ap, m, m)),
                "{from}->{to}: A P symmetric"
            );
            assert!(
                close(&pa, &transpose(&pa, n, n)),
                "{from}->{to}: P A symmetric"
            );
        }
    }

    /// Catches a resize matrix that is not a resize: every output pixel's weights sum to 1
    /// (a constant patch stays constant), and the same size is the identity.
    #[test]
    fn resize_matrix_keeps_constants_and_is_identity_at_the_same_size() {
        for (from, to) in [(4, 8), (4, 2), (3, 5)] {
            let b = resize_matrix(from, to);
            for row in b.chunks_exact(from * from) {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        let b = resize_matrix(3, 3);
        for (i, v) in b.iter().enumerate() {
            assert_eq!(*v, if i % 10 == 0 { 1.0 } else { 0.0 });
        }
    }
}
