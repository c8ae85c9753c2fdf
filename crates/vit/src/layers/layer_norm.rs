//! LayerNorm with PyTorch's names (`weight`, `bias`) and timm's eps 1e-6.

use burn::module::Param;
use burn::prelude::*;

use crate::init::Init;

#[derive(Module, Debug)]
pub struct LayerNorm {
    /// `[D]`, init 1.
    pub weight: Param<Tensor<1>>,
    /// `[D]`, init 0.
    pub bias: Param<Tensor<1>>,
}

impl LayerNorm {
    pub fn new(d: usize, init: &mut Init) -> Self {
        LayerNorm {
            weight: Param::from_tensor(init.ones([d])),
            bias: Param::from_tensor(init.zeros([d])),
        }
    }

    /// `[..., D]` -> `[..., D]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        super::functional::layer_norm(x, self.weight.val(), self.bias.val())
    }
}
