//! The template file, `template.safetensors`: G (`template`), the pre-training scalers
//! (`scalers.depth`, `scalers.inner`, `scalers.residual`) and the non-templated parameters under
//! timm's keys; the [`TemplateConfig`] and a format name/version in the metadata.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_vit::names::{load_named, named_tensors};
use sweet_vit::tensor_file::{self, TensorFileError, FORMAT_KEY, VERSION_KEY};
use sweet_vit::PosEmbedKind;

use crate::config::TemplateConfig;
use crate::TemplatedVit;

pub const TEMPLATE_FORMAT: &str = "sweet.template";
pub const TEMPLATE_FORMAT_VERSION: &str = "1";
pub const TEMPLATE_FILE: &str = "template.safetensors";
const CONFIG_KEY: &str = "template_config";
/// Metadata key saying what the position table is: `sincos` (MAE's fixed table, recomputed
/// for other grids and widths; files written before the key existed all hold one) or
/// `learned`.
const POS_EMBED_KEY: &str = "pos_embed";

#[derive(Debug, thiserror::Error)]
pub enum TemplateFileError {
    #[error(transparent)]
    File(#[from] TensorFileError),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Writes the template, its scalers and the non-templated parameters, atomically.
/// `model` is any ViT with the template's keys (`Vit<Tucker>`, or a pre-training's
/// `Vit<Generator>` holding a template: enum variants add no key segment).
pub fn save<G: burn::module::Module>(
    path: &Path,
    model: &sweet_vit::Vit<G>,
    cfg: &TemplateConfig,
) -> Result<(), TemplateFileError>
where
    sweet_vit::Vit<G>: burn::module::Module,
{
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), TEMPLATE_FORMAT.to_string()),
        (VERSION_KEY.to_string(), TEMPLATE_FORMAT_VERSION.to_string()),
        (
            CONFIG_KEY.to_string(),
            serde_json::to_string(cfg).expect("serializable"),
        ),
        (
            POS_EMBED_KEY.to_string(),
            match model.pos_kind {
                PosEmbedKind::SinCos => "sincos",
                PosEmbedKind::Learned => "learned",
            }
            .to_string(),
        ),
    ]);
    Ok(tensor_file::write(path, &named_tensors(model), &meta)?)
}

/// Reads a template file back into a model on `device`, with its configuration.
pub fn load(
    path: &Path,
    device: &Device,
) -> Result<(TemplatedVit, TemplateConfig), TemplateFileError> {
    let file = tensor_file::read(path)?;
    file.expect_format_version(path, TEMPLATE_FORMAT, &[TEMPLATE_FORMAT_VERSION])?;
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let cfg_json = file
        .metadata
        .get(CONFIG_KEY)
        .ok_or_else(|| bad(format!("no {CONFIG_KEY} in the metadata")))?;
    let cfg: TemplateConfig = serde_json::from_str(cfg_json).map_err(|e| bad(e.to_string()))?;
    let model = crate::templated_vit(&cfg, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = load_named(model, &file.tensors).map_err(|e| bad(e.to_string()))?;
    let model = match file.metadata.get(POS_EMBED_KEY).map(String::as_str) {
        None | Some("sincos") => model.with_sincos_pos_embed(),
        Some("learned") => model,
        Some(other) => return Err(bad(format!("unknown {POS_EMBED_KEY} kind {other:?}"))),
    };
    Ok((model, cfg))
}
