//! Tucker composition and the block layout between timm's dense weights and `W [12L, D, D]`.
//!
//! Block index `i = 12 l + c`, c in q, k, v, o, fc1_0..3, fc2_0..3. With
//! [`Orientation::Residual`] every block is `[inner, residual]` (o and fc2 slices transposed
//! from timm's storage); with [`Orientation::Raw`] every block is as timm stores it.

use burn::prelude::*;
use sweet_vit::LayerWeights;

use crate::config::{Orientation, BLOCKS_PER_LAYER};

/// `W = G x1 X x2 U x3 V`, i.e. `W_i = U (sum_a X[i, a] G[a]) V^T`.
///
/// g: `[r1, r2, r3]`, x: `[n, r1]`, u: `[D2, r2]`, v: `[D3, r3]` -> `[n, D2, D3]`.
/// X is contracted with G first (`[n, r1] x [r1, r2 r3]`), then V and U as two large 2-D
/// matrix products.
pub fn compose(g: Tensor<3>, x: Tensor<2>, u: Tensor<2>, v: Tensor<2>) -> Tensor<3> {
    let [r1, r2, r3] = g.dims();
    let n = x.dims()[0];
    let (d2, d3) = (u.dims()[0], v.dims()[0]);
    // M = X G: [n, r2, r3]
    let m = x.matmul(g.reshape([r1, r2 * r3]));
    // M V^T: [n r2, r3] x [r3, D3] -> [n, r2, D3]
    let mv = m
        .reshape([n * r2, r3])
        .matmul(v.transpose())
        .reshape([n, r2, d3]);
    // U (M V^T): [D2, r2] x [r2, n D3] -> [D2, n, D3] -> [n, D2, D3]
    let mv = mv.swap_dims(0, 1).reshape([r2, n * d3]);
    u.matmul(mv).reshape([d2, n, d3]).swap_dims(0, 1)
}

/// `n` consecutive blocks `U (sum_a X[i, a] G[a]) V^T` from their rows of X, without forming
/// any other block: xr `[n, r1]`, gm = G as `[r1, r2 r3]`, u `[w, r2]`, vt = V^T `[r3, w]` ->
/// `[n, w, w]`.
fn compose_rows(xr: Tensor<2>, gm: Tensor<2>, u: &Tensor<2>, vt: &Tensor<2>) -> Tensor<3> {
    let n = xr.dims()[0];
    let (w, r2) = (u.dims()[0], u.dims()[1]);
    let r3 = vt.dims()[0];
    // M V^T: [n r2, r3] x [r3, w] -> [n, r2, w]; then U (M V^T): [w, r2] x [r2, n w].
    let mv = xr
        .matmul(gm)
        .reshape([n * r2, r3])
        .matmul(vt.clone())
        .reshape([n, r2, w]);
    let mv = mv.swap_dims(0, 1).reshape([r2, n * w]);
    u.clone().matmul(mv).reshape([w, n, w]).swap_dims(0, 1)
}

/// Every layer's dense weights composed **layer by layer** from its 12 rows of X: three matrix
/// products per layer, then the layer's `[12, w, w]` is cut into qkv, o, fc1 and fc2. Slicing
/// one stacked `[12L, D, D]` tensor instead makes burn's slice backward zero-fill the whole
/// stack once per layer, O(L^2 D^2); here each cut zero-fills only its own layer's blocks.
///
/// g: `[r1, r2, r3]`, x: `[12L, r1]`, u: `[w, r2]`, v: `[w, r3]` -> L sets of timm-layout
/// weights at width w (hidden 4w), each equal to [`assemble`] of [`compose`]'s layer.
pub fn compose_layers(
    g: Tensor<3>,
    x: Tensor<2>,
    u: Tensor<2>,
    v: Tensor<2>,
    orientation: Orientation,
) -> Vec<LayerWeights> {
    let [r1, r2, r3] = g.dims();
    let layers = x.dims()[0] / BLOCKS_PER_LAYER;
    let w = u.dims()[0];
    let gm = g.reshape([r1, r2 * r3]);
    let vt = v.transpose();
    (0..layers)
        .map(|l| {
            // The layer's 12 blocks at once, then cut into its four groups: a cut's backward
            // zero-fills only this layer's `[12, w, w]`.
            let xr = x.clone().narrow(0, BLOCKS_PER_LAYER * l, BLOCKS_PER_LAYER);
            let blocks = compose_rows(xr, gm.clone(), &u, &vt);
            let group = |first: usize, n: usize| blocks.clone().narrow(0, first, n);
            let qkv = group(0, 3).reshape([3 * w, w]);
            let o = group(3, 1).reshape([w, w]);
            let fc1 = group(4, 4).reshape([4 * w, w]);
            let fc2 = group(8, 4); // [4, a, b]
            let (proj, fc2) = match orientation {
                // blocks are [inner, residual]: proj = o^T, fc2[b, j w + a] = block_j[a, b]
                Orientation::Residual => {
                    (o.transpose(), fc2.permute([2, 0, 1]).reshape([w, 4 * w]))
                }
                // blocks are [residual, inner] slices of fc2's columns
                Orientation::Raw => (o, fc2.permute([1, 0, 2]).reshape([w, 4 * w])),
            };
            LayerWeights {
                qkv,
                proj,
                fc1,
                fc2,
            }
        })
        .collect()
}

