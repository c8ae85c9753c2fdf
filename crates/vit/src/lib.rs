//! A Vision Transformer exactly as timm's `VisionTransformer` (pre-norm, LayerNorm eps 1e-6, erf
//! GELU, fused qkv with bias, class token, learned position embedding), written in burn.
//!
//! Module paths *are* timm's state-dict keys (`blocks.0.attn.qkv.weight`, ...), and every tensor
//! is stored in PyTorch's layout (Linear weights `[out, in]`), so a checkpoint is "write the map":
//! see [`checkpoint`].

//!
//! One encoder forward ([`encoder::EncoderView`]) serves every model: the weights of each
//! block come from a [`encoder::BlockGenerator`] (dense parameters here, a weight template in
//! `sweet-template`), the ordinary parts from [`Vit`]; [`width`] holds the rules by which every
//! tensor follows a narrower or wider model, [`pos_embed`] the position tables for other grids,
//! [`patch_resample`] the patch embedding for another patch size.

pub mod blocks;
pub mod checkpoint;
pub mod config;
pub mod drop_path;
pub mod encoder;
pub mod init;
pub mod layers;
pub mod model;
pub mod names;
pub mod patch_resample;
pub mod pos_embed;
pub mod tensor_file;
pub mod timm_archs;
pub mod timm_config;
pub mod width;

pub use blocks::DenseBlocks;
pub use config::{ConfigError, GlobalPool, ImgSize, VitConfig};
pub use drop_path::{BlockDrop, DropPathPlan};
pub use encoder::{
    BlockGenerator, BlockView, BranchModulation, EncoderView, LayerParts, LayerWeights, Modulation,
};
pub use model::{PosEmbedKind, Vit};
