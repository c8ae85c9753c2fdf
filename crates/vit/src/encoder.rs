//! The one encoder forward of the project.
//!
//! Every ViT here (the dense [`Vit`](crate::Vit), a ViT whose block weights a template composes,
//! the MAE encoder, and later detection and segmentation backbones) runs through
//! [`EncoderView`]: plain tensors for one forward, in timm's layout, at whatever width the
//! block weights were generated. Where the weights come from is a [`BlockGenerator`]; the
//! ordinary parts (embeddings, norms, biases) come from the model, except for a generator that
//! makes every layer's norms and biases too ([`BlockGenerator::layer_parts`], e.g. linear
//! expansion): the model then holds no per-block parts.

use burn::module::Module;
use burn::prelude::*;

use crate::drop_path::{BlockDrop, DropPathPlan};
use crate::layers::functional::{attention, layer_norm, linear, mlp, patchify_conv_order};

/// The attention and MLP weights of one layer, timm's layout (`[out, in]`), width `w`, hidden
/// `4w`: qkv `[3w, w]` (rows `[q | k | v]`, head-major), proj `[w, w]`, fc1 `[4w, w]`,
/// fc2 `[w, 4w]`.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub qkv: Tensor<2>,
    pub proj: Tensor<2>,
    pub fc1: Tensor<2>,
    pub fc2: Tensor<2>,
}

impl LayerWeights {
    /// Token width w of these weights.
    pub fn width(&self) -> usize {
        self.proj.dims()[0]
    }
}

/// What produces every layer's attention and MLP weights for one forward: dense parameters
/// ([`DenseBlocks`](crate::blocks::DenseBlocks)), or a weight template with its scalers. A
/// `Draw` is what varies between training steps (width-wise stochastic scaling); its
/// `Default` is the deterministic full model used in evaluation and export.
pub trait BlockGenerator: Module {
    type Draw: Clone + std::fmt::Debug + Default;

    /// The weights of every layer, in order, all at one width.
    fn layers(&self, draw: &Self::Draw) -> Vec<LayerWeights>;

    /// Every layer's norms and biases, in order, when the generator makes them too (linear
    /// expansion expands them with the weights); a model over such a generator holds no
    /// per-block parts ([`crate::Vit::with_generator_parts`]). `None` (the default): they are
    /// the model's own parameters.
    fn layer_parts(&self, _draw: &Self::Draw) -> Option<Vec<LayerParts>> {
        None
    }
}

/// LayerNorm parameters: `[w]` each.
#[derive(Clone, Debug)]
pub struct Norm {
    pub weight: Tensor<1>,
    pub bias: Tensor<1>,
}

impl Norm {
    /// `[..., w]` -> `[..., w]`, eps 1e-6.
    pub fn forward<const R: usize>(&self, x: Tensor<R>) -> Tensor<R> {
        layer_norm(x, self.weight.clone(), self.bias.clone())
    }
}

/// One layer's norms and biases for one forward, width `w`: what a block keeps beside its
/// attention and MLP weights.
#[derive(Clone, Debug)]
pub struct LayerParts {
    pub norm1: Norm,
    /// `[3w]`.
    pub qkv_bias: Tensor<1>,
    /// `[w]`.
    pub proj_bias: Tensor<1>,
    pub norm2: Norm,
    /// `[4w]`.
    pub fc1_bias: Tensor<1>,
    /// `[w]`.
    pub fc2_bias: Tensor<1>,
}

impl LayerParts {
    /// The block these parts make with `weights`.
    pub fn with_weights(self, weights: LayerWeights) -> BlockView {
        BlockView {
            norm1: self.norm1,
            qkv_bias: self.qkv_bias,
            proj_bias: self.proj_bias,
            norm2: self.norm2,
            fc1_bias: self.fc1_bias,
            fc2_bias: self.fc2_bias,
            weights,
        }
    }
}

