//! Model folders: `model.safetensors` (timm keys, `[out, in]` layouts, f32, format name and
//! version in the metadata) + timm's `config.json`. Loads into
//! `timm.create_model(architecture, num_classes=..., **model_args)` with `strict=True`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::config::{ConfigError, TimmConfig, VitConfig};
use crate::model::Vit;
use crate::names::{load_named, named_tensors, KeyMismatch};
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

/// Writes only the weights, atomically.
pub fn save_weights(model: &Vit, cfg: &VitConfig, path: &Path) -> Result<(), CheckpointError> {
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
    let file = tensor_file::read(path)?;
    if file.metadata.get(FORMAT_KEY).map(String::as_str) == Some(MODEL_FORMAT) {
        file.expect_format_version(path, MODEL_FORMAT, MODEL_FORMAT_VERSIONS)?;
    }
    load_named(model, &file.tensors).map_err(|source| CheckpointError::Keys {
        path: path.into(),
        source,
    })
}

/// Writes a model folder: `model.safetensors` + `config.json` (each atomically).
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
