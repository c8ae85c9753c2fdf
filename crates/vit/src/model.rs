//! timm's `VisionTransformer` with a class token, learned position embedding and
//! `global_pool='token'` (final `norm`, class token) or `'avg'` (no final norm, mean of the patch
//! tokens, `fc_norm`). Field paths are timm's state-dict keys.

use burn::module::Param;
use burn::prelude::*;

use crate::config::{GlobalPool, VitConfig};
use crate::init::Init;
use crate::layers::{Attention, LayerNorm, Linear, Mlp, PatchEmbed};

/// Pre-norm block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn new(cfg: &VitConfig, init: &mut Init) -> Self {
        let d = cfg.embed_dim;
        Block {
            norm1: LayerNorm::new(d, init),
            attn: Attention::new(d, cfg.num_heads, init),
            norm2: LayerNorm::new(d, init),
            mlp: Mlp::new(d, cfg.mlp_hidden(), init),
        }
    }

    /// `[B, N, D]` -> `[B, N, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x));
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct Vit {
    pub patch_embed: PatchEmbed,
    /// `[1, 1, D]`.
    pub cls_token: Param<Tensor<3>>,
    /// `[1, N + 1, D]`; row 0 belongs to the class token.
    pub pos_embed: Param<Tensor<3>>,
    pub blocks: Vec<Block>,
    /// Final norm over all tokens; absent with [`GlobalPool::Avg`] (timm's Identity there).
    pub norm: Option<LayerNorm>,
    /// Norm of the pooled `[B, D]` patch-token mean; present exactly with [`GlobalPool::Avg`],
    /// so its presence is what selects average pooling in [`Vit::forward`].
    pub fc_norm: Option<LayerNorm>,
    /// `[K, D]`; absent when `num_classes == 0`.
    pub head: Option<Linear>,
}

impl Vit {
    /// A model with timm's default init, drawn from `seed`. The config must be valid
    /// ([`VitConfig::validate`]).
    pub fn new(cfg: &VitConfig, seed: u64, device: &Device) -> Self {
        let mut init = Init::new(seed, device);
        let d = cfg.embed_dim;
        // Draw order: embeddings, blocks, norm, head (stable across versions: it fixes what a
        // seed means).
        let patch_embed = PatchEmbed::new(cfg.in_chans, d, cfg.patch_size, &mut init);
        let cls_token = Param::from_tensor(init.normal([1, 1, d], 1e-6));
        let pos_embed = Param::from_tensor(init.trunc_normal([1, cfg.num_patches() + 1, d], 0.02));
        let blocks = (0..cfg.depth).map(|_| Block::new(cfg, &mut init)).collect();
        let avg = cfg.global_pool == GlobalPool::Avg;
        let norm = (!avg).then(|| LayerNorm::new(d, &mut init));
        let fc_norm = avg.then(|| LayerNorm::new(d, &mut init));
        let head = (cfg.num_classes > 0).then(|| Linear::new(d, cfg.num_classes, &mut init));
        Vit {
            patch_embed,
            cls_token,
            pos_embed,
            blocks,
            norm,
            fc_norm,
            head,
        }
    }

    /// Token width D.
    pub fn embed_dim(&self) -> usize {
        self.cls_token.dims()[2]
    }

    /// Patch tokens with their position embedding: `[B, C, H, W]` -> `[B, N, D]`.
    pub fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3> {
        let [_, n1, d] = self.pos_embed.dims();
        self.patch_embed.forward(images) + self.pos_embed.val().slice([0..1, 1..n1, 0..d])
    }

    /// Prepends the class token (plus its position) and runs blocks and the final norm (none with
    /// average pooling, as in timm):
    /// `[B, n, D]` (any subset of positioned patch tokens) -> `[B, 1 + n, D]`.
    pub fn encode(&self, tokens: Tensor<3>) -> Tensor<3> {
        let [b, _, d] = tokens.dims();
        let cls = self.cls_token.val() + self.pos_embed.val().slice([0..1, 0..1, 0..d]);
        let mut x = Tensor::cat(vec![cls.expand([b, 1, d]), tokens], 1);
        for block in &self.blocks {
            x = block.forward(x);
        }
        match &self.norm {
            Some(norm) => norm.forward(x),
            None => x,
        }
    }

    /// Token features (timm's `forward_features`): `[B, C, H, W]` -> `[B, 1 + N, D]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<3> {
        self.encode(self.patch_tokens(images))
    }

    /// Class logits (timm's `forward_head`): the class token, or with `fc_norm` the
    /// `fc_norm`-ed mean of the patch tokens (class token excluded), then the head:
    /// `[B, C, H, W]` -> `[B, K]` (`[B, D]` without a head).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let f = self.features(images);
        let [b, n1, d] = f.dims();
        let pooled = match &self.fc_norm {
            None => f.slice([0..b, 0..1, 0..d]).reshape([b, d]),
            Some(fc_norm) => {
                fc_norm.forward(f.slice([0..b, 1..n1, 0..d]).mean_dim(1).reshape([b, d]))
            }
        };
        match &self.head {
            Some(head) => head.forward(pooled),
            None => pooled,
        }
    }
}
