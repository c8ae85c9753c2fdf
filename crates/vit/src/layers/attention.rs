//! timm's `Attention`: fused `qkv` Linear `[3D, D]` and output `proj` `[D, D]`.

use burn::prelude::*;

use super::Linear;
use crate::init::Init;

#[derive(Module, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    pub num_heads: usize,
}

impl Attention {
    pub fn new(dim: usize, num_heads: usize, init: &mut Init) -> Self {
        Attention {
            qkv: Linear::new(dim, 3 * dim, init),
            proj: Linear::new(dim, dim, init),
            num_heads,
        }
    }

    /// `[B, N, D]` -> `[B, N, D]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        super::functional::attention(
            x,
            self.qkv.weight.val(),
            self.qkv.bias.val(),
            self.proj.weight.val(),
            self.proj.bias.val(),
            self.num_heads,
        )
    }
}
