//! Shapes of a templated ViT: the dense architecture plus the Tucker ranks and orientation.

use serde::{Deserialize, Serialize};
use sweet_vit::{ConfigError, VitConfig};

use crate::sws::SwsMode;

/// How the o and fc2 blocks are stored in `W` (METHOD.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Orientation {
    /// Every block `[inner, residual]`: o and fc2 slices transposed, so V is one basis of the
    /// residual stream and U one basis of the head/hidden channels (the default).
    #[default]
    Residual,
    /// Every block as timm stores it (`[out, in]`).
    Raw,
}

/// Blocks per layer: q, k, v, o, fc1 slices 0..3, fc2 slices 0..3.
pub const BLOCKS_PER_LAYER: usize = 12;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateConfig {
    /// The dense architecture the factors compose (mlp_ratio must be 4).
    pub vit: VitConfig,
    /// Tucker ranks (r1, r2, r3) of the template G.
    pub ranks: [usize; 3],
    pub orientation: Orientation,
    /// Width-wise stochastic scaling used in training (never in evaluation or export).
    pub sws: SwsMode,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error(transparent)]
    Vit(#[from] ConfigError),
    #[error("a templated ViT needs mlp_ratio 4 (fc1/fc2 are cut into four D x D blocks), got {0}")]
    MlpRatio(f64),
    #[error("rank {name} = {rank} must be between 1 and {max}")]
    Rank {
        name: &'static str,
        rank: usize,
        max: usize,
    },
    #[error("{what}: expected shape {expected:?}, got {got:?}")]
    Shape {
        what: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    #[error("{0}")]
    Invalid(String),
}

impl TemplateConfig {
    /// METHOD.md's defaults for a pre-training width D0: r1 = 48, r2 = r3 = D0.
    pub fn with_default_ranks(vit: VitConfig) -> Self {
        let d = vit.embed_dim;
        TemplateConfig {
            vit,
            ranks: [48, d, d],
            orientation: Orientation::Residual,
            sws: SwsMode::default(),
        }
    }

    /// Number of D x D blocks, 12L.
    pub fn num_blocks(&self) -> usize {
        BLOCKS_PER_LAYER * self.vit.depth
    }

    pub fn validate(&self) -> Result<(), TemplateError> {
        self.vit.validate()?;
        if self.vit.mlp_ratio != 4.0 {
            return Err(TemplateError::MlpRatio(self.vit.mlp_ratio));
        }
        // r1 may exceed 12L (an over-complete depth code is fine); r2, r3 up to any size too,
        // but at least 1. Bound them loosely to catch typos.
        let d = self.vit.embed_dim;
        for (name, rank, max) in [
            ("r1", self.ranks[0], 4096),
            ("r2", self.ranks[1], 8 * d),
            ("r3", self.ranks[2], 8 * d),
        ] {
            if rank == 0 || rank > max {
                return Err(TemplateError::Rank { name, rank, max });
            }
        }
        if self.sws == SwsMode::Channels {
            // Every sub-width channel SWS can draw gets a recomputed 2-D sin-cos table, which
            // needs a multiple of 4 channels.
            let bad: Vec<usize> = self
                .sws
                .channel_widths(&self.vit)
                .into_iter()
                .filter(|w| w % 4 != 0)
                .collect();
            if !bad.is_empty() {
                return Err(TemplateError::Invalid(format!(
                    "--sws channels draws sub-widths of whole heads ({} channels each); {bad:?} \
                     are not multiples of 4, which the sin-cos position table needs: choose \
                     heads so that the head dim is a multiple of 4 (e.g. {} heads)",
                    self.vit.head_dim(),
                    heads_with_head_dim_multiple_of_4(self.vit.embed_dim, self.vit.num_heads)
                )));
            }
        }
        Ok(())
    }
}

/// The head count nearest `heads` whose head dim `d / h` is a whole multiple of 4.
fn heads_with_head_dim_multiple_of_4(d: usize, heads: usize) -> usize {
    (1..=d)
        .filter(|h| d.is_multiple_of(*h) && (d / h).is_multiple_of(4))
        .min_by_key(|h| h.abs_diff(heads))
        .unwrap_or(1)
}
