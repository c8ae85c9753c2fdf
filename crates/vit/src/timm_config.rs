//! timm's hub `config.json`: what sweet writes (`model_args` + the full `pretrained_cfg`, so
//! `timm.create_model(architecture, num_classes=..., **model_args)` rebuilds the model), and
//! reading the folders timm itself writes (`timm.models._hub.save_for_hf`), with or without
//! `model_args`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{GlobalPool, ImgSize, VitConfig};
use crate::timm_archs::{self, DEFAULT_MLP_RATIO, DEFAULT_NUM_CLASSES};

/// timm's `pretrained_cfg`: the preprocessing a model expects, plus descriptive fields.
///
/// Reading needs only `input_size`, `mean` and `std` (what sweet uses); every other field falls
/// back to a default when absent, and fields sweet does not know are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPretrainedCfg")]
pub struct PretrainedCfg {
    /// `[C, H, W]`.
    pub input_size: [usize; 3],
    /// Per-channel normalization mean (applied as (x/255 - mean)/std).
    pub mean: Vec<f32>,
    /// Per-channel normalization std.
    pub std: Vec<f32>,
    /// Default: timm's `PretrainedCfg` default, 1000 (in a `config.json`, the top-level
    /// `num_classes` replaces it, as timm does).
    pub num_classes: usize,
    /// Default `"bicubic"` (timm's).
    pub interpolation: String,
    /// Default 0.875 (timm's).
    pub crop_pct: f32,
    /// Default `"patch_embed.proj"` (timm's ViT value).
    pub first_conv: String,
    /// Default `"head"` (timm's ViT value).
    pub classifier: String,
}

/// `pretrained_cfg` as found in a file: every field optional, unknown fields ignored.
#[derive(Deserialize)]
struct RawPretrainedCfg {
    input_size: Option<[usize; 3]>,
    mean: Option<Vec<f32>>,
    std: Option<Vec<f32>>,
    num_classes: Option<usize>,
    interpolation: Option<String>,
    crop_pct: Option<f32>,
    first_conv: Option<String>,
    classifier: Option<String>,
    /// Read only to decide where the image side comes from (timm's `fixed_input_size`).
    fixed_input_size: Option<bool>,
    /// timm passes it to the model when neither `model_args` nor the caller give one.
    global_pool: Option<String>,
}

impl RawPretrainedCfg {
    fn finish(self, num_classes: usize) -> Result<PretrainedCfg, String> {
        let need = |name: &str| {
            format!(
                "pretrained_cfg has no `{name}`: sweet needs `input_size`, `mean` and `std` to prepare images"
            )
        };
        Ok(PretrainedCfg {
            input_size: self.input_size.ok_or_else(|| need("input_size"))?,
            mean: self.mean.ok_or_else(|| need("mean"))?,
            std: self.std.ok_or_else(|| need("std"))?,
            num_classes,
            interpolation: self.interpolation.unwrap_or_else(|| "bicubic".to_string()),
            crop_pct: self.crop_pct.unwrap_or(0.875),
            first_conv: self
                .first_conv
                .unwrap_or_else(|| "patch_embed.proj".to_string()),
            classifier: self.classifier.unwrap_or_else(|| "head".to_string()),
        })
    }
}

impl TryFrom<RawPretrainedCfg> for PretrainedCfg {
    type Error = String;
    fn try_from(raw: RawPretrainedCfg) -> Result<Self, String> {
        let k = raw.num_classes.unwrap_or(DEFAULT_NUM_CLASSES);
        raw.finish(k)
    }
}

