//! A ViT whose attention and MLP weights are composed from (G, X, U, V) on every forward, so
//! gradients reach only the factors; biases, norms, embeddings and the class token stay
//! ordinary parameters with timm's names.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_vit::init::Init;
use sweet_vit::layers::functional::{attention, layer_norm, linear, mlp, patchify_conv_order};
use sweet_vit::layers::{LayerNorm, Linear, PatchEmbed};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::{Encoder, Vit};

use crate::config::{TemplateConfig, TemplateError};
use crate::factors::{gaussian, orthonormal, template_std};
use crate::sws::SwsDraw;
use crate::tucker::{assemble, compose, DenseBlocks};

/// The size-specific scalers.
#[derive(Module, Debug)]
pub struct Scalers {
    /// X `[12L, r1]`.
    pub depth: Param<Tensor<2>>,
    /// U `[D, r2]` (inner / head and hidden channels).
    pub inner: Param<Tensor<2>>,
    /// V `[D, r3]` (residual stream).
    pub residual: Param<Tensor<2>>,
}

/// A bias vector with timm's key (`...qkv.bias`).
#[derive(Module, Debug)]
pub struct Bias {
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct AttnBiases {
    /// `[3D]`.
    pub qkv: Bias,
    /// `[D]`.
    pub proj: Bias,
}

#[derive(Module, Debug)]
pub struct MlpBiases {
    /// `[4D]`.
    pub fc1: Bias,
    /// `[D]`.
    pub fc2: Bias,
}

/// The non-templated parameters of one block.
#[derive(Module, Debug)]
pub struct BlockParts {
    pub norm1: LayerNorm,
    pub attn: AttnBiases,
    pub norm2: LayerNorm,
    pub mlp: MlpBiases,
}

#[derive(Module, Debug)]
pub struct TemplatedVit {
    /// G `[r1, r2, r3]`, shared by every model size.
    pub template: Param<Tensor<3>>,
    pub scalers: Scalers,
    pub patch_embed: PatchEmbed,
    pub cls_token: Param<Tensor<3>>,
    pub pos_embed: Param<Tensor<3>>,
    pub blocks: Vec<BlockParts>,
    pub norm: LayerNorm,
    pub head: Option<Linear>,
    pub num_heads: usize,
    /// [`crate::Orientation::Raw`] when true.
    pub raw_orientation: bool,
}

/// Dense weights of every layer at one width, composed for one forward.
#[derive(Clone, Debug)]
pub struct ComposedWeights {
    pub blocks: DenseBlocks,
    /// Width of the composed blocks (D, or D_s under channel SWS).
    pub width: usize,
    /// Heads at that width.
    pub heads: usize,
}

fn zeros_param<const D: usize>(shape: [usize; D], init: &Init) -> Param<Tensor<D>> {
    Param::from_tensor(init.zeros(shape))
}

fn slice_last<const D: usize>(t: Tensor<D>, width: usize) -> Tensor<D> {
    let dims = t.dims();
    if dims[D - 1] == width {
        return t;
    }
    t.narrow(D - 1, 0, width)
}

/// `[k D]` bias of k stacked D-chunks -> the first `width` entries of each chunk, `[k width]`.
fn slice_chunks(b: Tensor<1>, k: usize, width: usize) -> Tensor<1> {
    let n = b.dims()[0];
    if n == k * width {
        return b;
    }
    b.reshape([k, n / k])
        .narrow(1, 0, width)
        .reshape([k * width])
}

impl TemplatedVit {
    /// Fresh factors (METHOD.md section 4) and timm-initialized non-templated parts.
    pub fn new(cfg: &TemplateConfig, seed: u64, device: &Device) -> Result<Self, TemplateError> {
        cfg.validate()?;
        let v = &cfg.vit;
        let d = v.embed_dim;
        let [r1, r2, r3] = cfg.ranks;
        let n = cfg.num_blocks();
        let mut init = Init::new(seed, device);
        let mut rng = ChaCha8Rng::seed_from_u64(init.next_seed());
        let host = |values: Vec<f32>, shape: Vec<usize>| HostTensor { shape, values };
        let template = host(
            gaussian(r1 * r2 * r3, template_std(d, r2, r3), &mut rng),
            vec![r1, r2, r3],
        );
        let depth = host(
            gaussian(n * r1, 1.0 / (r1 as f64).sqrt(), &mut rng),
            vec![n, r1],
        );
        let inner = host(orthonormal(d, r2, &mut rng), vec![d, r2]);
        let residual = host(orthonormal(d, r3, &mut rng), vec![d, r3]);
        let patch_embed = PatchEmbed::new(v.in_chans, d, v.patch_size, &mut init);
        let cls_token = Param::from_tensor(init.normal([1, 1, d], 1e-6));
        let pos_embed = Param::from_tensor(init.trunc_normal([1, v.num_patches() + 1, d], 0.02));
        let blocks = (0..v.depth)
            .map(|_| BlockParts {
                norm1: LayerNorm::new(d, &mut init),
                attn: AttnBiases {
                    qkv: Bias {
                        bias: zeros_param([3 * d], &init),
                    },
                    proj: Bias {
                        bias: zeros_param([d], &init),
                    },
                },
                norm2: LayerNorm::new(d, &mut init),
                mlp: MlpBiases {
                    fc1: Bias {
                        bias: zeros_param([4 * d], &init),
                    },
                    fc2: Bias {
                        bias: zeros_param([d], &init),
                    },
                },
            })
            .collect();
        let norm = LayerNorm::new(d, &mut init);
        let head = (v.num_classes > 0).then(|| Linear::new(d, v.num_classes, &mut init));
        Ok(TemplatedVit {
            template: Param::from_tensor(template.to_tensor(device)),
            scalers: Scalers {
                depth: Param::from_tensor(depth.to_tensor(device)),
                inner: Param::from_tensor(inner.to_tensor(device)),
                residual: Param::from_tensor(residual.to_tensor(device)),
            },
            patch_embed,
            cls_token,
            pos_embed,
            blocks,
            norm,
            head,
            num_heads: v.num_heads,
            raw_orientation: cfg.orientation == crate::Orientation::Raw,
        })
    }

