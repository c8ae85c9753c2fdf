//! MAE's fixed 2-D sin-cos position embedding (`util/pos_embed.py`). It lives in
//! [`sweet_vit::pos_embed`], because the encoder recomputes it for other grids and widths;
//! re-exported here for the decoder and for callers that think of it as MAE's.

pub use sweet_vit::pos_embed::{check_dim, sincos_2d, sincos_2d_tensor, PosEmbedError};
