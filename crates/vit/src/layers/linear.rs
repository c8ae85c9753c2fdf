//! A Linear layer stored as PyTorch stores it: weight `[out, in]`, bias `[out]`.

use burn::module::Param;
use burn::prelude::*;

use crate::init::Init;

#[derive(Module, Debug)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Param<Tensor<1>>,
}

impl Linear {
    /// timm's init: weight trunc-normal std .02, bias 0.
    pub fn new(d_in: usize, d_out: usize, init: &mut Init) -> Self {
        Linear {
            weight: Param::from_tensor(init.trunc_normal([d_out, d_in], 0.02)),
            bias: Param::from_tensor(init.zeros([d_out])),
        }
    }

    /// `[..., in]` -> `[..., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        super::functional::linear(x, self.weight.val(), self.bias.val())
    }
}