    pub fn orientation(&self) -> crate::Orientation {
        if self.raw_orientation {
            crate::Orientation::Raw
        } else {
            crate::Orientation::Residual
        }
    }

    pub fn embed_dim(&self) -> usize {
        self.cls_token.dims()[2]
    }

    /// Composes the dense block weights of every layer under one SWS draw
    /// ([`SwsDraw::Full`] for evaluation and export).
    pub fn compose(&self, draw: &SwsDraw) -> ComposedWeights {
        let g = self.template.val();
        let [_, r2, r3] = g.dims();
        let (x, u, v) = (
            self.scalers.depth.val(),
            self.scalers.inner.val(),
            self.scalers.residual.val(),
        );
        let d = u.dims()[0];
        let head_dim = d / self.num_heads;
        let (w, width) = match draw {
            SwsDraw::Full => (compose(g, x, u, v), d),
            SwsDraw::Nested { k2, k3 } => {
                let (k2, k3) = ((*k2).min(r2), (*k3).min(r3));
                let scale = ((r2 * r3) as f64 / (k2 * k3) as f64).sqrt();
                let g = g.narrow(1, 0, k2).narrow(2, 0, k3);
                (
                    compose(g, x, u.narrow(1, 0, k2), v.narrow(1, 0, k3)) * scale,
                    d,
                )
            }
            SwsDraw::Fibre { s2, s3 } => {
                let device = u.device();
                let s2 = Tensor::<1>::from_data(TensorData::new(s2.clone(), [r2]), &device)
                    .reshape([1, r2]);
                let s3 = Tensor::<1>::from_data(TensorData::new(s3.clone(), [r3]), &device)
                    .reshape([1, r3]);
                (compose(g, x, u * s2, v * s3), d)
            }
            SwsDraw::Channels { width } => {
                let w = (*width).min(d);
                (compose(g, x, u.narrow(0, 0, w), v.narrow(0, 0, w)), w)
            }
        };
        ComposedWeights {
            blocks: assemble(w, self.orientation()),
            width,
            heads: width / head_dim,
        }
    }

    /// An encoder view at the composed weights' width. `pos_embed` replaces the model's own
    /// position table (e.g. a sin-cos table recomputed at a sub-width); `None` slices the model's.
    pub fn encoder(
        &self,
        weights: ComposedWeights,
        pos_embed: Option<Tensor<3>>,
    ) -> TemplatedEncoder<'_> {
        TemplatedEncoder {
            model: self,
            weights,
            pos_embed,
        }
    }

