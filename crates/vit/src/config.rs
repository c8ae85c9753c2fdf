//! The ViT hyper-parameters and timm's `config.json` format.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// How the classifier pools the encoder's tokens (timm's `global_pool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GlobalPool {
    /// The class token after the final `norm` (timm's `'token'`).
    #[default]
    Token,
    /// The mean of the patch tokens (class token excluded), then `fc_norm`; no final `norm`
    /// (timm's `'avg'`, MAE's fine-tuning default).
    Avg,
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
    /// Token pooling before the head (files written before it existed: `token`).
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
        if self.img_size.h % self.patch_size != 0 || self.img_size.w % self.patch_size != 0 {
            return Err(ConfigError::PatchDoesNotDivide {
                img_size: self.img_size,
                patch_size: self.patch_size,
            });
        }
        if self.embed_dim % self.num_heads != 0 {
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

/// timm's `pretrained_cfg` subset that matters for using the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainedCfg {
    /// `[C, H, W]`.
    pub input_size: [usize; 3],
    /// Per-channel normalization mean (applied as (x/255 - mean)/std).
    pub mean: Vec<f32>,
    /// Per-channel normalization std.
    pub std: Vec<f32>,
    pub num_classes: usize,
    pub interpolation: String,
    pub crop_pct: f32,
    pub first_conv: String,
    pub classifier: String,
}

/// timm's hub `config.json`: `timm.create_model(architecture, num_classes=..., **model_args)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimmConfig {
    pub architecture: String,
    pub num_classes: usize,
    pub num_features: usize,
    pub global_pool: String,
    pub model_args: ModelArgs,
    pub pretrained_cfg: PretrainedCfg,
}

/// The `model_args` timm passes to `VisionTransformer` (overriding the named architecture).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelArgs {
    pub img_size: ImgSize,
    pub patch_size: usize,
    pub in_chans: usize,
    pub embed_dim: usize,
    pub depth: usize,
    pub num_heads: usize,
    pub mlp_ratio: f64,
}

/// Base architecture name; every size is expressed through `model_args` on top of it.
pub const TIMM_ARCHITECTURE: &str = "vit_tiny_patch16_224";

impl TimmConfig {
    /// The timm config of `vit`, with the data normalization it was trained with.
    pub fn new(vit: &VitConfig, mean: Vec<f32>, std: Vec<f32>) -> Self {
        TimmConfig {
            architecture: TIMM_ARCHITECTURE.to_string(),
            num_classes: vit.num_classes,
            num_features: vit.embed_dim,
            global_pool: match vit.global_pool {
                GlobalPool::Token => "token",
                GlobalPool::Avg => "avg",
            }
            .to_string(),
            model_args: ModelArgs {
                img_size: vit.img_size,
                patch_size: vit.patch_size,
                in_chans: vit.in_chans,
                embed_dim: vit.embed_dim,
                depth: vit.depth,
                num_heads: vit.num_heads,
                mlp_ratio: vit.mlp_ratio,
            },
            pretrained_cfg: PretrainedCfg {
                input_size: [vit.in_chans, vit.img_size.h, vit.img_size.w],
                mean,
                std,
                num_classes: vit.num_classes,
                interpolation: "bicubic".to_string(),
                crop_pct: 1.0,
                first_conv: "patch_embed.proj".to_string(),
                classifier: "head".to_string(),
            },
        }
    }

    /// The architecture back from a timm config.
    pub fn vit(&self) -> VitConfig {
        let a = &self.model_args;
        VitConfig {
            img_size: a.img_size,
            patch_size: a.patch_size,
            in_chans: a.in_chans,
            embed_dim: a.embed_dim,
            depth: a.depth,
            num_heads: a.num_heads,
            mlp_ratio: a.mlp_ratio,
            num_classes: self.num_classes,
            global_pool: if self.global_pool == "avg" {
                GlobalPool::Avg
            } else {
                GlobalPool::Token
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> VitConfig {
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

    #[test]
    fn timm_config_round_trips_the_architecture() {
        let c = tiny();
        let t = TimmConfig::new(&c, vec![0.5; 3], vec![0.5; 3]);
        let json = serde_json::to_string(&t).unwrap();
        let back: TimmConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.vit(), c);
        assert!(json.contains("\"model_args\""));
        assert!(json.contains("\"pretrained_cfg\""));
    }
}
