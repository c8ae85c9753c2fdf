//! What a masked-autoencoder (or any dense task head) needs from a ViT encoder, implemented
//! by the dense [`Vit`](crate::Vit) and by the templated ViT of `sweet-template`.

use burn::prelude::*;

pub trait Encoder {
    /// Token width D.
    fn embed_dim(&self) -> usize;
    /// Patch tokens plus their position embedding: `[B, C, H, W]` -> `[B, N, D]`.
    fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3>;
    /// Prepends the class token (with its position), runs the blocks and the final norm:
    /// `[B, n, D]` (any subset of positioned patch tokens) -> `[B, 1 + n, D]`.
    fn encode(&self, tokens: Tensor<3>) -> Tensor<3>;
}

impl Encoder for crate::Vit {
    fn embed_dim(&self) -> usize {
        crate::Vit::embed_dim(self)
    }
    fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3> {
        crate::Vit::patch_tokens(self, images)
    }
    fn encode(&self, tokens: Tensor<3>) -> Tensor<3> {
        crate::Vit::encode(self, tokens)
    }
}
