//! The ViT's math on plain tensors, weights in PyTorch layout (`[out, in]`).
//!
//! LayerNorm, GELU and the attention core run sweet-kernels' fused CPU operations on burn's
//! Flex backend (and burn's composed ops elsewhere); both are tested against each other there
//! and this module against timm in `tests/parity.rs`.

use burn::prelude::*;

/// LayerNorm epsilon used everywhere in timm's ViT.
pub const LN_EPS: f64 = 1e-6;

/// `x @ weight^T + bias`. x: `[..., in]`, weight: `[out, in]`, bias: `[out]` -> `[..., out]`.
pub fn linear<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<D> {
    sweet_kernels::linear(x, weight, bias)
}

/// LayerNorm over the last dim with eps 1e-6. x: `[..., D]`, weight/bias: `[D]`.
pub fn layer_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, bias: Tensor<1>) -> Tensor<D> {
    sweet_kernels::layer_norm(x, weight, bias, LN_EPS)
}

/// Multi-head self-attention with a fused qkv projection, timm's layout.
///
/// x: `[B, N, D]`; qkv_w: `[3D, D]` with rows `[q | k | v]`, each head-major; proj_w: `[D, D]`.
/// Returns `[B, N, D]`.
pub fn attention(
    x: Tensor<3>,
    qkv_w: Tensor<2>,
    qkv_b: Tensor<1>,
    proj_w: Tensor<2>,
    proj_b: Tensor<1>,
    num_heads: usize,
) -> Tensor<3> {
    let out = sweet_kernels::attention(linear(x, qkv_w, qkv_b), num_heads);
    linear(out, proj_w, proj_b)
}

/// The MLP: fc2(GELU_erf(fc1(x))). fc1_w: `[hidden, D]`, fc2_w: `[D, hidden]`.
pub fn mlp<const D: usize>(
    x: Tensor<D>,
    fc1_w: Tensor<2>,
    fc1_b: Tensor<1>,
    fc2_w: Tensor<2>,
    fc2_b: Tensor<1>,
) -> Tensor<D> {
    linear(sweet_kernels::gelu(linear(x, fc1_w, fc1_b)), fc2_w, fc2_b)
}

/// Cuts images into flattened patches in the order a conv weight `[D, C, p, p]` flattens:
/// `[B, C, H, W]` -> `[B, N, C*p*p]`, patches row-major over the grid.
pub fn patchify_conv_order(images: Tensor<4>, patch: usize) -> Tensor<3> {
    let [b, c, h, w] = images.dims();
    let (gh, gw) = (h / patch, w / patch);
    images
        .reshape([b, c, gh, patch, gw, patch])
        .permute([0, 2, 4, 1, 3, 5])
        .reshape([b, gh * gw, c * patch * patch])
}
