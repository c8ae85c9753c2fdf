//! The model folder a generation run leaves (`RUN/model/`): the EMA weights of the DiT
//! (`model.safetensors`, keys as [`crate::dit`] names them, format `sweet.dit`) and
//! `generate.json` (the architecture, the noise schedule, the sampler's defaults and the class
//! names), enough for `sweet generate sample|eval`.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_vit::names::{load_named, named_tensors};
use sweet_vit::tensor_file;

use crate::dit::{Dit, DitConfig};
use crate::error::GenerateError;
use crate::sampler::SamplerConfig;
use crate::schedule::{BetaSchedule, NoiseSchedule};

/// The weights in a generation model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// What the folder's model is, in a generation model folder.
pub const CARD_FILE: &str = "generate.json";
/// The `format` metadata of the weights, and its version.
pub const FORMAT: &str = "sweet.dit";
pub const FORMAT_VERSION: &str = "1";

/// `generate.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DitCard {
    pub dit: DitConfig,
    pub schedule: BetaSchedule,
    pub timesteps: usize,
    /// What `sweet generate sample` uses unless told otherwise.
    pub sampler: SamplerConfig,
    pub class_names: Vec<String>,
}

impl DitCard {
    pub fn noise_schedule(&self) -> NoiseSchedule {
        NoiseSchedule::new(self.schedule, self.timesteps)
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `model` with `card` as the model folder `dir` (each file atomically).
pub fn save(model: &Dit, card: &DitCard, dir: &Path) -> Result<(), GenerateError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(WEIGHTS_FILE);
    let metadata = BTreeMap::from([
        (tensor_file::FORMAT_KEY.to_string(), FORMAT.to_string()),
        (
            tensor_file::VERSION_KEY.to_string(),
            FORMAT_VERSION.to_string(),
        ),
    ]);
    tensor_file::write(&path, &named_tensors(model), &metadata)
        .map_err(|e| GenerateError::Invalid(format!("writing {}: {e}", path.display())))?;
    let json = serde_json::to_string_pretty(card).expect("serializable");
    let path = dir.join(CARD_FILE);
    tensor_file::atomic_write(&path, json.as_bytes())
        .map_err(|e| GenerateError::Invalid(format!("writing {}: {e}", path.display())))
}

/// Reads the weights file `path` (a model folder's, or an EMA snapshot of a run) into a model
/// of `cfg`'s architecture on `device`.
pub fn load_weights(path: &Path, cfg: &DitConfig, device: &Device) -> Result<Dit, GenerateError> {
    let file = tensor_file::read(path)
        .and_then(|f| {
            f.expect_format_version(path, FORMAT, &[FORMAT_VERSION])?;
            Ok(f)
        })
        .map_err(|e| GenerateError::Invalid(format!("reading {}: {e}", path.display())))?;
    load_named(Dit::new(cfg, 0, device), &file.tensors)
        .map_err(|e| GenerateError::Invalid(format!("{}: {e}", path.display())))
}

/// Reads a generation model folder onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<(Dit, DitCard), GenerateError> {
    let path = dir.join(CARD_FILE);
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let card: DitCard = serde_json::from_str(&text).map_err(|e| {
        GenerateError::Invalid(format!(
            "{}: {e} (is {} a folder written by `sweet generate train`?)",
            path.display(),
            dir.display()
        ))
    })?;
    let model = load_weights(&dir.join(WEIGHTS_FILE), &card.dit, device)?;
    Ok((model, card))
}
