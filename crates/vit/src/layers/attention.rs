//! timm's `Attention` parameters: fused `qkv` Linear `[3D, D]` and output `proj` `[D, D]`
//! (the math is [`crate::encoder::BlockView::forward`]).

use burn::prelude::*;

use super::Linear;

#[derive(Module, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    pub num_heads: usize,
}
