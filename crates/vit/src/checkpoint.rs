//! Model folders: `model.safetensors` (timm keys, `[out, in]` layouts, f32, format name and
//! version in the metadata) + timm's `config.json`. Loads into
//! `timm.create_model(architecture, num_classes=..., **model_args)` with `strict=True`.
//!
//! [`load_for_finetune`] reads any such folder (with a head of any class count, or none) as
//! the encoder of a classifier to fine-tune, with MAE's fresh head.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;

use crate::config::{ConfigError, GlobalPool, ImgSize, TimmConfig, VitConfig};
use crate::init::Init;
use crate::layers::Linear;
use crate::model::Vit;
use crate::names::{load_named, load_named_where, named_tensors, KeyMismatch};
use crate::tensor_file::{self, TensorFileError, FORMAT_KEY, VERSION_KEY};

/// Format name of a model's safetensors file.
pub const MODEL_FORMAT: &str = "sweet.vit";
/// Format version; bump on any incompatible change of keys or layouts.
pub const MODEL_FORMAT_VERSION: &str = "1";
/// The format versions [`load_weights`] reads.
pub const MODEL_FORMAT_VERSIONS: &[&str] = &[MODEL_FORMAT_VERSION];
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    File(#[from] TensorFileError),
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: invalid architecture: {source}")]
    Arch { path: PathBuf, source: ConfigError },
    #[error("{path}: weights do not fit the architecture in config.json: {source}")]
    Keys { path: PathBuf, source: KeyMismatch },
    /// A folder whose encoder does not fit the model to fine-tune.
    #[error("{path}: the encoder does not fit the model to fine-tune: {source}; fine-tuning starts head.* (and fc_norm.* with global pool avg) fresh, every other key must be in the folder with its shape{hint}")]
    FinetuneKeys {
        path: PathBuf,
        source: KeyMismatch,
        /// What to change, when the mismatch suggests it (or empty).
        hint: String,
    },
    /// A model saved with a config of another patch or grid (e.g. the config from before
    /// [`Vit::adapt`]): the folder would not load.
    #[error("the model does not fit the config it is saved with: {reason} (save a model taken to another size or patch by Vit::adapt with VitConfig::adapted)")]
    ModelConfig { reason: String },
    /// A folder whose architecture is not the one the fine-tuned model was given.
    #[error("{path}: the folder's architecture differs from the model to fine-tune ({reason})")]
    FinetuneArch { path: PathBuf, reason: String },
}

/// The metadata written into every model file.
pub fn model_metadata(cfg: &VitConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        (FORMAT_KEY.to_string(), MODEL_FORMAT.to_string()),
        (VERSION_KEY.to_string(), MODEL_FORMAT_VERSION.to_string()),
        (
            "vit_config".to_string(),
            serde_json::to_string(cfg).expect("serializable"),
        ),
    ])
}

/// Checks that `model` has the patch and grid of `cfg` (the shapes of `patch_embed.proj.weight`
/// and `pos_embed` follow from them).
fn check_fits(model: &Vit, cfg: &VitConfig) -> Result<(), CheckpointError> {
    let (patch, grid) = (model.patch_embed.patch_size, model.grid);
    if patch != cfg.patch_size || grid != cfg.grid() {
        return Err(CheckpointError::ModelConfig {
            reason: format!(
                "the model has patch {patch} and grid {grid:?} (images {}), the config patch {} and grid {:?} (images {})",
                model.img_size(),
                cfg.patch_size,
                cfg.grid(),
                cfg.img_size
            ),
        });
    }
    Ok(())
}

/// Writes only the weights, atomically. Fails when the model's patch or grid is not `cfg`'s.
pub fn save_weights(model: &Vit, cfg: &VitConfig, path: &Path) -> Result<(), CheckpointError> {
    check_fits(model, cfg)?;
    Ok(tensor_file::write(
        path,
        &named_tensors(model),
        &model_metadata(cfg),
    )?)
}

