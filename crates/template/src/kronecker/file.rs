//! The Kronecker template file, `kronecker.safetensors`: the templates (`templates.*`), the aux
//! net's scalers (`scalers.<l>.*`), the ordinary parts under timm's keys and the MAE decoder
//! under `decoder.*`; in the metadata the [`KroneckerConfig`], the [`Provenance`], a SHA-256 of
//! the templates and a format name/version. Written and read by the template file's code
//! ([`crate::file::save_kind`], [`crate::file::read_kind`]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_vit::names::HostTensor;
use sweet_vit::Vit;

use super::{kronecker_vit, Kronecker, KroneckerConfig};
use crate::file::{read_kind, save_kind, stored_model, FileKind, Provenance, TemplateFileError};

pub const KRONECKER_FORMAT: &str = "sweet.kronecker";
pub const KRONECKER_FORMAT_VERSION: &str = "1";
pub const KRONECKER_FILE: &str = "kronecker.safetensors";

/// The Kronecker template file's kind: the four templates are what every size shares.
pub const KRONECKER_FILE_KIND: FileKind = FileKind {
    format: KRONECKER_FORMAT,
    version: KRONECKER_FORMAT_VERSION,
    config_key: "kronecker_config",
    shared: &[
        "templates.qkv",
        "templates.proj",
        "templates.fc1",
        "templates.fc2",
    ],
};

/// A Kronecker template file read back.
pub struct KroneckerFile {
    /// The aux net: templates, its scalers and its parts.
    pub model: Vit<Kronecker>,
    pub cfg: KroneckerConfig,
    pub provenance: Provenance,
    /// SHA-256 of the templates (hex), checked against the file's record when read.
    pub template_sha256: String,
    /// The MAE decoder's tensors under the decoder's own keys.
    pub decoder: BTreeMap<String, HostTensor>,
}

/// Writes the aux net `model` (any ViT with the Kronecker keys, e.g. a pre-training's
/// `Vit<Generator>`) and the MAE `decoder`'s tensors, atomically.
pub fn save<G: burn::module::Module>(
    path: &Path,
    model: &Vit<G>,
    cfg: &KroneckerConfig,
    provenance: &Provenance,
    decoder: &[(String, HostTensor)],
) -> Result<(), TemplateFileError>
where
    Vit<G>: burn::module::Module,
{
    save_kind(path, &KRONECKER_FILE_KIND, model, cfg, provenance, decoder)
}

/// Reads a Kronecker template file back onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<KroneckerFile, TemplateFileError> {
    let stored = read_kind(path, &KRONECKER_FILE_KIND)?;
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let cfg: KroneckerConfig =
        serde_json::from_str(&stored.config).map_err(|e| bad(e.to_string()))?;
    let model = kronecker_vit(&cfg, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = stored_model(path, model, &stored)?;
    Ok(KroneckerFile {
        model,
        cfg,
        provenance: stored.provenance,
        template_sha256: stored.template_sha256,
        decoder: stored.decoder,
    })
}
