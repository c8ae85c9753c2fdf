//! The SWEET weight template (METHOD.md sections 3 and 4).
//!
//! The 12 `D x D` blocks of every layer (q, k, v, o, four slices of fc1, four of fc2), stacked
//! into `W [12L, D, D]`, are constrained to the Tucker form `W = G x1 X x2 U x3 V`:
//! a template `G [r1, r2, r3]` shared by every model size and scalers `X [12L, r1]` (depth),
//! `U [D, r2]` (inner width) and `V [D, r3]` (residual width).
//!
//! - [`tucker`]: composition (layer by layer, as training uses it, and of the whole stack) and
//!   the block layout (timm's weights <-> `W`).
//! - [`factors`]: factor initialization at timm's scale.
//! - [`sws`]: width-wise stochastic scaling (training only).
//! - [`generator`]: the template as a block generator of `sweet_vit::Vit` (so a templated ViT
//!   is `Vit<Tucker>`: the same parts and forward as the dense ViT), one template shared by
//!   several sizes, and the enum of generators a pre-training trains.
//! - [`file`]: the template file (`template.safetensors`).
//! - [`linear_expansion`], [`learngene`]: TLEG's linear expansion of a learngene (a baseline,
//!   BASELINES.md section 3) as a block generator, and its learngene file.
//! - [`kronecker`]: Kronecker weight templates (the WAVE baseline), their file and the mapping
//!   to other sizes.

pub mod config;
pub mod factors;
pub mod file;
pub mod generator;
pub mod init;
pub mod kronecker;
pub mod learngene;
pub mod linear_expansion;
pub mod sws;
pub mod tucker;

pub use config::{Orientation, TemplateConfig, TemplateError};
pub use generator::{
    generated_vit, templated_vit, Generator, GeneratorConfig, Scalers, SharedTemplate, Tucker,
};
pub use init::{init_from_template, target_config, target_heads, InitError, WidthRule};
pub use kronecker::{kronecker_vit, Kronecker, KroneckerConfig};
pub use linear_expansion::{linear_expansion_vit, Learngene, LinearExpansion};
pub use sws::{SwsDraw, SwsMode};

/// A ViT whose attention and MLP weights the Tucker template composes at every forward.
pub type TemplatedVit = sweet_vit::Vit<Tucker>;