/// Reads weights written by [`save_weights`] (or any safetensors with timm keys) into `model`,
/// checking every key and shape. A file sweet wrote (format `sweet.vit`) must have a format
/// version in [`MODEL_FORMAT_VERSIONS`]; files from timm (no format, or `pt`) are not versioned.
pub fn load_weights(model: Vit, path: &Path) -> Result<Vit, CheckpointError> {
    let file = read_weights(path)?;
    load_named(model, &file.tensors).map_err(|source| CheckpointError::Keys {
        path: path.into(),
        source,
    })
}

/// Reads a model file; one sweet wrote must have a known format version.
fn read_weights(path: &Path) -> Result<tensor_file::TensorFile, CheckpointError> {
    let file = tensor_file::read(path)?;
    if file.metadata.get(FORMAT_KEY).map(String::as_str) == Some(MODEL_FORMAT) {
        file.expect_format_version(path, MODEL_FORMAT, MODEL_FORMAT_VERSIONS)?;
    }
    Ok(file)
}

/// Writes a model folder: `model.safetensors` + `config.json` (each atomically). Fails, writing
/// nothing, when the model's patch or grid is not `cfg`'s.
pub fn save_model(
    model: &Vit,
    cfg: &VitConfig,
    mean: Vec<f32>,
    std: Vec<f32>,
    dir: &Path,
) -> Result<(), CheckpointError> {
    save_weights(model, cfg, &dir.join(WEIGHTS_FILE))?;
    let json =
        serde_json::to_string_pretty(&TimmConfig::new(cfg, mean, std)).expect("serializable");
    tensor_file::atomic_write(&dir.join(CONFIG_FILE), json.as_bytes())?;
    Ok(())
}

