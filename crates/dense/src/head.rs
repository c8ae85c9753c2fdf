//! The light dense head both tasks put on the backbone's token grid: a per-token MLP whose
//! output is rearranged into an `s x s` block of pixels per token (pixel shuffle), giving a map
//! at stride `patch / s`.
//!
//! `[B, N, D]` (patch tokens, `N = gh * gw`) -> LayerNorm -> Linear `D -> hidden` -> GELU ->
//! Linear `hidden -> s * s * c` -> `[B, c, gh * s, gw * s]`. Detection uses `s = 2` (a
//! stride-4 map for patch 8, CenterNet's stride); segmentation `s = patch` (full resolution),
//! the "per-token linear to p*p*classes rearranged to pixels" of SETR-naive / Segmenter's
//! linear decoder, with one hidden layer.

use burn::prelude::*;
use burn::tensor::activation::gelu;
use serde::{Deserialize, Serialize};
use sweet_vit::init::Init;
use sweet_vit::layers::{LayerNorm, Linear};

/// The head's shape: what a run file records and a model folder's `head.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Token width of the backbone (the head's input).
    pub width: usize,
    /// Hidden width of the MLP.
    pub hidden: usize,
    /// Output pixels per token side: the map is `s` times the token grid.
    pub sub: usize,
    /// Channels of the output map.
    pub channels: usize,
}

#[derive(Module, Debug)]
pub struct TokenHead {
    pub norm: LayerNorm,
    /// `[hidden, D]`.
    pub fc1: Linear,
    /// `[s * s * c, hidden]`; output `j = (dy * s + dx) * c + channel`.
    pub fc2: Linear,
    #[module(skip)]
    pub sub: usize,
    #[module(skip)]
    pub channels: usize,
}

impl TokenHead {
    /// timm's init for every Linear (trunc-normal .02, bias 0), norms 1 / 0, drawn from `init`.
    pub fn new(cfg: &HeadConfig, init: &mut Init) -> Self {
        let out = cfg.sub * cfg.sub * cfg.channels;
        TokenHead {
            norm: LayerNorm::new(cfg.width, init),
            fc1: Linear::new(cfg.width, cfg.hidden, init),
            fc2: Linear::new(cfg.hidden, out, init),
            sub: cfg.sub,
            channels: cfg.channels,
        }
    }

    /// Sets the output bias of channel `channel` (at every sub-pixel) to `value`, e.g. a
    /// heatmap's prior logit.
    pub fn set_channel_bias(mut self, channel: usize, value: f32) -> Self {
        let (c, s2) = (self.channels, self.sub * self.sub);
        self.fc2.bias = self.fc2.bias.map(|b| {
            let (device, grad) = (b.device(), b.is_require_grad());
            let mut v: Vec<f32> = b
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 bias");
            for j in 0..s2 {
                v[j * c + channel] = value;
            }
            let new = Tensor::from_data(TensorData::new(v, [s2 * c]), &device);
            if grad {
                new.require_grad()
            } else {
                new
            }
        });
        self
    }

    /// Patch tokens `[B, gh * gw, D]` on the grid `[gh, gw]` -> map `[B, c, gh * s, gw * s]`.
    pub fn forward(&self, tokens: Tensor<3>, grid: [usize; 2]) -> Tensor<4> {
        let [b, n, _] = tokens.dims();
        let [gh, gw] = grid;
        assert_eq!(n, gh * gw, "one token per grid cell");
        let (s, c) = (self.sub, self.channels);
        let x = self.fc1.forward(self.norm.forward(tokens));
        let x = self.fc2.forward(gelu(x));
        // [B, gh, gw, s, s, c] -> [B, c, gh, s, gw, s]
        x.reshape([b, gh, gw, s, s, c])
            .permute([0, 5, 1, 3, 2, 4])
            .reshape([b, c, gh * s, gw * s])
    }
}