/// timm's hub `config.json`: `timm.create_model(architecture, num_classes=..., **model_args)`.
///
/// Deserializing resolves the file the way timm's `create_model('local-dir:...')` does, so the
/// fields always hold the full architecture:
/// - `architecture` must be a registered entrypoint ([`timm_archs::TIMM_ARCHS`]), optionally with
///   a pretrained tag (`vit_base_patch16_224.mae`); it gives the defaults;
/// - `model_args`, when present (any subset), overrides them key by key;
/// - `num_classes`: `model_args`, else the top-level field, else `pretrained_cfg`'s, else 1000;
/// - `in_chans`: `model_args`, else `pretrained_cfg.input_size[0]`; the image side: `model_args`,
///   else `input_size[1..]` (unless `fixed_input_size` is false: then the entrypoint's);
///   `pretrained_cfg.input_size` is then set to the model's `[in_chans, img, img]`, as timm does;
/// - `global_pool`: `model_args`, else the top-level field (timm writes it to describe the
///   weights), else `pretrained_cfg`'s, else `token`; the two must agree when both are given.
///
/// Writing ([`TimmConfig::new`]) always records the full `model_args` and `pretrained_cfg`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTimmConfig")]
pub struct TimmConfig {
    pub architecture: String,
    pub num_classes: usize,
    /// Token width (informational in timm; resolved to `embed_dim` when read).
    pub num_features: usize,
    pub global_pool: GlobalPool,
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
    /// Written only when not `token`, so configs of class-token models stay as before.
    #[serde(default, skip_serializing_if = "GlobalPool::is_token")]
    pub global_pool: GlobalPool,
}

/// Base architecture name; every size is expressed through `model_args` on top of it.
pub const TIMM_ARCHITECTURE: &str = "vit_tiny_patch16_224";

/// `config.json` as found in a file, before resolution.
#[derive(Deserialize)]
struct RawTimmConfig {
    architecture: String,
    num_classes: Option<usize>,
    global_pool: Option<String>,
    model_args: Option<Map<String, Value>>,
    pretrained_cfg: RawPretrainedCfg,
}

/// `VisionTransformer` arguments sweet accepts only at timm's default value (anything else
/// builds a different network), with the values that mean the default.
fn fixed_model_args() -> Vec<(&'static str, Vec<Value>)> {
    vec![
        ("qkv_bias", vec![json!(true)]),
        ("qk_norm", vec![json!(false)]),
        ("scale_attn_norm", vec![json!(false)]),
        ("scale_mlp_norm", vec![json!(false)]),
        ("proj_bias", vec![json!(true)]),
        ("init_values", vec![Value::Null]),
        ("class_token", vec![json!(true)]),
        ("pos_embed", vec![json!("learn")]),
        ("no_embed_class", vec![json!(false)]),
        ("reg_tokens", vec![json!(0)]),
        ("pre_norm", vec![json!(false)]),
        ("final_norm", vec![json!(true)]),
        ("pool_include_prefix", vec![json!(false)]),
        ("dynamic_img_size", vec![json!(false)]),
        ("dynamic_img_pad", vec![json!(false)]),
        ("embed_norm_layer", vec![Value::Null]),
        ("norm_layer", vec![Value::Null, json!("layernorm")]),
        ("act_layer", vec![Value::Null, json!("gelu")]),
    ]
}

/// `VisionTransformer` arguments that only matter for training (dropout, init); ignored.
const TRAINING_MODEL_ARGS: &[&str] = &[
    "drop_rate",
    "pos_drop_rate",
    "patch_drop_rate",
    "proj_drop_rate",
    "attn_drop_rate",
    "drop_path_rate",
    "weight_init",
    "fix_init",
];

/// The arguments sweet reads from `model_args`.
const READ_MODEL_ARGS: &[&str] = &[
    "img_size",
    "patch_size",
    "in_chans",
    "embed_dim",
    "depth",
    "num_heads",
    "mlp_ratio",
    "num_classes",
    "global_pool",
    "fc_norm",
];

/// `model_args` parsed: each field is `None` when the file does not give it.
#[derive(Default)]
struct ArgOverrides {
    img_size: Option<ImgSize>,
    patch_size: Option<usize>,
    in_chans: Option<usize>,
    embed_dim: Option<usize>,
    depth: Option<usize>,
    num_heads: Option<usize>,
    mlp_ratio: Option<f64>,
    num_classes: Option<usize>,
    global_pool: Option<GlobalPool>,
    fc_norm: Option<bool>,
}

fn count(key: &str, v: &Value) -> Result<usize, String> {
    v.as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| format!("model_args.{key} must be a non-negative integer (got {v})"))
}

/// An int, or an `[h, w]` pair.
fn size(key: &str, v: &Value) -> Result<ImgSize, String> {
    match v {
        Value::Array(a) if a.len() == 2 => Ok(ImgSize::new(count(key, &a[0])?, count(key, &a[1])?)),
        _ => Ok(count(key, v)?.into()),
    }
}

