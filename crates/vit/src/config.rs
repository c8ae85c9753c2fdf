//! The ViT hyper-parameters: input size, pooling, the architecture and its checks. timm's
//! `config.json` (writing it, and reading the folders timm itself writes) is
//! [`crate::timm_config`], re-exported here.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::timm_config::{ModelArgs, PretrainedCfg, TimmConfig, TIMM_ARCHITECTURE};

/// Input size in pixels, `[h, w]`. Written as one number when square (timm's `model_args`
/// accept both an int and a pair), read from either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImgSize {
    pub h: usize,
    pub w: usize,
}

impl ImgSize {
    pub fn new(h: usize, w: usize) -> Self {
        ImgSize { h, w }
    }

    pub fn is_square(self) -> bool {
        self.h == self.w
    }
}

impl From<usize> for ImgSize {
    fn from(side: usize) -> Self {
        ImgSize { h: side, w: side }
    }
}

impl std::fmt::Display for ImgSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.h, self.w)
    }
}

impl Serialize for ImgSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_square() {
            s.serialize_u64(self.h as u64)
        } else {
            [self.h, self.w].serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ImgSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Side(usize),
            Pair([usize; 2]),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Side(s) => s.into(),
            Repr::Pair([h, w]) => ImgSize { h, w },
        })
    }
}

/// How the token features become one vector per image before the head (timm's `global_pool`).
///
/// timm (`VisionTransformer.__init__`, 1.0.31): `use_fc_norm = global_pool in ('avg', 'avgmax',
/// 'max')` when `fc_norm=None` (older timm: `global_pool == 'avg'`); the final `norm` is then
/// Identity and an `fc_norm` LayerNorm follows the pooling (`forward_head`: `pool`, `fc_norm`,
/// `head`; `avg` is the mean over the tokens after the class token, `pool_include_prefix=False`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GlobalPool {
    /// The class token (row 0) after the final `norm`; no `fc_norm`.
    #[default]
    Token,
    /// The mean of the patch tokens (class token excluded), then `fc_norm`; no final `norm`
    /// (MAE's fine-tuned models).
    Avg,
}

impl GlobalPool {
    /// The values sweet supports, for error messages.
    pub const SUPPORTED: &'static str =
        "\"token\" (class token) and \"avg\" (mean of the patch tokens, with fc_norm)";

    /// timm's name.
    pub fn as_str(self) -> &'static str {
        match self {
            GlobalPool::Token => "token",
            GlobalPool::Avg => "avg",
        }
    }

    /// Parses timm's name; timm's other poolings (`""`, `"max"`, `"avgmax"`, `"map"`, `"prr"`)
    /// are an error naming the supported ones.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "token" => Ok(GlobalPool::Token),
            "avg" => Ok(GlobalPool::Avg),
            other => Err(format!(
                "global_pool {other:?} is not supported: sweet supports {}",
                Self::SUPPORTED
            )),
        }
    }

    pub fn is_token(&self) -> bool {
        *self == GlobalPool::Token
    }

    /// Whether the model has `fc_norm` (and no final `norm`), as timm decides with `fc_norm=None`.
    pub fn uses_fc_norm(self) -> bool {
        self == GlobalPool::Avg
    }
}

/// Architecture of a timm-compatible ViT. Field names follow timm's `model_args`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitConfig {
    /// Input size `[h, w]` in pixels (one number in files when square).
    pub img_size: ImgSize,
    /// Square patch side in pixels (the patch-embedding conv's kernel and stride).
    pub patch_size: usize,
    /// Input channels (1 for MNIST, 3 for RGB).
    pub in_chans: usize,
    /// Token width D.
    pub embed_dim: usize,
    /// Number of transformer blocks L.
    pub depth: usize,
    /// Attention heads; head dim = embed_dim / num_heads.
    pub num_heads: usize,
    /// MLP hidden width = floor(embed_dim * mlp_ratio), as timm computes it.
    pub mlp_ratio: f64,
    /// Classifier outputs (0 = no head, features only).
    pub num_classes: usize,
    /// Pooling before the head; decides between a final `norm` (token) and `fc_norm` (avg).
    /// Absent in configs written before it existed, which all meant `token`.
    #[serde(default)]
    pub global_pool: GlobalPool,
}

