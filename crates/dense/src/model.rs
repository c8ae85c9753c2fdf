//! A dense model: a ViT backbone (any initialization, no classifier head) with a
//! [`TokenHead`] on its patch-token grid. Detection and segmentation differ only in the head's
//! shape and in the loss.

use burn::prelude::*;
use sweet_train::param_groups::{layer_id, ParamGroups};
use sweet_vit::{DropPathPlan, Vit};

use crate::head::TokenHead;

/// The key prefix of the backbone's parameters in a [`DenseModel`] (`backbone.blocks.0...`).
pub const BACKBONE: &str = "backbone.";

#[derive(Module, Debug)]
pub struct DenseModel {
    /// The encoder (timm keys under `backbone.`; its `head` is `None`).
    pub backbone: Vit,
    pub head: TokenHead,
}

impl DenseModel {
    /// Images `[B, C, H, W]` -> head map `[B, c, gh * s, gw * s]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        self.forward_with(images, None)
    }

    /// [`Self::forward`] with stochastic depth in the backbone when `drop` is given.
    pub fn forward_with(&self, images: Tensor<4>, drop: Option<&DropPathPlan>) -> Tensor<4> {
        let features = self.backbone.features_with(images, drop);
        let [_, n1, _] = features.dims();
        self.head
            .forward(features.narrow(1, 1, n1 - 1), self.backbone.grid)
    }

    /// Blocks of the backbone.
    pub fn depth(&self) -> usize {
        self.backbone.blocks.len()
    }

    /// The output stride of the head's map in pixels: `patch / s`.
    pub fn stride(&self) -> f32 {
        self.backbone.patch_embed.patch_size as f32 / self.head.sub as f32
    }
}

/// The optimizer's groups for a [`DenseModel`]: timm's decay rule; with `layer_decay`, MAE's
/// layer-wise lr decay over the backbone's blocks (embeddings lowest) and the head at the full
/// lr, as ViTDet and BEiT's segmentation fine-tuning give their decoders.
pub fn param_groups(layer_decay: Option<f64>, depth: usize) -> ParamGroups {
    match layer_decay {
        None => ParamGroups::timm(),
        Some(decay) => {
            ParamGroups::timm().with_lr_scale(move |key| match key.strip_prefix(BACKBONE) {
                Some(k) => decay.powi((depth + 1).saturating_sub(layer_id(k, depth)) as i32),
                None => 1.0,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_decay_reaches_the_backbone_keys_and_spares_the_head() {
        let g = param_groups(Some(0.5), 2);
        assert_eq!(g.lr_scale("head.fc2.weight"), 1.0);
        assert_eq!(g.lr_scale("backbone.norm.weight"), 1.0);
        assert_eq!(g.lr_scale("backbone.blocks.1.mlp.fc1.weight"), 0.5);
        assert_eq!(g.lr_scale("backbone.blocks.0.mlp.fc1.weight"), 0.25);
        assert_eq!(g.lr_scale("backbone.pos_embed"), 0.125);
        assert_eq!(param_groups(None, 2).lr_scale("backbone.pos_embed"), 1.0);
    }
}
