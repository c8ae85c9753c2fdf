//! timm's `VisionTransformer` (class token, absolute position embedding, pre-norm blocks,
//! `global_pool` `token` or `avg`), over any [`BlockGenerator`].
//!
//! `Vit` (= `Vit<DenseBlocks>`) is the ordinary dense model every command reads and writes;
//! `Vit<T>` with a template generator is the ViT whose attention and MLP weights a template
//! composes at every forward. Both share this struct's parts, its init order and the one
//! forward of [`crate::encoder`]. Field paths are timm's state-dict keys. A generator that makes
//! every layer's norms and biases too (linear expansion) goes with [`Vit::with_generator_parts`]:
//! the model then holds no per-block parts.

use burn::module::Param;
use burn::prelude::*;

use crate::blocks::{BlockParts, BlockWeights, DenseBlocks};
use crate::config::{GlobalPool, ImgSize, VitConfig};
use crate::drop_path::DropPathPlan;
use crate::encoder::{BlockGenerator, BlockView, EncoderView, LayerWeights};
use crate::init::Init;
use crate::layers::{LayerNorm, Linear, PatchEmbed};
use crate::pos_embed::{resample_learned, sincos_2d_tensor};
use crate::width::first;

/// What the position table is, which decides how it follows another grid or width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PosEmbedKind {
    /// Learned (timm): bicubic resampling for another grid, first channels for a sub-width.
    #[default]
    Learned,
    /// MAE's fixed 2-D sin-cos table, frozen: recomputed for any grid or width, never sliced
    /// (its first half encodes columns, its second half rows).
    SinCos,
}

#[derive(Module, Debug)]
pub struct Vit<G: Module = DenseBlocks> {
    /// Produces every layer's attention and MLP weights. Its keys sit at the model's root
    /// (`blocks.i.attn.qkv.weight` for dense weights, `template` and `scalers.*` for a
    /// template): see [`crate::names`].
    pub generator: G,
    pub patch_embed: PatchEmbed,
    /// `[1, 1, D]`.
    pub cls_token: Param<Tensor<3>>,
    /// `[1, N + 1, D]`; row 0 belongs to the class token.
    pub pos_embed: Param<Tensor<3>>,
    /// Norms and biases of every block; empty when the generator makes them
    /// ([`BlockGenerator::layer_parts`], [`Vit::with_generator_parts`]).
    pub blocks: Vec<BlockParts>,
    /// The final norm (`global_pool` `token`); absent with `avg`.
    pub norm: Option<LayerNorm>,
    /// The norm after average pooling (`global_pool` `avg`).
    pub fc_norm: Option<LayerNorm>,
    /// `[K, D]`; absent when `num_classes == 0`.
    pub head: Option<Linear>,
    pub num_heads: usize,
    #[module(skip)]
    pub pos_kind: PosEmbedKind,
    /// Patch grid `[rows, columns]` of `pos_embed`.
    #[module(skip)]
    pub grid: [usize; 2],
    #[module(skip)]
    pub global_pool: GlobalPool,
}

impl Vit<DenseBlocks> {
    /// A dense model with timm's default init, drawn from `seed`. The config must be valid
    /// ([`VitConfig::validate`]).
    pub fn new(cfg: &VitConfig, seed: u64, device: &Device) -> Self {
        let (d, hidden) = (cfg.embed_dim, cfg.mlp_hidden());
        Vit::with_generator(cfg, seed, device, |init| DenseBlocks {
            blocks: (0..cfg.depth)
                .map(|_| BlockWeights::new(d, hidden, init))
                .collect(),
        })
    }
}

impl<G: Module> Vit<G> {
    /// The parts with timm's default init, drawn from `seed`, and the generator made by
    /// `generator` from the same stream. Draw order (it fixes what a seed means): patch
    /// embedding, class token, position embedding, the generator, head.
    pub fn with_generator(
        cfg: &VitConfig,
        seed: u64,
        device: &Device,
        generator: impl FnOnce(&mut Init) -> G,
    ) -> Self {
        Self::build(cfg, seed, device, generator, true)
    }

    /// [`Self::with_generator`] for a generator that makes every layer's norms and biases too
    /// ([`BlockGenerator::layer_parts`]): the model holds no per-block parts (nothing unused is
    /// trained or saved). Same draw order (the parts draw nothing).
    pub fn with_generator_parts(
        cfg: &VitConfig,
        seed: u64,
        device: &Device,
        generator: impl FnOnce(&mut Init) -> G,
    ) -> Self {
        Self::build(cfg, seed, device, generator, false)
    }

