//! A ViT block split in two: the attention and MLP **weights** (what a [`BlockGenerator`]
//! produces: here as dense parameters, [`DenseBlocks`]) and the ordinary **parts** each layer
//! keeps whatever made its weights ([`BlockParts`]: norms and biases). Their field paths are
//! timm's keys (`blocks.i.attn.qkv.weight` from the generator, `blocks.i.attn.qkv.bias` from
//! the parts; see [`crate::names`] for how a model's `generator` field adds no key segment).
//!
//! [`Block`] is an ordinary block that holds both (the MAE decoder's blocks).

use burn::module::Param;
use burn::prelude::*;

use crate::encoder::{BlockGenerator, BlockView, LayerParts, LayerWeights, Norm};
use crate::init::Init;
use crate::layers::{Attention, LayerNorm, Linear, Mlp};

/// A weight matrix with timm's key (`...qkv.weight`), `[out, in]`.
#[derive(Module, Debug)]
pub struct Weight {
    pub weight: Param<Tensor<2>>,
}

/// A bias vector with timm's key (`...qkv.bias`).
#[derive(Module, Debug)]
pub struct Bias {
    pub bias: Param<Tensor<1>>,
}

impl Weight {
    /// timm's Linear init: trunc-normal std .02, `[d_out, d_in]`.
    fn new(d_in: usize, d_out: usize, init: &mut Init) -> Self {
        Weight {
            weight: Param::from_tensor(init.trunc_normal([d_out, d_in], 0.02)),
        }
    }
}

impl Bias {
    fn zeros(d: usize, init: &Init) -> Self {
        Bias {
            bias: Param::from_tensor(init.zeros([d])),
        }
    }
}

#[derive(Module, Debug)]
pub struct AttnWeights {
    /// `[3D, D]`.
    pub qkv: Weight,
    /// `[D, D]`.
    pub proj: Weight,
}

#[derive(Module, Debug)]
pub struct MlpWeights {
    /// `[4D, D]`.
    pub fc1: Weight,
    /// `[D, 4D]`.
    pub fc2: Weight,
}

/// One layer's dense attention and MLP weights.
#[derive(Module, Debug)]
pub struct BlockWeights {
    pub attn: AttnWeights,
    pub mlp: MlpWeights,
}

impl BlockWeights {
    /// timm's init, drawn in timm's order: qkv, proj, fc1, fc2.
    pub fn new(d: usize, hidden: usize, init: &mut Init) -> Self {
        let qkv = Weight::new(d, 3 * d, init);
        let proj = Weight::new(d, d, init);
        let fc1 = Weight::new(d, hidden, init);
        let fc2 = Weight::new(hidden, d, init);
        BlockWeights {
            attn: AttnWeights { qkv, proj },
            mlp: MlpWeights { fc1, fc2 },
        }
    }

    /// The weights as plain tensors.
    pub fn layer(&self) -> LayerWeights {
        LayerWeights {
            qkv: self.attn.qkv.weight.val(),
            proj: self.attn.proj.weight.val(),
            fc1: self.mlp.fc1.weight.val(),
            fc2: self.mlp.fc2.weight.val(),
        }
    }

    /// Parameters holding `w` (values detached from any graph).
    pub fn from_layer(w: &LayerWeights) -> Self {
        let p = |t: &Tensor<2>| Weight {
            weight: Param::from_tensor(t.clone().detach()),
        };
        BlockWeights {
            attn: AttnWeights {
                qkv: p(&w.qkv),
                proj: p(&w.proj),
            },
            mlp: MlpWeights {
                fc1: p(&w.fc1),
                fc2: p(&w.fc2),
            },
        }
    }
}

/// The block generator of an ordinary dense ViT: every layer's weights are parameters.
#[derive(Module, Debug)]
pub struct DenseBlocks {
    pub blocks: Vec<BlockWeights>,
}

impl BlockGenerator for DenseBlocks {
    type Draw = ();

    fn layers(&self, _draw: &()) -> Vec<LayerWeights> {
        self.blocks.iter().map(BlockWeights::layer).collect()
    }
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

/// The ordinary parameters of one block: LayerNorms 1/0 and zero biases (timm's init, no
/// random draws).
#[derive(Module, Debug)]
pub struct BlockParts {
    pub norm1: LayerNorm,
    pub attn: AttnBiases,
    pub norm2: LayerNorm,
    pub mlp: MlpBiases,
}

impl BlockParts {
    pub fn new(d: usize, hidden: usize, init: &mut Init) -> Self {
        BlockParts {
            norm1: LayerNorm::new(d, init),
            attn: AttnBiases {
                qkv: Bias::zeros(3 * d, init),
                proj: Bias::zeros(d, init),
            },
            norm2: LayerNorm::new(d, init),
            mlp: MlpBiases {
                fc1: Bias::zeros(hidden, init),
                fc2: Bias::zeros(d, init),
            },
        }
    }

