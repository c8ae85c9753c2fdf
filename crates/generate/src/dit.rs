//! A DiT-style denoiser (Peebles & Xie 2023) whose transformer is a ViT encoder from any
//! initialization.
//!
//! The encoder's parts carry over as they are (patch embedding, every block's norms,
//! attention and MLP weights and biases, its final norm): a SWEET model composed at the chosen
//! size, a random timm init, a direct pre-training or a baseline all enter the same way. The
//! class token and classifier head are dropped (a DiT has neither). The position table is
//! DiT's fixed 2-D sin-cos table, whatever the encoder's: the table SWEET and MAE encoders
//! carry anyway (recomputed at their width), while timm's random init is a learned table at
//! std .02, which gives a random DiT almost no positions to start from (measured, random
//! (4, 64) on MNIST after 624 steps: FD 87.9 with timm's table, 80.9 with the sin-cos one;
//! docs/RESULTS.md).
//! What a DiT adds is new and starts as DiT starts it ([`Dit::from_encoder`]):
//! - the timestep embedder (sinusoidal features of `t`, 256 of them, then Linear-SiLU-Linear,
//!   normal std .02) and the class embedder (a table of `K + 1` rows, the last the "no class"
//!   of classifier-free guidance, normal std .02); their sum `c` conditions every block;
//! - per block an adaLN modulation `SiLU(c) -> Linear(D, 6D)`: shift, scale and gate of the
//!   attention and MLP branches ([`sweet_vit::BlockView::forward_modulated`]);
//! - a final layer: the encoder's final norm, modulated by `SiLU(c) -> Linear(D, 2D)`, then a
//!   Linear to the `p * p * C` values of each patch (the predicted noise).
//!
//! adaLN-Zero: every modulation and the final Linear start at zero, so each block starts as the
//! identity and the model predicts zero noise.
//!
//! One difference from DiT: DiT's LayerNorms have no affine parameters; these keep the
//! encoder's (1 and 0 at random init, which is DiT's function exactly), so that a pre-trained
//! block computes what it was trained to compute before modulation.
//!
//! Keys: the encoder's parts keep timm's names (`patch_embed.proj.weight`,
//! `blocks.0.attn.qkv.weight`, ..., `norm.weight`), the fixed table is `pos_embed` `[1, N, D]`;
//! the new parts are `t_embedder.fc1|fc2`, `y_embedder.embedding_table`, `adaln.<i>`,
//! `final_adaln`, `final_linear`.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::silu;
use serde::{Deserialize, Serialize};
use sweet_vit::blocks::BlockParts;
use sweet_vit::init::Init;
use sweet_vit::layers::functional::{linear, patchify_conv_order};
use sweet_vit::layers::{LayerNorm, Linear, PatchEmbed};
use sweet_vit::pos_embed::sincos_2d_tensor;
use sweet_vit::{
    BlockGenerator, BranchModulation, DenseBlocks, GlobalPool, Modulation, Vit, VitConfig,
};

/// Sinusoidal features of the timestep fed to the timestep embedder (DiT's 256).
pub const FREQ_DIM: usize = 256;

/// What a DiT is beyond its encoder's architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DitConfig {
    /// The encoder's architecture (`num_classes` 0; its image size is the generated images').
    pub encoder: VitConfig,
    /// Classes the model is conditioned on (the class table holds one more: "no class").
    pub classes: usize,
}

impl DitConfig {
    /// Rows of the class table: the classes, then "no class".
    pub fn table_rows(&self) -> usize {
        self.classes + 1
    }
}

/// The timestep embedder: `fc2(SiLU(fc1(sinusoidal(t))))`, `[B]` -> `[B, D]`.
#[derive(Module, Debug)]
pub struct TimestepEmbedder {
    /// `[D, 256]`.
    pub fc1: Linear,
    /// `[D, D]`.
    pub fc2: Linear,
}

/// The class embedder: one row per class, then the "no class" row, `[K + 1, D]`.
#[derive(Module, Debug)]
pub struct LabelEmbedder {
    pub embedding_table: Param<Tensor<2>>,
}