    fn build(
        cfg: &VitConfig,
        seed: u64,
        device: &Device,
        generator: impl FnOnce(&mut Init) -> G,
        block_parts: bool,
    ) -> Self {
        let mut init = Init::new(seed, device);
        let (d, hidden) = (cfg.embed_dim, cfg.mlp_hidden());
        let patch_embed = PatchEmbed::new(cfg.in_chans, d, cfg.patch_size, &mut init);
        let cls_token = Param::from_tensor(init.normal([1, 1, d], 1e-6));
        let pos_embed = Param::from_tensor(init.trunc_normal([1, cfg.num_patches() + 1, d], 0.02));
        let generator = generator(&mut init);
        let blocks = if block_parts {
            (0..cfg.depth)
                .map(|_| BlockParts::new(d, hidden, &mut init))
                .collect()
        } else {
            Vec::new()
        };
        let avg = cfg.global_pool == GlobalPool::Avg;
        let norm = (!avg).then(|| LayerNorm::new(d, &mut init));
        let fc_norm = avg.then(|| LayerNorm::new(d, &mut init));
        let head = (cfg.num_classes > 0).then(|| Linear::new(d, cfg.num_classes, &mut init));
        Vit {
            generator,
            patch_embed,
            cls_token,
            pos_embed,
            blocks,
            norm,
            fc_norm,
            head,
            num_heads: cfg.num_heads,
            pos_kind: PosEmbedKind::Learned,
            grid: cfg.grid(),
            global_pool: cfg.global_pool,
        }
    }

    /// The same model with its generator replaced by `f(generator)` (e.g. wrapped in an enum).
    pub fn map_generator<H: Module>(self, f: impl FnOnce(G) -> H) -> Vit<H> {
        Vit {
            generator: f(self.generator),
            patch_embed: self.patch_embed,
            cls_token: self.cls_token,
            pos_embed: self.pos_embed,
            blocks: self.blocks,
            norm: self.norm,
            fc_norm: self.fc_norm,
            head: self.head,
            num_heads: self.num_heads,
            pos_kind: self.pos_kind,
            grid: self.grid,
            global_pool: self.global_pool,
        }
    }

    /// Token width D.
    pub fn embed_dim(&self) -> usize {
        self.cls_token.dims()[2]
    }

    /// Replaces the position table by MAE's fixed sin-cos table, frozen (no gradient, never
    /// updated, recomputed for other grids and widths).
    pub fn with_sincos_pos_embed(mut self) -> Self {
        let (d, grid) = (self.embed_dim(), self.grid);
        self.pos_embed = self
            .pos_embed
            .map(|t| sincos_2d_tensor(d, grid, &t.device()))
            .set_require_grad(false);
        self.pos_kind = PosEmbedKind::SinCos;
        self
    }

    /// The same model for images of `img_size` (same patch): a learned position table is
    /// resampled bicubically (timm's `resample_abs_pos_embed`, antialiased), a sin-cos table
    /// recomputed. Every other parameter is independent of the grid. The grid is
    /// `img_size / patch` rounded down (timm's `img_size // patch_size`); [`Vit::adapt`]
    /// checks that the patch divides the size instead, and changes the patch too.
    pub fn resample_grid(self, img_size: ImgSize) -> Self {
        let p = self.patch_embed.patch_size;
        self.with_grid([img_size.h / p, img_size.w / p])
    }

    /// The same model for the patch grid `to` `[rows, columns]`: the position table resampled
    /// (learned) or recomputed (sin-cos), as [`Self::resample_grid`].
    pub(crate) fn with_grid(mut self, to: [usize; 2]) -> Self {
        if to == self.grid {
            return self;
        }
        let (from, kind, d) = (self.grid, self.pos_kind, self.embed_dim());
        self.pos_embed = self.pos_embed.map(|t| {
            let grad = t.is_require_grad();
            let device = t.device();
            let new = match kind {
                PosEmbedKind::Learned => resample_learned(&t, 1, from, to),
                PosEmbedKind::SinCos => sincos_2d_tensor(d, to, &device),
            };
            if grad {
                new.require_grad()
            } else {
                new
            }
        });
        self.grid = to;
        self
    }

    /// The position table at width `w`: the model's own at full width; a sub-width recomputes
    /// a sin-cos table and cuts a learned one to its first channels.
    fn pos_embed_at(&self, w: usize) -> Tensor<3> {
        if w == self.embed_dim() {
            return self.pos_embed.val();
        }
        match self.pos_kind {
            PosEmbedKind::SinCos => sincos_2d_tensor(w, self.grid, &self.pos_embed.device()),
            PosEmbedKind::Learned => first(self.pos_embed.val(), 2, w),
        }
    }

    /// The encoder for one forward with these generated weights: the parts at the weights'
    /// width (the width rules of [`crate::width`]; heads = width / head dim).
    ///
    /// # Panics
    /// Unless there is one set of weights per block part (a model whose generator makes the
    /// parts holds none: [`Vit::view`] it).
    pub fn view_with(&self, layers: Vec<LayerWeights>) -> EncoderView {
        let w = layers.first().map_or(self.embed_dim(), LayerWeights::width);
        assert_eq!(
            layers.len(),
            self.blocks.len(),
            "one set of weights per block"
        );
        let blocks = self
            .blocks
            .iter()
            .zip(layers)
            .map(|(p, l)| p.view(l))
            .collect();
        self.view_of_blocks(w, blocks)
    }