    /// Class logits with the full template: `[B, C, H, W]` -> `[B, K]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let enc = self.encoder(self.compose(&SwsDraw::Full), None);
        let f = enc.encode(enc.patch_tokens(images));
        let [b, _, d] = f.dims();
        let cls = f.narrow(1, 0, 1).reshape([b, d]);
        match &self.head {
            Some(h) => h.forward(cls),
            None => cls,
        }
    }

    /// The dense ViT this template composes (full template, no SWS): an ordinary model.
    pub fn to_dense(&self, vit_cfg: &sweet_vit::VitConfig) -> Result<Vit, TemplateError> {
        let device = self.cls_token.device();
        let w = self.compose(&SwsDraw::Full).blocks;
        let mut tensors: BTreeMap<String, HostTensor> = named_tensors(self)
            .into_iter()
            .filter(|(k, _)| k != "template" && !k.starts_with("scalers."))
            .collect();
        for l in 0..vit_cfg.depth {
            let layer = |t: &Tensor<3>| {
                let [_, a, b] = t.dims();
                HostTensor::from_tensor(&t.clone().narrow(0, l, 1).reshape([a, b]))
            };
            tensors.insert(format!("blocks.{l}.attn.qkv.weight"), layer(&w.qkv));
            tensors.insert(format!("blocks.{l}.attn.proj.weight"), layer(&w.proj));
            tensors.insert(format!("blocks.{l}.mlp.fc1.weight"), layer(&w.fc1));
            tensors.insert(format!("blocks.{l}.mlp.fc2.weight"), layer(&w.fc2));
        }
        let vit = Vit::new(vit_cfg, 0, &device.clone().inner());
        load_named(vit, &tensors).map_err(|e| {
            TemplateError::Invalid(format!("composed weights do not fit the ViT: {e}"))
        })
    }
}

/// A templated ViT with its weights composed for one forward; implements [`Encoder`].
pub struct TemplatedEncoder<'a> {
    model: &'a TemplatedVit,
    weights: ComposedWeights,
    pos_embed: Option<Tensor<3>>,
}

impl TemplatedEncoder<'_> {
    fn pos(&self) -> Tensor<3> {
        match &self.pos_embed {
            Some(p) => p.clone(),
            None => slice_last(self.model.pos_embed.val(), self.weights.width),
        }
    }
}

impl Encoder for TemplatedEncoder<'_> {
    fn embed_dim(&self) -> usize {
        self.weights.width
    }

    fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3> {
        let m = self.model;
        let w = self.weights.width;
        let [d, c, p, _] = m.patch_embed.proj.weight.dims();
        let weight = m
            .patch_embed
            .proj
            .weight
            .val()
            .reshape([d, c * p * p])
            .narrow(0, 0, w);
        let bias = m.patch_embed.proj.bias.val().narrow(0, 0, w);
        let pos = self.pos();
        let n1 = pos.dims()[1];
        linear(patchify_conv_order(images, p), weight, bias) + pos.narrow(1, 1, n1 - 1)
    }

    fn encode(&self, tokens: Tensor<3>) -> Tensor<3> {
        let m = self.model;
        let (w, heads) = (self.weights.width, self.weights.heads);
        let [b, _, _] = tokens.dims();
        let cls = slice_last(m.cls_token.val(), w) + self.pos().narrow(1, 0, 1);
        let mut x = Tensor::cat(vec![cls.expand([b, 1, w]), tokens], 1);
        let dense = &self.weights.blocks;
        let ln = |n: &LayerNorm| (n.weight.val().narrow(0, 0, w), n.bias.val().narrow(0, 0, w));
        for (l, blk) in m.blocks.iter().enumerate() {
            let layer = |t: &Tensor<3>| {
                let [_, a, bb] = t.dims();
                t.clone().narrow(0, l, 1).reshape([a, bb])
            };
            let (g1, b1) = ln(&blk.norm1);
            let h = attention(
                layer_norm(x.clone(), g1, b1),
                layer(&dense.qkv),
                slice_chunks(blk.attn.qkv.bias.val(), 3, w),
                layer(&dense.proj),
                blk.attn.proj.bias.val().narrow(0, 0, w),
                heads,
            );
            x = x + h;
            let (g2, b2) = ln(&blk.norm2);
            let h = mlp(
                layer_norm(x.clone(), g2, b2),
                layer(&dense.fc1),
                slice_chunks(blk.mlp.fc1.bias.val(), 4, w),
                layer(&dense.fc2),
                blk.mlp.fc2.bias.val().narrow(0, 0, w),
            );
            x = x + h;
        }
        let (g, b_) = ln(&m.norm);
        layer_norm(x, g, b_)
    }
}
