//! The width rules: how every tensor of a ViT is cut to a narrower width `w <= D` or grown to
//! a wider one (METHOD.md sections 4-5). Channel SWS (a sub-width per training step) and
//! initializing a target model from a template both go through these functions, so a model
//! cut from a template is exactly what channel SWS trained.
//!
//! - residual-stream and head/hidden channels: the **first** `w` (or `4w`) channels;
//! - tensors made of `k` stacked D-chunks: qkv's `[q | k | v]` rows and bias (`k = 3`), and the
//!   MLP's hidden channels (`4D` = four D-chunks, `k = 4`: fc1's rows and bias, fc2's columns),
//!   the first `w` channels **of each chunk**, because the template composes fc1 and fc2 as
//!   four D x D blocks each, and a sub-width template composes each block at `w x w`;
//! - growing (`w > D`): the existing channels, then new ones supplied by the caller (e.g.
//!   timm's init, or draws at the trained entries' std).
//!
//! Everything here is differentiable (narrow and concatenate), so training through a cut
//! tensor trains the full tensor's leading channels.

use burn::prelude::*;

/// The first `w` entries of dimension `dim`: `[..., D, ...]` -> `[..., w, ...]`.
pub fn first<const R: usize>(t: Tensor<R>, dim: usize, w: usize) -> Tensor<R> {
    if t.dims()[dim] == w {
        return t;
    }
    t.narrow(dim, 0, w)
}

/// The first `w` entries of each of the `k` equal chunks of dimension `dim`:
/// `[..., k D, ...]` -> `[..., k w, ...]` (qkv rows and bias with `k = 3`).
pub fn chunks<const R: usize>(t: Tensor<R>, dim: usize, k: usize, w: usize) -> Tensor<R> {
    let n = t.dims()[dim];
    assert_eq!(n % k, 0, "dimension {dim} ({n}) is not {k} equal chunks");
    if n == k * w {
        return t;
    }
    let c = n / k;
    Tensor::cat(
        (0..k).map(|i| t.clone().narrow(dim, i * c, w)).collect(),
        dim,
    )
}

/// Grows dimension `dim` from `D` to `D + extra.dims()[dim]` by appending `extra`:
/// `[..., D, ...]` + `[..., e, ...]` -> `[..., D + e, ...]`.
pub fn extend<const R: usize>(t: Tensor<R>, dim: usize, extra: Tensor<R>) -> Tensor<R> {
    Tensor::cat(vec![t, extra], dim)
}

/// Grows each of the `k` chunks of dimension `dim` by the matching chunk of `extra`:
/// `[..., k D, ...]` + `[..., k e, ...]` -> `[..., k (D + e), ...]`.
pub fn extend_chunks<const R: usize>(
    t: Tensor<R>,
    dim: usize,
    k: usize,
    extra: Tensor<R>,
) -> Tensor<R> {
    let (n, e) = (t.dims()[dim], extra.dims()[dim]);
    assert!(n % k == 0 && e % k == 0, "chunks must be equal");
    let (c, ce) = (n / k, e / k);
    let mut parts = Vec::with_capacity(2 * k);
    for i in 0..k {
        parts.push(t.clone().narrow(dim, i * c, c));
        parts.push(extra.clone().narrow(dim, i * ce, ce));
    }
    Tensor::cat(parts, dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t1(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::default())
    }

    fn vals(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn chunks_cut_each_chunk() {
        // [q0 q1 q2 | k0 k1 k2 | v0 v1 v2] -> first 2 of each
        let b = t1(&[0., 1., 2., 10., 11., 12., 20., 21., 22.]);
        assert_eq!(vals(chunks(b, 0, 3, 2)), [0., 1., 10., 11., 20., 21.]);
    }

    #[test]
    fn extend_chunks_grows_each_chunk() {
        let b = t1(&[0., 1., 10., 11.]);
        let e = t1(&[5., 15.]);
        assert_eq!(vals(extend_chunks(b, 0, 2, e)), [0., 1., 5., 10., 11., 15.]);
    }

    #[test]
    fn first_and_extend() {
        let b = t1(&[1., 2., 3., 4.]);
        assert_eq!(vals(first(b.clone(), 0, 2)), [1., 2.]);
        assert_eq!(vals(extend(b, 0, t1(&[9.]))), [1., 2., 3., 4., 9.]);
    }
}