#[derive(Module, Debug)]
pub struct Dit {
    /// Every block's attention and MLP weights (timm keys `blocks.i.attn.qkv.weight`, ...).
    pub generator: DenseBlocks,
    pub patch_embed: PatchEmbed,
    /// `[1, N, D]`: DiT's fixed 2-D sin-cos table (frozen).
    pub pos_embed: Param<Tensor<3>>,
    /// Every block's norms and biases.
    pub blocks: Vec<BlockParts>,
    /// The final norm (before the final modulation).
    pub norm: LayerNorm,
    pub t_embedder: TimestepEmbedder,
    pub y_embedder: LabelEmbedder,
    /// Per block `[6D, D]`: shift, scale, gate of attention, then of the MLP.
    pub adaln: Vec<Linear>,
    /// `[2D, D]`: shift, scale of the final norm.
    pub final_adaln: Linear,
    /// `[p p C, D]`: each patch's predicted noise, conv order (channel, row, column).
    pub final_linear: Linear,
    pub num_heads: usize,
    /// Patch grid `[rows, columns]`.
    #[module(skip)]
    pub grid: [usize; 2],
    #[module(skip)]
    pub in_chans: usize,
}

impl Dit {
    /// A DiT on `encoder` (any initialization; its class token and head are dropped, its
    /// other parts kept) for `classes` classes, the new parts at DiT's init drawn from `seed`.
    ///
    /// # Panics
    /// If the encoder's config is not `cfg.encoder` up to `num_classes` and pooling.
    pub fn from_encoder(encoder: Vit, cfg: &DitConfig, seed: u64) -> Self {
        let device = encoder.cls_token.device();
        let e = &cfg.encoder;
        let d = encoder.embed_dim();
        assert_eq!(d, e.embed_dim, "the encoder's width is the config's");
        assert_eq!(encoder.grid, e.grid(), "the encoder's grid is the config's");
        let n = e.num_patches();
        let mut init = Init::new(seed ^ NEW_PARTS_SEED, &device);
        let t_embedder = TimestepEmbedder {
            fc1: normal_linear(FREQ_DIM, d, &mut init),
            fc2: normal_linear(d, d, &mut init),
        };
        let y_embedder = LabelEmbedder {
            embedding_table: Param::from_tensor(init.normal([cfg.table_rows(), d], 0.02)),
        };
        let zero = |d_in: usize, d_out: usize, init: &Init| Linear {
            weight: Param::from_tensor(init.zeros([d_out, d_in])),
            bias: Param::from_tensor(init.zeros([d_out])),
        };
        let adaln = (0..e.depth).map(|_| zero(d, 6 * d, &init)).collect();
        let final_adaln = zero(d, 2 * d, &init);
        let p = e.patch_size;
        let final_linear = zero(d, p * p * e.in_chans, &init);
        // An encoder pooled by average has no final norm (timm): a fresh one (1, 0).
        let norm = encoder.norm.unwrap_or_else(|| LayerNorm::new(d, &mut init));
        let pos = Param::from_tensor(sincos_2d_tensor(d, e.grid(), &device).narrow(1, 1, n))
            .set_require_grad(false);
        Dit {
            generator: encoder.generator,
            patch_embed: encoder.patch_embed,
            pos_embed: pos,
            blocks: encoder.blocks,
            norm,
            t_embedder,
            y_embedder,
            adaln,
            final_adaln,
            final_linear,
            num_heads: encoder.num_heads,
            grid: encoder.grid,
            in_chans: e.in_chans,
        }
    }

    /// A DiT on a random timm encoder drawn from `seed` (and the new parts from `seed`).
    pub fn new(cfg: &DitConfig, seed: u64, device: &Device) -> Self {
        let encoder = VitConfig {
            num_classes: 0,
            global_pool: GlobalPool::Token,
            ..cfg.encoder.clone()
        };
        Self::from_encoder(Vit::new(&encoder, seed, device), cfg, seed)
    }

    /// Token width D.
    pub fn width(&self) -> usize {
        self.pos_embed.dims()[2]
    }