/// An inconsistent architecture, with what to change.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{name} must be positive (got 0)")]
    Zero { name: &'static str },
    #[error("img_size {img_size} is not a multiple of patch_size {patch_size}: pick a patch that divides both image sides")]
    PatchDoesNotDivide {
        img_size: ImgSize,
        patch_size: usize,
    },
    #[error("embed_dim {embed_dim} is not a multiple of num_heads {num_heads}: the head dim must be whole")]
    HeadsDoNotDivide { embed_dim: usize, num_heads: usize },
    #[error("mlp_ratio {0} must be positive and finite")]
    BadMlpRatio(f64),
}

impl VitConfig {
    /// Checks every constraint; call before building a model from user input.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("img_size (height)", self.img_size.h),
            ("img_size (width)", self.img_size.w),
            ("patch_size", self.patch_size),
            ("in_chans", self.in_chans),
            ("embed_dim", self.embed_dim),
            ("depth", self.depth),
            ("num_heads", self.num_heads),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { name });
            }
        }
        check_patch(self.img_size, self.patch_size)?;
        if !self.embed_dim.is_multiple_of(self.num_heads) {
            return Err(ConfigError::HeadsDoNotDivide {
                embed_dim: self.embed_dim,
                num_heads: self.num_heads,
            });
        }
        if !(self.mlp_ratio.is_finite() && self.mlp_ratio > 0.0) {
            return Err(ConfigError::BadMlpRatio(self.mlp_ratio));
        }
        Ok(())
    }

    /// The same architecture for images of `img_size` cut into patches of `patch_size`: what a
    /// model taken there by [`Vit::adapt`](crate::Vit::adapt) is saved with, so that its
    /// `config.json` names the new size and patch. Fails as [`Self::validate`].
    pub fn adapted(&self, img_size: ImgSize, patch_size: usize) -> Result<VitConfig, ConfigError> {
        let cfg = VitConfig {
            img_size,
            patch_size,
            ..self.clone()
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Patch grid `[rows, columns]`.
    pub fn grid(&self) -> [usize; 2] {
        [
            self.img_size.h / self.patch_size,
            self.img_size.w / self.patch_size,
        ]
    }

    /// Patch tokens N = rows x columns (without the class token).
    pub fn num_patches(&self) -> usize {
        let [gh, gw] = self.grid();
        gh * gw
    }

    /// Head dimension D / heads.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.num_heads
    }

    /// MLP hidden width, `int(dim * mlp_ratio)` as in timm.
    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }
}

/// Checks that square patches of side `patch_size` tile images of `img_size`: every side
/// positive and a multiple of the patch.
pub fn check_patch(img_size: ImgSize, patch_size: usize) -> Result<(), ConfigError> {
    for (name, v) in [
        ("img_size (height)", img_size.h),
        ("img_size (width)", img_size.w),
        ("patch_size", patch_size),
    ] {
        if v == 0 {
            return Err(ConfigError::Zero { name });
        }
    }
    if !img_size.h.is_multiple_of(patch_size) || !img_size.w.is_multiple_of(patch_size) {
        return Err(ConfigError::PatchDoesNotDivide {
            img_size,
            patch_size,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid architecture (also used by `timm_config`'s tests).
    pub(crate) fn tiny() -> VitConfig {
        VitConfig {
            img_size: 16.into(),
            patch_size: 4,
            in_chans: 3,
            embed_dim: 32,
            depth: 2,
            num_heads: 2,
            mlp_ratio: 4.0,
            num_classes: 5,
            global_pool: GlobalPool::Token,
        }
    }

    #[test]
    fn derived_sizes() {
        let c = tiny();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            (c.grid(), c.num_patches(), c.head_dim(), c.mlp_hidden()),
            ([4, 4], 16, 16, 128)
        );
    }

    #[test]
    fn rejects_inconsistent_shapes() {
        let c = VitConfig {
            patch_size: 5,
            ..tiny()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PatchDoesNotDivide { .. })
        ));
        let c = VitConfig {
            num_heads: 3,
            ..tiny()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::HeadsDoNotDivide { .. })
        ));
        let c = VitConfig { depth: 0, ..tiny() };
        assert_eq!(c.validate(), Err(ConfigError::Zero { name: "depth" }));
    }
}