/// The dense attention/MLP weights of every layer, in timm's layout, width D, hidden 4D.
#[derive(Clone, Debug)]
pub struct StackedBlocks {
    /// `[L, 3D, D]`, rows `[q | k | v]`.
    pub qkv: Tensor<3>,
    /// `[L, D, D]` (`[out, in]`).
    pub proj: Tensor<3>,
    /// `[L, 4D, D]`.
    pub fc1: Tensor<3>,
    /// `[L, D, 4D]`.
    pub fc2: Tensor<3>,
}

/// `W [12L, D, D]` -> timm's weights of every layer.
pub fn assemble(w: Tensor<3>, orientation: Orientation) -> StackedBlocks {
    let [n, d, d2] = w.dims();
    assert_eq!(d, d2, "blocks must be square");
    let l = n / BLOCKS_PER_LAYER;
    let w = w.reshape([l, BLOCKS_PER_LAYER, d, d]);
    let part = |a: usize, b: usize| w.clone().slice([0..l, a..b, 0..d, 0..d]);
    let qkv = part(0, 3).reshape([l, 3 * d, d]);
    let fc1 = part(4, 8).reshape([l, 4 * d, d]);
    let o = part(3, 4).reshape([l, d, d]);
    let fc2 = part(8, 12); // [L, 4, a, b]
    let (proj, fc2) = match orientation {
        // blocks are [inner, residual]: proj = o^T, fc2[:, j] = block_j^T
        Orientation::Residual => (
            o.swap_dims(1, 2),
            fc2.permute([0, 3, 1, 2]).reshape([l, d, 4 * d]),
        ),
        // blocks are [residual, inner] slices of fc2's columns
        Orientation::Raw => (o, fc2.permute([0, 2, 1, 3]).reshape([l, d, 4 * d])),
    };
    StackedBlocks {
        qkv,
        proj,
        fc1,
        fc2,
    }
}

/// The inverse of [`assemble`]: timm's weights -> `W [12L, D, D]`.
pub fn disassemble(dense: &StackedBlocks, orientation: Orientation) -> Tensor<3> {
    let [l, d, _] = dense.proj.dims();
    let qkv = dense.qkv.clone().reshape([l, 3, d, d]);
    let fc1 = dense.fc1.clone().reshape([l, 4, d, d]);
    let (o, fc2) = match orientation {
        Orientation::Residual => (
            dense.proj.clone().swap_dims(1, 2),
            dense
                .fc2
                .clone()
                .reshape([l, d, 4, d])
                .permute([0, 2, 3, 1]),
        ),
        Orientation::Raw => (
            dense.proj.clone(),
            dense
                .fc2
                .clone()
                .reshape([l, d, 4, d])
                .permute([0, 2, 1, 3]),
        ),
    };
    let o = o.reshape([l, 1, d, d]);
    Tensor::cat(vec![qkv, o, fc1, fc2], 1).reshape([l * BLOCKS_PER_LAYER, d, d])
}

/// The core of `W` in given bases: `G = W x1 X^T x2 U^T x3 V^T`. With square orthogonal X, U, V
/// (full ranks) `compose(G, X, U, V) == W` exactly; used to show a templated ViT can represent
/// any dense ViT. w: `[n, D, D]`, x: `[n, r1]`, u: `[D, r2]`, v: `[D, r3]` -> `[r1, r2, r3]`.
pub fn project(w: Tensor<3>, x: Tensor<2>, u: Tensor<2>, v: Tensor<2>) -> Tensor<3> {
    let [n, d2, d3] = w.dims();
    let (r1, r2, r3) = (x.dims()[1], u.dims()[1], v.dims()[1]);
    let a = x
        .transpose()
        .matmul(w.reshape([n, d2 * d3]))
        .reshape([r1, d2, d3]);
    let b = a.reshape([r1 * d2, d3]).matmul(v).reshape([r1, d2, r3]);
    let b = b.swap_dims(0, 1).reshape([d2, r1 * r3]);
    u.transpose()
        .matmul(b)
        .reshape([r2, r1, r3])
        .swap_dims(0, 1)
}