/// An int, or a `[h, w]` pair with `h == w` (sweet's patches are square).
fn side(key: &str, v: &Value) -> Result<usize, String> {
    match v {
        Value::Array(a) if a.len() == 2 => {
            let (h, w) = (count(key, &a[0])?, count(key, &a[1])?);
            if h != w {
                return Err(format!(
                    "model_args.{key} is {v}: sweet's ViT needs square patches"
                ));
            }
            Ok(h)
        }
        _ => count(key, v),
    }
}

impl ArgOverrides {
    fn parse(args: &Map<String, Value>) -> Result<Self, String> {
        let fixed = fixed_model_args();
        let mut o = ArgOverrides::default();
        for (key, v) in args {
            let k = key.as_str();
            match k {
                "img_size" => o.img_size = Some(size(k, v)?),
                "patch_size" => o.patch_size = Some(side(k, v)?),
                "in_chans" => o.in_chans = Some(count(k, v)?),
                "embed_dim" => o.embed_dim = Some(count(k, v)?),
                "depth" => o.depth = Some(count(k, v)?),
                "num_heads" => o.num_heads = Some(count(k, v)?),
                "num_classes" => o.num_classes = Some(count(k, v)?),
                "mlp_ratio" => {
                    o.mlp_ratio = Some(v.as_f64().ok_or_else(|| {
                        format!("model_args.mlp_ratio must be a number (got {v})")
                    })?)
                }
                "global_pool" => {
                    let s = v.as_str().ok_or_else(|| {
                        format!("model_args.global_pool must be a string (got {v})")
                    })?;
                    o.global_pool = Some(GlobalPool::parse(s)?);
                }
                "fc_norm" => {
                    o.fc_norm = match v {
                        Value::Null => None,
                        Value::Bool(b) => Some(*b),
                        _ => return Err(format!("model_args.fc_norm must be null or a bool (got {v})")),
                    }
                }
                _ if TRAINING_MODEL_ARGS.contains(&k) => {}
                _ => match fixed.iter().find(|(name, _)| *name == k) {
                    Some((_, ok)) if ok.contains(v) => {}
                    Some((_, ok)) => {
                        return Err(format!(
                            "model_args.{k} = {v} is not supported: sweet's ViT is built only with {k} = {}",
                            ok[0]
                        ))
                    }
                    None => {
                        let mut known: Vec<&str> = READ_MODEL_ARGS.to_vec();
                        known.extend(fixed.iter().map(|(n, _)| *n));
                        known.extend(TRAINING_MODEL_ARGS);
                        return Err(format!(
                            "model_args.{k} is not a VisionTransformer argument sweet knows (known: {})",
                            known.join(", ")
                        ));
                    }
                },
            }
        }
        Ok(o)
    }
}

impl TryFrom<RawTimmConfig> for TimmConfig {
    type Error = String;

