//! MAE's light decoder (`models_mae.py`): embed the encoded visible tokens to the decoder width,
//! fill the removed positions with a learned mask token, add the fixed sin-cos positions, run a
//! few ordinary pre-norm blocks and predict every patch's pixels. Not templated; thrown away
//! after pre-training. Field paths are MAE's state-dict keys.

use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_vit::blocks::Block;
use sweet_vit::init::Init;
use sweet_vit::layers::functional::linear;
use sweet_vit::layers::{LayerNorm, Linear};

use crate::masking::MaskPlan;
use crate::pos_embed::{check_dim, sincos_2d_tensor};

/// Decoder shape. MAE's defaults for ViT-B are width 512, depth 8, 16 heads; this project's
/// default is a light 128 / 2 / 4 for small images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// Decoder token width Dd (a multiple of 4 for the sin-cos table and of `heads`).
    pub width: usize,
    /// Decoder blocks.
    pub depth: usize,
    /// Attention heads per block.
    pub heads: usize,
    /// MLP hidden width = floor(width * mlp_ratio).
    pub mlp_ratio: f64,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            width: 128,
            depth: 2,
            heads: 4,
            mlp_ratio: 4.0,
        }
    }
}

/// An inconsistent decoder shape, with what to change.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecoderConfigError {
    #[error("decoder {name} must be positive (got 0)")]
    Zero { name: &'static str },
    #[error("decoder width {width} is not a multiple of 4: the 2-D sin-cos positions need it")]
    WidthNotMultipleOf4 { width: usize },
    #[error("decoder width {width} is not a multiple of its {heads} heads")]
    HeadsDoNotDivide { width: usize, heads: usize },
    #[error("decoder mlp_ratio {0} must be positive and finite")]
    BadMlpRatio(f64),
}

impl DecoderConfig {
    /// Checks every constraint; call before [`MaeDecoder::new`] on user input.
    pub fn validate(&self) -> Result<(), DecoderConfigError> {
        for (name, v) in [
            ("width", self.width),
            ("depth", self.depth),
            ("heads", self.heads),
        ] {
            if v == 0 {
                return Err(DecoderConfigError::Zero { name });
            }
        }
        if check_dim(self.width).is_err() {
            return Err(DecoderConfigError::WidthNotMultipleOf4 { width: self.width });
        }
        if !self.width.is_multiple_of(self.heads) {
            return Err(DecoderConfigError::HeadsDoNotDivide {
                width: self.width,
                heads: self.heads,
            });
        }
        if !(self.mlp_ratio.is_finite() && self.mlp_ratio > 0.0) {
            return Err(DecoderConfigError::BadMlpRatio(self.mlp_ratio));
        }
        Ok(())
    }
}

#[derive(Module, Debug)]
pub struct MaeDecoder {
    /// `[Dd, D]`: encoder width to decoder width.
    pub decoder_embed: Linear,
    /// `[1, 1, Dd]`, init normal std .02.
    pub mask_token: Param<Tensor<3>>,
    /// `[1, 1 + N, Dd]`, MAE's fixed sin-cos table. A plain tensor, not a parameter: never
    /// visited, so never optimized, never saved (rebuilt by [`MaeDecoder::new`]).
    pub decoder_pos_embed: Tensor<3>,
    pub decoder_blocks: Vec<Block>,
    pub decoder_norm: LayerNorm,
    /// `[p*p*C, Dd]`: one patch of pixels per token.
    pub decoder_pred: Linear,
}

impl MaeDecoder {
    /// A decoder for an encoder of width `enc_dim` over a `[rows, cols]` grid of patches of
    /// `patch x patch x chans` pixels, initialized from `seed`: Linear weights trunc-normal .02
    /// and zero biases (timm's default, as the encoder), LayerNorms 1/0, mask token normal .02.
    ///
    /// # Panics
    /// If `cfg` is invalid ([`DecoderConfig::validate`]).
    pub fn new(
        cfg: &DecoderConfig,
        enc_dim: usize,
        grid: [usize; 2],
        patch: usize,
        chans: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("{e}");
        }
        let mut init = Init::new(seed, device);
        let dd = cfg.width;
        let hidden = (dd as f64 * cfg.mlp_ratio) as usize;
        // Draw order (fixes what a seed means): embed, mask token, blocks, norm, pred.
        let decoder_embed = Linear::new(enc_dim, dd, &mut init);
        let mask_token = Param::from_tensor(init.normal([1, 1, dd], 0.02));
        let decoder_blocks = (0..cfg.depth)
            .map(|_| Block::new(dd, cfg.heads, hidden, &mut init))
            .collect();
        let decoder_norm = LayerNorm::new(dd, &mut init);
        let decoder_pred = Linear::new(dd, patch * patch * chans, &mut init);
        MaeDecoder {
            decoder_embed,
            mask_token,
            decoder_pos_embed: sincos_2d_tensor(dd, grid, device),
            decoder_blocks,
            decoder_norm,
            decoder_pred,
        }
    }

    /// Decoder width Dd.
    pub fn width(&self) -> usize {
        self.mask_token.dims()[2]
    }

    /// MAE's `forward_decoder`: latent `[B, 1 + keep, w]` (class token first, as the encoder
    /// returns it) -> pixel predictions `[B, N, p*p*C]` for every patch in original order
    /// (class token dropped). A narrower latent (`w < D`: channel SWS, or a narrower target
    /// model learning its scalers) meets the first `w` columns of `decoder_embed`, the same as
    /// zero-padding it to D.
    pub fn forward(&self, latent: Tensor<3>, plan: &MaskPlan) -> Tensor<3> {
        let w = latent.dims()[2];
        let embed = sweet_vit::width::first(self.decoder_embed.weight.val(), 1, w);
        let x = linear(latent, embed, self.decoder_embed.bias.val());
        let [b, k1, dd] = x.dims();
        let cls = x.clone().slice([0..b, 0..1, 0..dd]);
        let visible = x.slice([0..b, 1..k1, 0..dd]);
        let tokens = plan.unshuffle_with_mask_token(visible, self.mask_token.val());
        let mut x = Tensor::cat(vec![cls, tokens], 1) + self.decoder_pos_embed.clone();
        for block in &self.decoder_blocks {
            x = block.forward(x);
        }
        let x = self.decoder_pred.forward(self.decoder_norm.forward(x));
        let [_, n1, out] = x.dims();
        x.slice([0..b, 1..n1, 0..out])
    }
}