/// Reads `config.json` of a model folder: sweet's own, or one timm wrote (with or without
/// `model_args`; see [`TimmConfig`] for how it is resolved), and checks the architecture.
pub fn read_config(dir: &Path) -> Result<TimmConfig, CheckpointError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| CheckpointError::Config {
        path: path.clone(),
        reason: format!("{e} (is {} a model folder?)", dir.display()),
    })?;
    let cfg: TimmConfig = serde_json::from_str(&text).map_err(|e| CheckpointError::Config {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    cfg.vit()
        .validate()
        .map_err(|source| CheckpointError::Arch { path, source })?;
    Ok(cfg)
}

/// Loads a model folder onto `device`.
pub fn load_model(dir: &Path, device: &Device) -> Result<(Vit, TimmConfig), CheckpointError> {
    let cfg = read_config(dir)?;
    let model = Vit::new(&cfg.vit(), 0, device);
    let model = load_weights(model, &dir.join(WEIGHTS_FILE))?;
    Ok((model, cfg))
}

/// The standard deviation of a fine-tuned model's fresh head weight (MAE's `main_finetune.py`:
/// `trunc_normal_(model.head.weight, std=2e-5)`; the bias starts at 0).
pub const FINETUNE_HEAD_STD: f32 = 2e-5;

/// Whether fine-tuning with pooling `pool` starts the parameter `key` fresh rather than reading
/// it from the folder: the head always, and `fc_norm` with average pooling. These are exactly
/// the keys MAE allows to be missing when it loads a pre-trained encoder.
pub fn fresh_for_finetune(key: &str, pool: GlobalPool) -> bool {
    key.starts_with("head.") || (pool.uses_fc_norm() && key.starts_with("fc_norm."))
}

/// Whether a folder's tensor `key` is left unread when fine-tuning with pooling `pool`: the
/// fresh parts ([`fresh_for_finetune`], whatever their shape, e.g. a head for another class
/// count), a folder's `fc_norm`, and its final `norm` when the fine-tuned model pools by
/// average (timm removes the final norm then).
fn unread_for_finetune(key: &str, pool: GlobalPool) -> bool {
    key.starts_with("head.")
        || key.starts_with("fc_norm.")
        || (pool.uses_fc_norm() && key.starts_with("norm."))
}

/// The classifier to fine-tune from the model folder `dir`: a model of architecture `cfg` (the
/// folder's architecture, with the data set's `num_classes` and the chosen `global_pool`)
/// whose encoder is the folder's, every key exactly, and whose head is fresh for
/// `cfg.num_classes` classes: weight trunc-normal std [`FINETUNE_HEAD_STD`] `[K, D]` drawn
/// from `seed`, bias 0 `[K]`; with average pooling `fc_norm` is fresh too (weight 1, bias 0).
///
/// The folder may have no head (`num_classes` 0, e.g. a `sweet pretrain --dense` encoder), a
/// head for another class count, and either pooling's norm: see [`fresh_for_finetune`] for
/// what starts fresh. Fails naming every key when another key is missing, unexpected or of
/// another shape, and when the folder's architecture (size, patch, channels, width, depth,
/// heads, MLP ratio) is not `cfg`'s.
pub fn load_for_finetune(
    dir: &Path,
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit, CheckpointError> {
    let folder = read_config(dir)?.vit();
    let as_target = VitConfig {
        num_classes: cfg.num_classes,
        global_pool: cfg.global_pool,
        ..folder.clone()
    };
    if &as_target != cfg {
        return Err(CheckpointError::FinetuneArch {
            path: dir.join(CONFIG_FILE),
            reason: format!("folder {folder:?}, fine-tuned {cfg:?}"),
        });
    }
    let path = dir.join(WEIGHTS_FILE);
    let mut tensors = read_weights(&path)?.tensors;
    let pool = cfg.global_pool;
    tensors.retain(|k, _| !unread_for_finetune(k, pool));
    let mut model = Vit::new(cfg, seed, device);
    if cfg.num_classes > 0 {
        let mut init = Init::new(seed ^ 0x4ead, device);
        model.head = Some(Linear {
            weight: Param::from_tensor(
                init.trunc_normal([cfg.num_classes, cfg.embed_dim], FINETUNE_HEAD_STD),
            ),
            bias: Param::from_tensor(init.zeros([cfg.num_classes])),
        });
    }
    load_named_where(model, &tensors, |k| !fresh_for_finetune(k, pool)).map_err(|source| {
        let hint = if pool.is_token() && source.missing.iter().any(|k| k.starts_with("norm.")) {
            " (the folder has no final norm: was it fine-tuned with average pooling? then pass --global-pool avg)".to_string()
        } else {
            String::new()
        };
        CheckpointError::FinetuneKeys { path, source, hint }
    })
}

/// The architecture of `folder`'s encoder on images of `img_size` cut into patches of `patch`,
/// without a classifier head: what a dense or generative model built on a folder's encoder
/// runs at.
pub fn encoder_config(folder: &VitConfig, img_size: ImgSize, patch: usize) -> VitConfig {
    VitConfig {
        img_size,
        patch_size: patch,
        num_classes: 0,
        ..folder.clone()
    }
}

/// The encoder `cfg` ([`encoder_config`]) describes: that of model folder `from` (any `sweet
/// init`, `pretrain`, `train` or timm folder; its classifier head dropped, its patch embedding
/// and position table resampled to `cfg`'s patch and image size by [`Vit::adapt`]), or a
/// random timm init from `seed`. Fails when the folder's encoder is not `cfg`'s up to image
/// size and patch.
pub fn load_encoder(
    from: Option<&Path>,
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit, CheckpointError> {
    let Some(dir) = from else {
        return Ok(Vit::new(cfg, seed, device));
    };
    let folder = read_config(dir)?.vit();
    if encoder_config(&folder, cfg.img_size, cfg.patch_size) != *cfg {
        return Err(CheckpointError::FinetuneArch {
            path: dir.join(CONFIG_FILE),
            reason: format!("folder {folder:?}, wanted the encoder {cfg:?}"),
        });
    }
    let encoder = VitConfig {
        num_classes: 0,
        ..folder
    };
    let vit = load_for_finetune(dir, &encoder, seed, device)?;
    vit.adapt(cfg.img_size, cfg.patch_size)
        .map_err(|source| CheckpointError::Arch {
            path: dir.join(CONFIG_FILE),
            source,
        })
}
