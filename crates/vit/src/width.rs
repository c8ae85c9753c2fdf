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

use crate::names::HostTensor;

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

/// Fits a host tensor of width `d_src` to the shape of `fresh`, a tensor of width `d_dst` (the
/// target model's own init): along every axis whose size differs, the axis is `k` chunks of the
/// width (`k = size / d_src = size' / d_dst`: 1 for the residual stream, 3 for qkv, 4 for the
/// MLP hidden channels), and each chunk keeps the first `min(d_src, d_dst)` entries of `src`,
/// then (growing) the entries of `fresh`. The cut is [`chunks`] on the host; the growth is
/// [`extend_chunks`] with the target's init as the new channels. Axes of equal size are
/// copied. Errors name an axis that is not a whole number of width chunks.
pub fn fit_host(
    src: &HostTensor,
    fresh: &HostTensor,
    d_src: usize,
    d_dst: usize,
) -> Result<HostTensor, String> {
    let (s, f) = (&src.shape, &fresh.shape);
    if s.len() != f.len() {
        return Err(format!("rank {} cannot be fitted to {f:?}", s.len()));
    }
    let mut chunk = vec![None; s.len()];
    for (axis, (&a, &b)) in s.iter().zip(f).enumerate() {
        if a == b {
            continue;
        }
        let k = a / d_src.max(1);
        if k == 0 || a != k * d_src || b != k * d_dst {
            return Err(format!(
                "axis {axis} of {s:?} -> {f:?} is not a whole number of width chunks ({d_src} -> {d_dst})"
            ));
        }
        chunk[axis] = Some(k);
    }
    let strides = |shape: &[usize]| {
        let mut st = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            st[i] = st[i + 1] * shape[i + 1];
        }
        st
    };
    let src_strides = strides(s);
    let n: usize = f.iter().product();
    let mut values = Vec::with_capacity(n);
    let mut index = vec![0usize; f.len()];
    for flat in 0..n {
        // the source offset of `index`, or None when a grown channel comes from `fresh`
        let mut offset = Some(0);
        for (axis, &j) in index.iter().enumerate() {
            let j_src = match chunk[axis] {
                None => Some(j),
                Some(_) => {
                    let (c, o) = (j / d_dst, j % d_dst);
                    (o < d_src).then_some(c * d_src + o)
                }
            };
            offset = match (offset, j_src) {
                (Some(acc), Some(js)) => Some(acc + js * src_strides[axis]),
                _ => None,
            };
        }
        values.push(offset.map_or(fresh.values[flat], |o| src.values[o]));
        for axis in (0..f.len()).rev() {
            index[axis] += 1;
            if index[axis] < f[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    Ok(HostTensor {
        shape: f.clone(),
        values,
    })
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

    fn host(shape: &[usize], values: &[f32]) -> HostTensor {
        HostTensor {
            shape: shape.to_vec(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn fit_host_cuts_and_grows_every_chunk() {
        // qkv bias of width 2 (3 chunks) -> width 1 and -> width 3 (new channels from fresh)
        let src = host(&[6], &[0., 1., 10., 11., 20., 21.]);
        let small = fit_host(&src, &host(&[3], &[-1.; 3]), 2, 1).unwrap();
        assert_eq!(small.values, [0., 10., 20.]);
        let fresh = host(&[9], &[-1., -2., -3., -4., -5., -6., -7., -8., -9.]);
        let big = fit_host(&src, &fresh, 2, 3).unwrap();
        assert_eq!(big.values, [0., 1., -3., 10., 11., -6., 20., 21., -9.]);
    }

    #[test]
    fn fit_host_keeps_equal_axes_and_cuts_both_width_axes() {
        // [1, 2 tokens, width 3] -> width 2: the token axis is kept
        let src = host(&[1, 2, 3], &[0., 1., 2., 10., 11., 12.]);
        let out = fit_host(&src, &host(&[1, 2, 2], &[0.; 4]), 3, 2).unwrap();
        assert_eq!(out.values, [0., 1., 10., 11.]);
        // a [D, D] matrix: both axes are width axes
        let m = host(&[2, 2], &[1., 2., 3., 4.]);
        let out = fit_host(&m, &host(&[3, 3], &[9.; 9]), 2, 3).unwrap();
        assert_eq!(out.values, [1., 2., 9., 3., 4., 9., 9., 9., 9.]);
        assert!(fit_host(&host(&[5], &[0.; 5]), &host(&[3], &[0.; 3]), 2, 1).is_err());
    }

    #[test]
    fn first_and_extend() {
        let b = t1(&[1., 2., 3., 4.]);
        assert_eq!(vals(first(b.clone(), 0, 2)), [1., 2.]);
        assert_eq!(vals(extend(b, 0, t1(&[9.]))), [1., 2., 3., 4., 9.]);
    }
}
