//! timm's `PatchEmbed`: a conv with kernel = stride = patch, computed as patchify + matmul
//! ([`crate::encoder::EncoderView::patch_tokens`]).

use burn::module::Param;
use burn::prelude::*;

use crate::init::Init;

/// The conv's parameters, named as timm's `patch_embed.proj`.
#[derive(Module, Debug)]
pub struct Conv2dProj {
    /// `[D, C, p, p]`.
    pub weight: Param<Tensor<4>>,
    /// `[D]`.
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct PatchEmbed {
    pub proj: Conv2dProj,
    pub patch_size: usize,
}

impl PatchEmbed {
    /// PyTorch's default Conv2d init, which timm leaves in place: U(+-1/sqrt(C*p*p)).
    pub fn new(in_chans: usize, dim: usize, patch: usize, init: &mut Init) -> Self {
        let bound = 1.0 / ((in_chans * patch * patch) as f32).sqrt();
        PatchEmbed {
            proj: Conv2dProj {
                weight: Param::from_tensor(init.uniform([dim, in_chans, patch, patch], bound)),
                bias: Param::from_tensor(init.uniform([dim], bound)),
            },
            patch_size: patch,
        }
    }

    /// The conv weight as a matrix `[D, C p p]` (conv weight order), as the encoder uses it
    /// on [`patchify_conv_order`](super::functional::patchify_conv_order)ed images.
    pub fn matrix(&self) -> Tensor<2> {
        let [d, c, p, _] = self.proj.weight.dims();
        self.proj.weight.val().reshape([d, c * p * p])
    }
}