    /// The encoder for one forward with these blocks, of width `w`: the model's other parts at
    /// that width.
    fn view_of_blocks(&self, w: usize, blocks: Vec<BlockView>) -> EncoderView {
        let d = self.embed_dim();
        let head_dim = d / self.num_heads;
        EncoderView {
            patch_weight: first(self.patch_embed.matrix(), 0, w),
            patch_bias: first(self.patch_embed.proj.bias.val(), 0, w),
            patch_size: self.patch_embed.patch_size,
            cls_token: first(self.cls_token.val(), 2, w),
            pos_embed: self.pos_embed_at(w),
            blocks,
            norm: self.norm.as_ref().map(|n| n.at_width(w)),
            heads: w / head_dim,
        }
    }

    /// Pools encoder features `[B, 1 + N, D]` to `[B, D]` as `global_pool` says: the class
    /// token, or the mean of the patch tokens followed by `fc_norm`.
    pub fn pool(&self, features: Tensor<3>) -> Tensor<2> {
        let [b, n1, d] = features.dims();
        match self.global_pool {
            GlobalPool::Token => features.narrow(1, 0, 1).reshape([b, d]),
            GlobalPool::Avg => {
                let mean = features.narrow(1, 1, n1 - 1).mean_dim(1).reshape([b, d]);
                match &self.fc_norm {
                    Some(n) => n.at_width(d).forward(mean),
                    None => mean,
                }
            }
        }
    }
}

impl<G: BlockGenerator> Vit<G> {
    /// The encoder for one forward under `draw` (`Default::default()`: the full model): the
    /// generator's weights with the model's block parts, or with the generator's own
    /// ([`BlockGenerator::layer_parts`]).
    ///
    /// # Panics
    /// If the generator makes the block parts and the model holds some too.
    pub fn view(&self, draw: &G::Draw) -> EncoderView {
        let layers = self.generator.layers(draw);
        match self.generator.layer_parts(draw) {
            None => self.view_with(layers),
            Some(parts) => {
                assert!(
                    self.blocks.is_empty(),
                    "the generator makes the blocks' norms and biases: the model must hold none"
                );
                assert_eq!(parts.len(), layers.len(), "one set of parts per layer");
                let w = layers.first().map_or(self.embed_dim(), LayerWeights::width);
                let blocks = parts
                    .into_iter()
                    .zip(layers)
                    .map(|(p, l)| p.with_weights(l))
                    .collect();
                self.view_of_blocks(w, blocks)
            }
        }
    }

    /// Encoder features (class token first, after the final norm when there is one):
    /// `[B, C, H, W]` -> `[B, 1 + N, D]`.
    pub fn features(&self, images: Tensor<4>) -> Tensor<3> {
        self.features_with(images, None)
    }

    /// [`Self::features`] with stochastic depth when `drop` is given (training only):
    /// `[B, C, H, W]` -> `[B, 1 + N, D]`.
    pub fn features_with(&self, images: Tensor<4>, drop: Option<&DropPathPlan>) -> Tensor<3> {
        let view = self.view(&G::Draw::default());
        view.encode_with(view.patch_tokens(images), drop)
    }

    /// Token features after the chosen blocks (0-based; no final norm), for dense heads:
    /// `[B, C, H, W]` -> one `[B, 1 + N, D]` per tap.
    pub fn encode_layers(&self, images: Tensor<4>, taps: &[usize]) -> Vec<Tensor<3>> {
        let view = self.view(&G::Draw::default());
        view.encode_layers(view.patch_tokens(images), taps)
    }

    /// Class logits: `[B, C, H, W]` -> `[B, K]` (`[B, D]` pooled features without a head).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.forward_with(images, None)
    }

    /// [`Self::forward`] with stochastic depth when `drop` is given (a training step's plan,
    /// [`DropPathPlan::draw`]): `[B, C, H, W]` -> `[B, K]`.
    pub fn forward_with(&self, images: Tensor<4>, drop: Option<&DropPathPlan>) -> Tensor<2> {
        let pooled = self.pool(self.features_with(images, drop));
        match &self.head {
            Some(head) => head.forward(pooled),
            None => pooled,
        }
    }

    /// The ordinary dense model these weights compose (full model, no draw): the generator's
    /// weights (and its block parts, if it makes them) become parameters, every part is kept.
    pub fn to_dense(&self) -> Vit<DenseBlocks> {
        let draw = G::Draw::default();
        let layers = self.generator.layers(&draw);
        let blocks = match self.generator.layer_parts(&draw) {
            Some(parts) => parts.iter().map(BlockParts::from_parts).collect(),
            None => self.blocks.clone(),
        };
        Vit {
            generator: DenseBlocks {
                blocks: layers.iter().map(BlockWeights::from_layer).collect(),
            },
            patch_embed: self.patch_embed.clone(),
            cls_token: self.cls_token.clone(),
            pos_embed: self.pos_embed.clone(),
            blocks,
            norm: self.norm.clone(),
            fc_norm: self.fc_norm.clone(),
            head: self.head.clone(),
            num_heads: self.num_heads,
            pos_kind: self.pos_kind,
            grid: self.grid,
            global_pool: self.global_pool,
        }
    }
}