    /// The conditioning `c = t_embed(t) + y_embed(y)`: timesteps `[B]`, labels `[B]` (the
    /// class count for "no class") -> `[B, D]`.
    pub fn condition(&self, t: &[usize], labels: &[usize]) -> Tensor<2> {
        let device = self.pos_embed.device();
        let b = t.len();
        assert_eq!(labels.len(), b, "one label per timestep");
        let freqs = Tensor::<2>::from_data(
            TensorData::new(timestep_features(t, FREQ_DIM), [b, FREQ_DIM]),
            &device,
        );
        let te = &self.t_embedder;
        let temb = te.fc2.forward(silu(te.fc1.forward(freqs)));
        let ids: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [b]), &device);
        temb + self.y_embedder.embedding_table.val().select(0, ids)
    }

    /// The predicted noise of noisy images `x` `[B, C, H, W]` at timesteps `t` `[B]` given
    /// `labels` `[B]` (the class count for "no class") -> `[B, C, H, W]`.
    pub fn forward(&self, x: Tensor<4>, t: &[usize], labels: &[usize]) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let d = self.width();
        let p = self.patch_embed.patch_size;
        let cond = silu(self.condition(t, labels));
        let mut tokens = linear(
            patchify_conv_order(x, p),
            self.patch_embed.matrix(),
            self.patch_embed.proj.bias.val(),
        ) + self.pos_embed.val();
        let heads = self.num_heads;
        let layers = self.generator.layers(&());
        for (i, (parts, weights)) in self.blocks.iter().zip(layers).enumerate() {
            let modulation = self.block_modulation(i, cond.clone());
            tokens = parts
                .view(weights)
                .forward_modulated(tokens, heads, &modulation);
        }
        let m = self.final_adaln.forward(cond).reshape([b, 2, 1, d]);
        let (shift, scale) = (
            m.clone().narrow(1, 0, 1).reshape([b, 1, d]),
            m.narrow(1, 1, 1).reshape([b, 1, d]),
        );
        let out = self
            .final_linear
            .forward(self.norm.forward(tokens) * (scale + 1.0) + shift);
        unpatchify(out, [c, h, w], p)
    }
}

impl Dit {
    /// Block `i`'s adaLN modulation from the activated conditioning `SiLU(c)` `[B, D]`: its
    /// `[6D, D]` Linear's output cut into shift, scale, gate of attention, then of the MLP
    /// (DiT's `chunk(6)` order), each `[B, 1, D]`.
    pub fn block_modulation(&self, i: usize, cond: Tensor<2>) -> Modulation {
        let [b, d] = cond.dims();
        let m = self.adaln[i].forward(cond).reshape([b, 6, 1, d]);
        let part = |k: usize| m.clone().narrow(1, k, 1).reshape([b, 1, d]);
        let branch = |k: usize| BranchModulation {
            shift: part(k),
            scale: part(k + 1),
            gate: part(k + 2),
        };
        Modulation {
            branches: [branch(0), branch(3)],
        }
    }
}

/// Salt of the new parts' init stream (apart from the encoder's).
const NEW_PARTS_SEED: u64 = 0xd17_5eed;

/// A Linear with DiT's timestep-embedder init: weight normal std .02, bias 0.
fn normal_linear(d_in: usize, d_out: usize, init: &mut Init) -> Linear {
    Linear {
        weight: Param::from_tensor(init.normal([d_out, d_in], 0.02)),
        bias: Param::from_tensor(init.zeros([d_out])),
    }
}

/// DiT's sinusoidal timestep features: `[cos(t f_0) .. cos(t f_{h-1}), sin(t f_0) ..]` with
/// `f_i = exp(-ln(10000) i / h)`, `h = dim / 2`; `[B]` -> `[B, dim]` row-major (`dim` even).
pub fn timestep_features(t: &[usize], dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let freqs: Vec<f64> = (0..half)
        .map(|i| (-(10000f64).ln() * i as f64 / half as f64).exp())
        .collect();
    let mut out = Vec::with_capacity(t.len() * dim);
    for &step in t {
        let args = freqs.iter().map(|f| step as f64 * f);
        out.extend(args.clone().map(|a| a.cos() as f32));
        out.extend(args.map(|a| a.sin() as f32));
    }
    out
}

/// Patches back to images: `[B, N, C p p]` (conv order per patch, patches row-major) ->
/// `[B, C, H, W]`; the inverse of [`patchify_conv_order`].
pub fn unpatchify(patches: Tensor<3>, [c, h, w]: [usize; 3], p: usize) -> Tensor<4> {
    let b = patches.dims()[0];
    let (gh, gw) = (h / p, w / p);
    patches
        .reshape([b, gh, gw, c, p, p])
        .permute([0, 3, 1, 4, 2, 5])
        .reshape([b, c, h, w])
}
