//! A Vision Transformer exactly as timm's `VisionTransformer` (pre-norm, LayerNorm eps 1e-6, erf
//! GELU, fused qkv with bias, class token, learned position embedding), written in burn.
//!
//! Module paths *are* timm's state-dict keys (`blocks.0.attn.qkv.weight`, ...), and every tensor
//! is stored in PyTorch's layout (Linear weights `[out, in]`), so a checkpoint is "write the map":
//! see [`checkpoint`].

pub mod checkpoint;
pub mod config;
pub mod encoder;
pub mod init;
pub mod layers;
pub mod model;
pub mod names;
pub mod tensor_file;
pub mod timm_archs;

pub use config::{ConfigError, GlobalPool, VitConfig};
pub use encoder::Encoder;
pub use model::Vit;