/// One pre-norm block for one forward: its generated weights and its own parts, width `w`.
#[derive(Clone, Debug)]
pub struct BlockView {
    pub norm1: Norm,
    /// `[3w]`.
    pub qkv_bias: Tensor<1>,
    /// `[w]`.
    pub proj_bias: Tensor<1>,
    pub norm2: Norm,
    /// `[4w]`.
    pub fc1_bias: Tensor<1>,
    /// `[w]`.
    pub fc2_bias: Tensor<1>,
    pub weights: LayerWeights,
}

impl BlockView {
    /// timm's `Block`: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`. `[B, N, w]` -> `[B, N, w]`.
    pub fn forward(&self, x: Tensor<3>, heads: usize) -> Tensor<3> {
        self.forward_with(x, heads, None)
    }

    /// [`Self::forward`] with stochastic depth: `x + drop(attn(norm1(x)))`, then
    /// `x + drop(mlp(norm2(x)))`, each branch masked per sample by `drop` (see
    /// [`crate::drop_path`]); `None` drops nothing. `[B, N, w]` -> `[B, N, w]`.
    pub fn forward_with(&self, x: Tensor<3>, heads: usize, drop: Option<&BlockDrop>) -> Tensor<3> {
        self.forward_branches(
            x,
            heads,
            |_, h| h,
            |branch, h| match drop {
                Some(d) => d.apply(h, if branch == 0 { &d.attn } else { &d.mlp }),
                None => h,
            },
        )
    }

    /// DiT's adaLN block: `x + gate1 * attn(modulate(norm1(x), shift1, scale1))`, then the
    /// same for the MLP with the second triple, where `modulate(h, shift, scale) =
    /// h * (1 + scale) + shift`, every modulation `[B, 1, w]` (per sample, broadcast over
    /// tokens). `[B, N, w]` -> `[B, N, w]`. With every gate 0 (adaLN-Zero) it is the identity.
    pub fn forward_modulated(&self, x: Tensor<3>, heads: usize, m: &Modulation) -> Tensor<3> {
        self.forward_branches(
            x,
            heads,
            |branch, h| m.branches[branch].modulate(h),
            |branch, h| h * m.branches[branch].gate.clone(),
        )
    }

    /// The block's two residual branches, attention (branch 0) then MLP (branch 1): `x +
    /// post(b, f_b(pre(b, norm_b(x))))`. The one place the block's math is written.
    fn forward_branches(
        &self,
        x: Tensor<3>,
        heads: usize,
        pre: impl Fn(usize, Tensor<3>) -> Tensor<3>,
        post: impl Fn(usize, Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        let w = &self.weights;
        let h = attention(
            pre(0, self.norm1.forward(x.clone())),
            w.qkv.clone(),
            self.qkv_bias.clone(),
            w.proj.clone(),
            self.proj_bias.clone(),
            heads,
        );
        let x = x + post(0, h);
        let h = mlp(
            pre(1, self.norm2.forward(x.clone())),
            w.fc1.clone(),
            self.fc1_bias.clone(),
            w.fc2.clone(),
            self.fc2_bias.clone(),
        );
        x + post(1, h)
    }
}

/// The shift, scale and gate of one residual branch under adaLN, `[B, 1, w]` each.
#[derive(Clone, Debug)]
pub struct BranchModulation {
    pub shift: Tensor<3>,
    pub scale: Tensor<3>,
    pub gate: Tensor<3>,
}

impl BranchModulation {
    /// `h * (1 + scale) + shift`: `[B, N, w]` -> `[B, N, w]`.
    pub fn modulate(&self, h: Tensor<3>) -> Tensor<3> {
        h * (self.scale.clone() + 1.0) + self.shift.clone()
    }
}

/// A block's adaLN modulation for one forward: attention branch, then MLP branch.
#[derive(Clone, Debug)]
pub struct Modulation {
    pub branches: [BranchModulation; 2],
}

/// Every tensor of an encoder for one forward, width `w`.
#[derive(Clone, Debug)]
pub struct EncoderView {
    /// The patch-embedding conv as a matrix `[w, C p p]` (conv weight order).
    pub patch_weight: Tensor<2>,
    /// `[w]`.
    pub patch_bias: Tensor<1>,
    pub patch_size: usize,
    /// `[1, 1, w]`.
    pub cls_token: Tensor<3>,
    /// `[1, 1 + N, w]`; row 0 belongs to the class token.
    pub pos_embed: Tensor<3>,
    pub blocks: Vec<BlockView>,
    /// The final norm (absent with average pooling, where timm applies `fc_norm` after pooling).
    pub norm: Option<Norm>,
    /// Attention heads at width `w`.
    pub heads: usize,
}

impl EncoderView {
    /// Token width w.
    pub fn width(&self) -> usize {
        self.cls_token.dims()[2]
    }

