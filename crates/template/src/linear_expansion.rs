//! TLEG's linear expansion of a learngene (BASELINES.md section 3): a block generator that makes
//! every layer's parameters, weights **and** norms and biases, from two block-shaped tensors,
//! `p_i = base + (i / L) * slope` for layer `i = 0 .. L - 1` of a depth-`L` model (the
//! denominator is L, in the auxiliary model and in the descendant alike).
//!
//! The learngene's keys are timm's block keys under `learngene.base.` and `learngene.slope.`
//! (`learngene.base.attn.qkv.weight`, `learngene.slope.norm1.bias`, ...); a [`Vit`] over it
//! ([`linear_expansion_vit`]) holds no per-block parts ([`Vit::with_generator_parts`]), so its
//! only other keys are the shared ones: `cls_token`, `pos_embed`, `patch_embed.proj.*`, `norm.*`
//! (and a head).

use burn::module::Param;
use burn::prelude::*;
use sweet_vit::blocks::Block;
use sweet_vit::encoder::{LayerParts, Norm};
use sweet_vit::init::Init;
use sweet_vit::layers::{LayerNorm, Linear};
use sweet_vit::{BlockGenerator, LayerWeights, Vit, VitConfig};

/// The two halves of a learngene, each with a block's parameters under timm's block keys.
#[derive(Module, Debug)]
pub struct Learngene {
    /// Layer 0's parameters.
    pub base: Block,
    /// What layer `i` adds per unit of relative depth `i / L`.
    pub slope: Block,
}

/// The block generator of linear expansion: one learngene expanded to `depth` layers.
#[derive(Module, Debug)]
pub struct LinearExpansion {
    pub learngene: Learngene,
    /// L, the layers it expands to (the denominator of `i / L`).
    pub depth: usize,
}

/// `base + t * slope`, the one expansion formula (weights, biases and norms alike).
pub fn expand<const D: usize>(
    base: &Param<Tensor<D>>,
    slope: &Param<Tensor<D>>,
    t: f64,
) -> Tensor<D> {
    base.val() + slope.val() * t
}

/// Relative depth `i / L` of layer `i` (0-based) in a depth-`L` model.
pub fn relative_depth(i: usize, depth: usize) -> f64 {
    i as f64 / depth as f64
}

impl LinearExpansion {
    /// A fresh learngene for blocks of `cfg`'s width (TLEG's init): Linear weights of base and
    /// slope trunc-normal std .02 (drawn from `init` in the order base qkv, proj, fc1, fc2, then
    /// slope's), biases 0, LayerNorms base (1, 0) and slope (0, 0).
    pub fn new(cfg: &VitConfig, init: &mut Init) -> Self {
        let (d, hidden) = (cfg.embed_dim, cfg.mlp_hidden());
        let base = Block::new(d, cfg.num_heads, hidden, init);
        let mut slope = Block::new(d, cfg.num_heads, hidden, init);
        let zero = |init: &Init| LayerNorm {
            weight: Param::from_tensor(init.zeros([d])),
            bias: Param::from_tensor(init.zeros([d])),
        };
        slope.norm1 = zero(init);
        slope.norm2 = zero(init);
        LinearExpansion {
            learngene: Learngene { base, slope },
            depth: cfg.depth,
        }
    }

    /// The same learngene expanded to `depth` layers.
    pub fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Token width D of the learngene.
    pub fn width(&self) -> usize {
        self.learngene.base.norm1.weight.dims()[0]
    }
}

fn norm_at(base: &LayerNorm, slope: &LayerNorm, t: f64) -> Norm {
    Norm {
        weight: expand(&base.weight, &slope.weight, t),
        bias: expand(&base.bias, &slope.bias, t),
    }
}

impl BlockGenerator for LinearExpansion {
    type Draw = ();

    fn layers(&self, _draw: &()) -> Vec<LayerWeights> {
        let (b, s) = (&self.learngene.base, &self.learngene.slope);
        (0..self.depth)
            .map(|i| {
                let t = relative_depth(i, self.depth);
                LayerWeights {
                    qkv: expand(&b.attn.qkv.weight, &s.attn.qkv.weight, t),
                    proj: expand(&b.attn.proj.weight, &s.attn.proj.weight, t),
                    fc1: expand(&b.mlp.fc1.weight, &s.mlp.fc1.weight, t),
                    fc2: expand(&b.mlp.fc2.weight, &s.mlp.fc2.weight, t),
                }
            })
            .collect()
    }

    fn layer_parts(&self, _draw: &()) -> Option<Vec<LayerParts>> {
        let (b, s) = (&self.learngene.base, &self.learngene.slope);
        let bias = |base: &Linear, slope: &Linear, t| expand(&base.bias, &slope.bias, t);
        Some(
            (0..self.depth)
                .map(|i| {
                    let t = relative_depth(i, self.depth);
                    LayerParts {
                        norm1: norm_at(&b.norm1, &s.norm1, t),
                        qkv_bias: bias(&b.attn.qkv, &s.attn.qkv, t),
                        proj_bias: bias(&b.attn.proj, &s.attn.proj, t),
                        norm2: norm_at(&b.norm2, &s.norm2, t),
                        fc1_bias: bias(&b.mlp.fc1, &s.mlp.fc1, t),
                        fc2_bias: bias(&b.mlp.fc2, &s.mlp.fc2, t),
                    }
                })
                .collect(),
        )
    }
}

/// A ViT whose every block linear expansion makes (TLEG's auxiliary model): the shared parts
/// (patch embedding, class token, position embedding, final norm) with timm's init, a fresh
/// learngene drawn at the generator's place in the draw order, no per-block parts.
pub fn linear_expansion_vit(
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit<LinearExpansion>, sweet_vit::ConfigError> {
    cfg.validate()?;
    Ok(Vit::with_generator_parts(cfg, seed, device, |init| {
        LinearExpansion::new(cfg, init)
    }))
}
