//! Fused CPU operations for the ViT's hot paths, each with its own backward pass.
//!
//! burn's autodiff builds LayerNorm out of eight element-wise ops (and twice as many in the
//! backward pass), attention out of permute copies, two batched matmuls and a five-op softmax,
//! and runs every element-wise op single-threaded. On burn's pure-Rust `Flex` backend these
//! functions instead run one multi-threaded, vectorized kernel forward and one backward
//! (registered as a single node in burn's autodiff graph). On any other backend, or under
//! gradient checkpointing, they fall back to the composed burn ops, which are also the
//! reference the tests compare against.
//!
//! | function | forward | backward |
//! |---|---|---|
//! | [`linear`] | bias written first, one gemm | dx and dW by gemm, db in one pass |
//! | [`layer_norm`] | one pass per row | dx, dgamma, dbeta in one pass |
//! | [`gelu`] | erf-GELU, vectorized erf | one pass |
//! | [`attention`] | from fused qkv, no permutes | dq, dk, dv into one dqkv |

mod autodiff;
pub mod cpu;
mod route;

use burn::prelude::*;
use burn::tensor::module::attention as sdpa;

use route::{Route, Routed};

/// `x @ weight^T + bias` in PyTorch's layout. x: `[..., in]`, weight: `[out, in]` (any
/// strided view), bias: `[out]` -> `[..., out]`.
pub fn linear<const R: usize>(x: Tensor<R>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<R> {
    match route::three(&x, &weight, &bias) {
        Some(Routed::Plain(p)) => {
            Tensor::from_primitive::<burn::backend::Flex>(autodiff::linear_plain(p))
        }
        Some(Routed::Tracked(t)) => Route::wrap(autodiff::linear(t)),
        None => reference::linear(x, weight, bias),
    }
}

/// LayerNorm over the last dim. x: `[..., D]`, gamma/beta: `[D]`.
pub fn layer_norm<const R: usize>(
    x: Tensor<R>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<R> {
    match route::three(&x, &gamma, &beta) {
        Some(Routed::Plain(p)) => {
            Tensor::from_primitive::<burn::backend::Flex>(autodiff::layer_norm_plain(p, eps as f32))
        }
        Some(Routed::Tracked(t)) => Route::wrap(autodiff::layer_norm(t, eps as f32)),
        None => reference::layer_norm(x, gamma, beta, eps),
    }
}

/// Exact (erf) GELU, element-wise.
pub fn gelu<const R: usize>(x: Tensor<R>) -> Tensor<R> {
    match route::one(&x) {
        Some(Routed::Plain(p)) => {
            Tensor::from_primitive::<burn::backend::Flex>(autodiff::gelu_plain(p))
        }
        Some(Routed::Tracked(t)) => Route::wrap(autodiff::gelu(t)),
        None => reference::gelu(x),
    }
}

/// Multi-head self-attention from fused qkv activations, timm's layout.
///
/// qkv: `[B, N, 3D]` with columns `[q | k | v]`, each head-major (`num_heads` heads of D/H).
/// Returns `[B, N, D]`: softmax(q k^T / sqrt(D/H)) v with the heads side by side, as timm's
/// `(attn @ v).transpose(1, 2).reshape(B, N, D)`.
pub fn attention(qkv: Tensor<3>, num_heads: usize) -> Tensor<3> {
    let [_, _, d3] = qkv.dims();
    assert!(
        d3 % (3 * num_heads) == 0,
        "qkv width {d3} is not 3 x heads ({num_heads}) x head_dim"
    );
    match route::one(&qkv) {
        Some(Routed::Plain(p)) => {
            Tensor::from_primitive::<burn::backend::Flex>(autodiff::attention_plain(p, num_heads))
        }
        Some(Routed::Tracked(t)) => Route::wrap(autodiff::attention(t, num_heads)),
        None => reference::attention(qkv, num_heads),
    }
}

/// The same operations composed from stock burn ops: the fallback on other backends and the
/// reference the fused kernels are tested against.
pub mod reference {
    use super::*;

    pub fn linear<const R: usize>(x: Tensor<R>, weight: Tensor<2>, bias: Tensor<1>) -> Tensor<R> {
        burn::tensor::module::linear(x, weight.transpose(), Some(bias))
    }

    pub fn layer_norm<const R: usize>(
        x: Tensor<R>,
        gamma: Tensor<1>,
        beta: Tensor<1>,
        eps: f64,
    ) -> Tensor<R> {
        burn::tensor::module::layer_norm(x, gamma, Some(beta), eps)
    }

    pub fn gelu<const R: usize>(x: Tensor<R>) -> Tensor<R> {
        burn::tensor::activation::gelu(x)
    }

    pub fn attention(qkv: Tensor<3>, num_heads: usize) -> Tensor<3> {
        let [b, n, d3] = qkv.dims();
        let d = d3 / 3;
        let hd = d / num_heads;
        // [B, N, 3D] -> [B, N, 3, H, hd] -> [3, B, H, N, hd]
        let qkv = qkv
            .reshape([b, n, 3, num_heads, hd])
            .permute([2, 0, 3, 1, 4]);
        let mut parts = qkv.chunk(3, 0).into_iter().map(|t| t.squeeze_dim::<4>(0));
        let (q, k, v) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let out = sdpa(q, k, v, None, None, Default::default());
        out.swap_dims(1, 2).reshape([b, n, d])
    }
}

/// Whether calls on `x` run the fused kernels (f32 on Flex, with or without autodiff) rather
/// than the composed reference ops.
pub fn uses_fused_kernels<const R: usize>(x: &Tensor<R>) -> bool {
    route::one(x).is_some()
}
