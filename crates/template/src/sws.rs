//! Width-wise stochastic scaling (SWS): a random perturbation of the template along its width
//! modes (2 and 3), drawn once per training step. Evaluation and export never use it.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::TemplateConfig;

/// The four SWS modes of METHOD.md section 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SwsMode {
    /// No perturbation.
    Off,
    /// Compose with the leading `k2 x k3` fibres only, `k = r * j / 8` for j uniform in 2..=8,
    /// rescaled by `sqrt(r2 r3 / (k2 k3))` (Matryoshka-like: leading fibres carry the most).
    #[default]
    Nested,
    /// Scale every fibre of modes 2 and 3 by `Bernoulli(p) / p`, p = [`FIBRE_KEEP`].
    Fibre,
    /// Run at a random sub-width `D_s` (a whole number of heads, at least a quarter of them)
    /// with the first `D_s` rows of U, V and channels of everything else (slimmable style).
    Channels,
}

/// Keep probability of a fibre in [`SwsMode::Fibre`].
pub const FIBRE_KEEP: f64 = 0.75;

impl SwsMode {
    pub fn name(self) -> &'static str {
        match self {
            SwsMode::Off => "off",
            SwsMode::Nested => "nested",
            SwsMode::Fibre => "fibre",
            SwsMode::Channels => "channels",
        }
    }

    /// The perturbation of one training step.
    pub fn draw(self, cfg: &TemplateConfig, rng: &mut impl Rng) -> SwsDraw {
        let [_, r2, r3] = cfg.ranks;
        match self {
            SwsMode::Off => SwsDraw::Full,
            SwsMode::Nested => {
                let k = |r: usize, j: usize| ((r * j + 4) / 8).clamp(1, r);
                SwsDraw::Nested {
                    k2: k(r2, rng.random_range(2..=8)),
                    k3: k(r3, rng.random_range(2..=8)),
                }
            }
            SwsMode::Fibre => {
                let mut s = |r: usize| -> Vec<f32> {
                    (0..r)
                        .map(|_| {
                            if rng.random_bool(FIBRE_KEEP) {
                                (1.0 / FIBRE_KEEP) as f32
                            } else {
                                0.0
                            }
                        })
                        .collect()
                };
                let s2 = s(r2);
                let s3 = s(r3);
                SwsDraw::Fibre { s2, s3 }
            }
            SwsMode::Channels => {
                let widths = self.channel_widths(&cfg.vit);
                SwsDraw::Channels {
                    width: widths[rng.random_range(0..widths.len())],
                }
            }
        }
    }

    /// The sub-widths [`SwsMode::Channels`] draws from, uniformly: whole heads, from a quarter
    /// of them (rounded up) to all.
    pub fn channel_widths(self, vit: &sweet_vit::VitConfig) -> Vec<usize> {
        let heads = vit.num_heads;
        (heads.div_ceil(4)..=heads)
            .map(|h| h * vit.head_dim())
            .collect()
    }
}

impl fmt::Display for SwsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SwsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(SwsMode::Off),
            "nested" => Ok(SwsMode::Nested),
            "fibre" | "fiber" => Ok(SwsMode::Fibre),
            "channels" => Ok(SwsMode::Channels),
            _ => Err(format!(
                "unknown SWS mode `{s}` (expected nested, fibre, channels or off)"
            )),
        }
    }
}

/// One step's perturbation, applied by [`crate::Scalers::layers`].
#[derive(Clone, Debug, PartialEq, Default)]
pub enum SwsDraw {
    /// The whole template (evaluation, export, `off`).
    #[default]
    Full,
    /// Leading `k2` fibres of mode 2 and `k3` of mode 3.
    Nested { k2: usize, k3: usize },
    /// Per-fibre factors for modes 2 (`[r2]`) and 3 (`[r3]`).
    Fibre { s2: Vec<f32>, s3: Vec<f32> },
    /// Sub-width `D_s`.
    Channels { width: usize },
}
