//! The model folder a dense run leaves (`RUN/model/`): the backbone as an ordinary timm model
//! folder (`model.safetensors` + `config.json`, no classifier head, so `timm.create_model(...,
//! num_classes=0)` loads it unchanged), plus the head (`head.safetensors`, keys under `head.`)
//! and `dense.json` (task, head shape, class names).

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_vit::checkpoint::{self, save_model, WEIGHTS_FILE};
use sweet_vit::names::{load_named, named_tensors};
use sweet_vit::{tensor_file, Vit, VitConfig};

use crate::error::DenseError;
use crate::head::{HeadConfig, TokenHead};
use crate::infer::DenseTask;
use crate::model::DenseModel;

/// The head's weights in a dense model folder.
pub const HEAD_FILE: &str = "head.safetensors";
/// What the folder's model does, in a dense model folder.
pub const DENSE_FILE: &str = "dense.json";
/// The `format` metadata of `head.safetensors`, and its version.
pub const HEAD_FORMAT: &str = "sweet.dense-head";
pub const HEAD_FORMAT_VERSION: &str = "1";

/// `dense.json`: what turns the backbone and head back into a [`DenseModel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseCard {
    pub task: DenseTask,
    pub head: HeadConfig,
    /// Object class names (class `k` is COCO category `category_ids[k]`).
    pub classes: Vec<String>,
    pub category_ids: Vec<u64>,
}

/// Writes `model` as a dense model folder `dir` (each file atomically).
pub fn save(
    model: &DenseModel,
    backbone: &VitConfig,
    card: &DenseCard,
    mean: Vec<f32>,
    std: Vec<f32>,
    dir: &Path,
) -> Result<(), DenseError> {
    std::fs::create_dir_all(dir).map_err(|source| DenseError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    save_model(&model.backbone, backbone, mean, std, dir)?;
    let head: Vec<_> = named_tensors(&model.head)
        .into_iter()
        .map(|(k, t)| (format!("head.{k}"), t))
        .collect();
    let path = dir.join(HEAD_FILE);
    let metadata = std::collections::BTreeMap::from([
        (tensor_file::FORMAT_KEY.to_string(), HEAD_FORMAT.to_string()),
        (
            tensor_file::VERSION_KEY.to_string(),
            HEAD_FORMAT_VERSION.to_string(),
        ),
    ]);
    tensor_file::write(&path, &head, &metadata)
        .map_err(|e| DenseError::Invalid(format!("writing {}: {e}", path.display())))?;
    let json = serde_json::to_string_pretty(card).expect("serializable");
    let path = dir.join(DENSE_FILE);
    tensor_file::atomic_write(&path, json.as_bytes())
        .map_err(|e| DenseError::Invalid(format!("writing {}: {e}", path.display())))?;
    Ok(())
}

/// Reads a dense model folder onto `device`.
pub fn load(dir: &Path, device: &Device) -> Result<(DenseModel, DenseCard, VitConfig), DenseError> {
    let path = dir.join(DENSE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| DenseError::Io {
        path: path.clone(),
        source,
    })?;
    let card: DenseCard = serde_json::from_str(&text).map_err(|e| {
        DenseError::Invalid(format!(
            "{}: {e} (is {} a folder written by `sweet detect|segment train`?)",
            path.display(),
            dir.display()
        ))
    })?;
    let cfg = checkpoint::read_config(dir)?.vit();
    let backbone = checkpoint::load_weights(Vit::new(&cfg, 0, device), &dir.join(WEIGHTS_FILE))?;
    let path = dir.join(HEAD_FILE);
    let file = tensor_file::read(&path)
        .and_then(|f| {
            f.expect_format_version(&path, HEAD_FORMAT, &[HEAD_FORMAT_VERSION])?;
            Ok(f)
        })
        .map_err(|e| DenseError::Invalid(format!("reading {}: {e}", path.display())))?;
    let tensors = file
        .tensors
        .into_iter()
        .filter_map(|(k, t)| k.strip_prefix("head.").map(|k| (k.to_string(), t)))
        .collect();
    let head = TokenHead::new(&card.head, &mut sweet_vit::init::Init::new(0, device));
    let head = load_named(head, &tensors)
        .map_err(|e| DenseError::Invalid(format!("{}: {e}", path.display())))?;
    Ok((DenseModel { backbone, head }, card, cfg))
}
