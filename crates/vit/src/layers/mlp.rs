//! timm's `Mlp` parameters: `fc1` `[hidden, D]`, erf GELU, `fc2` `[D, hidden]` (the math is
//! [`crate::layers::functional::mlp`]).

use burn::prelude::*;

use super::Linear;

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
}
