//! The masked-autoencoder (MAE) half of SWEET's pre-training, as MAE's official `models_mae.py`:
//! cut images into patches, keep a random subset, encode it with any
//! [`sweet_vit::EncoderView`], decode with a light transformer that fills the removed positions
//! with a learned mask token, and score the pixels of the removed patches (norm-pix loss).
//!
//! The decoder is thrown away after pre-training; only the encoder (or its template) is kept.

pub mod decoder;
pub mod grid;
pub mod masking;
pub mod model;
pub mod patches;
pub mod pos_embed;

pub use decoder::{DecoderConfig, DecoderConfigError, MaeDecoder};
pub use masking::MaskPlan;
pub use model::{mae_forward, mae_loss};