    /// Patch tokens with their position embedding: `[B, C, H, W]` -> `[B, N, w]`.
    pub fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3> {
        let n1 = self.pos_embed.dims()[1];
        let tokens = linear(
            patchify_conv_order(images, self.patch_size),
            self.patch_weight.clone(),
            self.patch_bias.clone(),
        );
        let [_, n, _] = tokens.dims();
        assert_eq!(
            n + 1,
            n1,
            "the images give {n} patches, the position table has {}: resample it for this size",
            n1 - 1
        );
        tokens + self.pos_embed.clone().narrow(1, 1, n1 - 1)
    }

    /// The class token (plus its position) prepended: `[B, n, w]` -> `[B, 1 + n, w]`.
    fn with_class_token(&self, tokens: Tensor<3>) -> Tensor<3> {
        let [b, _, w] = tokens.dims();
        let cls = self.cls_token.clone() + self.pos_embed.clone().narrow(1, 0, 1);
        Tensor::cat(vec![cls.expand([b, 1, w]), tokens], 1)
    }

    /// Token features after the chosen blocks (0-based block indices, in the order given; no
    /// final norm): `[B, n, w]` (any subset of positioned patch tokens) ->
    /// one `[B, 1 + n, w]` per tap, class token first. Blocks after the last tap are not run.
    ///
    /// # Panics
    /// If a tap is not a block index.
    pub fn encode_layers(&self, tokens: Tensor<3>, taps: &[usize]) -> Vec<Tensor<3>> {
        let depth = self.blocks.len();
        assert!(
            taps.iter().all(|&t| t < depth),
            "taps {taps:?} must be block indices below {depth}"
        );
        let last = taps.iter().copied().max().map_or(0, |t| t + 1);
        let mut x = self.with_class_token(tokens);
        let mut after = Vec::with_capacity(last);
        for block in &self.blocks[..last] {
            x = block.forward(x, self.heads);
            after.push(x.clone());
        }
        taps.iter().map(|&t| after[t].clone()).collect()
    }

    /// Class token, every block and the final norm (if any): `[B, n, w]` (any subset of
    /// positioned patch tokens) -> `[B, 1 + n, w]`.
    pub fn encode(&self, tokens: Tensor<3>) -> Tensor<3> {
        self.encode_with(tokens, None)
    }

    /// [`Self::encode`] with stochastic depth (training only): block `i` drops its branches
    /// as `drop.blocks[i]` says; `None` is [`Self::encode`]. `[B, n, w]` -> `[B, 1 + n, w]`.
    ///
    /// # Panics
    /// If the plan has not one entry per block, or was drawn for another batch size.
    pub fn encode_with(&self, tokens: Tensor<3>, drop: Option<&DropPathPlan>) -> Tensor<3> {
        if let Some(plan) = drop {
            assert_eq!(
                plan.blocks.len(),
                self.blocks.len(),
                "a drop-path plan needs one entry per block"
            );
        }
        let mut x = self.with_class_token(tokens);
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward_with(x, self.heads, drop.map(|p| &p.blocks[i]));
        }
        match &self.norm {
            Some(n) => n.forward(x),
            None => x,
        }
    }
}
