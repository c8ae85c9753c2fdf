//! Building blocks with timm's parameter names. Each layer's math lives in a free function over
//! plain tensors ([`functional`]) so that a templated model can run the same math on weights it
//! composes, and the parameterized layers here only hold the parameters.

pub mod attention;
pub mod functional;
pub mod layer_norm;
pub mod linear;
pub mod mlp;
pub mod patch_embed;

pub use attention::Attention;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use mlp::Mlp;
pub use patch_embed::PatchEmbed;