    /// Parameters holding `p` (values detached from any graph).
    pub fn from_parts(p: &LayerParts) -> Self {
        let v = |t: &Tensor<1>| Param::from_tensor(t.clone().detach());
        let norm = |n: &Norm| LayerNorm {
            weight: v(&n.weight),
            bias: v(&n.bias),
        };
        let bias = |t: &Tensor<1>| Bias { bias: v(t) };
        BlockParts {
            norm1: norm(&p.norm1),
            attn: AttnBiases {
                qkv: bias(&p.qkv_bias),
                proj: bias(&p.proj_bias),
            },
            norm2: norm(&p.norm2),
            mlp: MlpBiases {
                fc1: bias(&p.fc1_bias),
                fc2: bias(&p.fc2_bias),
            },
        }
    }

    /// The block's view at the width of `weights` (the width rules of [`crate::width`]:
    /// first channels of norms and output biases, the first `w` of each chunk of the qkv
    /// bias (3 chunks) and of the fc1 bias (4 chunks)).
    pub fn view(&self, weights: LayerWeights) -> BlockView {
        use crate::width::{chunks, first};
        let w = weights.width();
        if w == self.norm1.weight.dims()[0] {
            return BlockView {
                norm1: self.norm1.at_width(w),
                qkv_bias: self.attn.qkv.bias.val(),
                proj_bias: self.attn.proj.bias.val(),
                norm2: self.norm2.at_width(w),
                fc1_bias: self.mlp.fc1.bias.val(),
                fc2_bias: self.mlp.fc2.bias.val(),
                weights,
            };
        }
        BlockView {
            norm1: self.norm1.at_width(w),
            qkv_bias: chunks(self.attn.qkv.bias.val(), 0, 3, w),
            proj_bias: first(self.attn.proj.bias.val(), 0, w),
            norm2: self.norm2.at_width(w),
            fc1_bias: chunks(self.mlp.fc1.bias.val(), 0, 4, w),
            fc2_bias: first(self.mlp.fc2.bias.val(), 0, w),
            weights,
        }
    }
}

impl LayerNorm {
    /// The first `w` channels of weight and bias.
    pub fn at_width(&self, w: usize) -> Norm {
        use crate::width::first;
        Norm {
            weight: first(self.weight.val(), 0, w),
            bias: first(self.bias.val(), 0, w),
        }
    }
}

/// An ordinary pre-norm block with its own weights (timm's `Block`; the MAE decoder's).
#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    /// timm's init (weights drawn in the order qkv, proj, fc1, fc2, as [`BlockWeights::new`]).
    pub fn new(d: usize, heads: usize, hidden: usize, init: &mut Init) -> Self {
        let w = BlockWeights::new(d, hidden, init);
        let p = BlockParts::new(d, hidden, init);
        let linear = |w: Weight, b: Bias| Linear {
            weight: w.weight,
            bias: b.bias,
        };
        Block {
            norm1: p.norm1,
            attn: Attention {
                qkv: linear(w.attn.qkv, p.attn.qkv),
                proj: linear(w.attn.proj, p.attn.proj),
                num_heads: heads,
            },
            norm2: p.norm2,
            mlp: Mlp {
                fc1: linear(w.mlp.fc1, p.mlp.fc1),
                fc2: linear(w.mlp.fc2, p.mlp.fc2),
            },
        }
    }

    /// `[B, N, D]` -> `[B, N, D]`, through [`BlockView::forward`].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let d = self.norm1.weight.dims()[0];
        let view = BlockView {
            norm1: self.norm1.at_width(d),
            qkv_bias: self.attn.qkv.bias.val(),
            proj_bias: self.attn.proj.bias.val(),
            norm2: self.norm2.at_width(d),
            fc1_bias: self.mlp.fc1.bias.val(),
            fc2_bias: self.mlp.fc2.bias.val(),
            weights: LayerWeights {
                qkv: self.attn.qkv.weight.val(),
                proj: self.attn.proj.weight.val(),
                fc1: self.mlp.fc1.weight.val(),
                fc2: self.mlp.fc2.weight.val(),
            },
        };
        view.forward(x, self.attn.num_heads)
    }
}