    fn try_from(raw: RawTimmConfig) -> Result<Self, String> {
        let arch = timm_archs::lookup(&raw.architecture).ok_or_else(|| {
            format!(
                "unknown architecture {:?}: sweet knows {} (a pretrained tag after a dot, such as `.mae`, is fine)",
                raw.architecture,
                timm_archs::known_names()
            )
        })?;
        let o = match &raw.model_args {
            Some(args) => ArgOverrides::parse(args)?,
            None => ArgOverrides::default(),
        };
        let p = raw.pretrained_cfg;
        let num_classes = o
            .num_classes
            .or(raw.num_classes)
            .or(p.num_classes)
            .unwrap_or(DEFAULT_NUM_CLASSES);

        let top_pool = raw
            .global_pool
            .as_deref()
            .map(GlobalPool::parse)
            .transpose()?;
        let cfg_pool = p
            .global_pool
            .as_deref()
            .map(GlobalPool::parse)
            .transpose()?;
        if let (Some(a), Some(t)) = (o.global_pool, top_pool) {
            if a != t {
                return Err(format!(
                    "global_pool is {:?} but model_args.global_pool is {:?}: they must agree",
                    t.as_str(),
                    a.as_str()
                ));
            }
        }
        let global_pool = o.global_pool.or(top_pool).or(cfg_pool).unwrap_or_default();
        if let Some(fc) = o.fc_norm {
            if fc != global_pool.uses_fc_norm() {
                return Err(format!(
                    "model_args.fc_norm = {fc} with global_pool {:?} is not supported: sweet's ViT has fc_norm exactly when global_pool is \"avg\"",
                    global_pool.as_str()
                ));
            }
        }

        let fixed_input_size = p.fixed_input_size.unwrap_or(true);
        let mut pretrained_cfg = p.finish(num_classes)?;
        let [c, h, w] = pretrained_cfg.input_size;
        let in_chans = o.in_chans.unwrap_or(c);
        let img_size = match o.img_size {
            Some(s) => s,
            None if fixed_input_size => ImgSize::new(h, w),
            None => arch.img_size.into(),
        };
        pretrained_cfg.input_size = [in_chans, img_size.h, img_size.w];
        let (means, stds) = (pretrained_cfg.mean.len(), pretrained_cfg.std.len());
        if means != in_chans || stds != in_chans {
            return Err(format!(
                "pretrained_cfg mean has {means} and std {stds} values: the model takes {in_chans} channels, one of each per channel"
            ));
        }

        let model_args = ModelArgs {
            img_size,
            patch_size: o.patch_size.unwrap_or(arch.patch_size),
            in_chans,
            embed_dim: o.embed_dim.unwrap_or(arch.embed_dim),
            depth: o.depth.unwrap_or(arch.depth),
            num_heads: o.num_heads.unwrap_or(arch.num_heads),
            mlp_ratio: o.mlp_ratio.unwrap_or(DEFAULT_MLP_RATIO),
            global_pool,
        };
        Ok(TimmConfig {
            architecture: raw.architecture,
            num_classes,
            num_features: model_args.embed_dim,
            global_pool,
            model_args,
            pretrained_cfg,
        })
    }
}

impl TimmConfig {
    /// The timm config of `vit`, with the data normalization it was trained with.
    pub fn new(vit: &VitConfig, mean: Vec<f32>, std: Vec<f32>) -> Self {
        TimmConfig {
            architecture: TIMM_ARCHITECTURE.to_string(),
            num_classes: vit.num_classes,
            num_features: vit.embed_dim,
            global_pool: vit.global_pool,
            model_args: ModelArgs {
                img_size: vit.img_size,
                patch_size: vit.patch_size,
                in_chans: vit.in_chans,
                embed_dim: vit.embed_dim,
                depth: vit.depth,
                num_heads: vit.num_heads,
                mlp_ratio: vit.mlp_ratio,
                global_pool: vit.global_pool,
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
            global_pool: a.global_pool,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::tests::tiny;

    #[test]
    fn timm_config_round_trips_the_architecture() {
        let c = tiny();
        let t = TimmConfig::new(&c, vec![0.5; 3], vec![0.5; 3]);
        let json = serde_json::to_string(&t).unwrap();
        let back: TimmConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.vit(), c);
        assert_eq!(back, t);
        assert!(json.contains("\"model_args\""));
        assert!(json.contains("\"pretrained_cfg\""));
    }

    #[test]
    fn class_token_configs_are_written_as_before_global_pool_existed() {
        let t = serde_json::to_value(TimmConfig::new(&tiny(), vec![0.5; 3], vec![0.5; 3])).unwrap();
        assert_eq!(t["global_pool"], "token");
        assert!(t["model_args"].get("global_pool").is_none());
        let avg = VitConfig {
            global_pool: GlobalPool::Avg,
            ..tiny()
        };
        let t = serde_json::to_value(TimmConfig::new(&avg, vec![0.5; 3], vec![0.5; 3])).unwrap();
        assert_eq!(t["model_args"]["global_pool"], "avg");
        // A VitConfig (run.json, safetensors metadata) written before the field existed.
        let old = r#"{"img_size":16,"patch_size":4,"in_chans":3,"embed_dim":32,"depth":2,
            "num_heads":2,"mlp_ratio":4.0,"num_classes":5}"#;
        assert_eq!(serde_json::from_str::<VitConfig>(old).unwrap(), tiny());
    }
}
