//! timm's `Mlp`: `fc1` `[hidden, D]`, erf GELU, `fc2` `[D, hidden]`.

use burn::prelude::*;

use super::Linear;
use crate::init::Init;

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Mlp {
    pub fn new(dim: usize, hidden: usize, init: &mut Init) -> Self {
        Mlp {
            fc1: Linear::new(dim, hidden, init),
            fc2: Linear::new(hidden, dim, init),
        }
    }

    /// `[..., D]` -> `[..., D]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        super::functional::mlp(
            x,
            self.fc1.weight.val(),
            self.fc1.bias.val(),
            self.fc2.weight.val(),
            self.fc2.bias.val(),
        )
    }
}
