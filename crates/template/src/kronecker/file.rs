//! The Kronecker template file, `kronecker.safetensors`: the templates (`templates.*`), the aux
//! net's scalers (`scalers.<l>.*`), the ordinary parts under timm's keys and the MAE decoder
//! under `decoder.*`; in the metadata the [`KroneckerConfig`], the [`Provenance`], a SHA-256 of
//! the templates and a format name/version. Written and read through the same code as the
//! template file ([`crate::file::write_pretrained`], [`crate::file::read_pretrained`]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::tensor_file::{self, FORMAT_KEY, VERSION_KEY};
use sweet_vit::Vit;

use super::{kronecker_vit, Kronecker, KroneckerConfig, KINDS};
use crate::file::{
    hash_tensors, read_pretrained, with_pos_kind, write_pretrained, Provenance, TemplateFileError,
};

pub const KRONECKER_FORMAT: &str = "sweet.kronecker";
pub const KRONECKER_FORMAT_VERSION: &str = "1";
pub const KRONECKER_FILE: &str = "kronecker.safetensors";
/// Metadata key of the [`KroneckerConfig`] (JSON).
const CONFIG_KEY: &str = "kronecker_config";
const HASH_KEY: &str = "templates_sha256";

/// A Kronecker template file read back.
pub struct KroneckerFile {
    /// The aux net: templates, its scalers and its parts.
    pub model: Vit<Kronecker>,
    pub cfg: KroneckerConfig,
    pub provenance: Provenance,
    /// SHA-256 of the templates ([`templates_hash`]), checked against the file's record.
    pub templates_sha256: String,
    /// The MAE decoder's tensors under the decoder's own keys.
    pub decoder: BTreeMap<String, HostTensor>,
}

/// The keys of the templates, the tensors every model size shares, in hashing order.
pub fn template_keys() -> [String; 4] {
    KINDS.map(|k| format!("templates.{}", k.name()))
}

/// SHA-256 (hex) of the four templates among `tensors` (qkv, proj, fc1, fc2; see
/// [`hash_tensors`]), or `None` when one is missing.
pub fn templates_hash(tensors: &BTreeMap<String, HostTensor>) -> Option<String> {
    let keys = template_keys();
    let ts: Option<Vec<&HostTensor>> = keys.iter().map(|k| tensors.get(k)).collect();
    ts.map(hash_tensors)
}

/// Writes the aux net `model` (any ViT with the Kronecker keys, e.g. a pre-training's
/// `Vit<Generator>`) with the MAE `decoder`'s tensors and the `provenance`, atomically.
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
    let tensors = named_tensors(model);
    let by_key: BTreeMap<String, HostTensor> = tensors.iter().cloned().collect();
    let hash = templates_hash(&by_key).ok_or_else(|| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason: "the model holds no Kronecker templates".into(),
    })?;
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), KRONECKER_FORMAT.to_string()),
        (
            VERSION_KEY.to_string(),
            KRONECKER_FORMAT_VERSION.to_string(),
        ),
        (
            CONFIG_KEY.to_string(),
            serde_json::to_string(cfg).expect("serializable"),
        ),
        (HASH_KEY.to_string(), hash),
    ]);
    write_pretrained(path, tensors, decoder, meta, provenance, model.pos_kind)
}

/// Reads a Kronecker template file back onto `device`. Another format or version, templates
/// whose hash differs from the recorded one, and missing metadata or keys are errors naming the
/// file.
pub fn load(path: &Path, device: &Device) -> Result<KroneckerFile, TemplateFileError> {
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let file = tensor_file::read(path)?;
    let file = read_pretrained(path, file, KRONECKER_FORMAT, &[KRONECKER_FORMAT_VERSION])?;
    let cfg: KroneckerConfig =
        serde_json::from_str(file.meta(path, CONFIG_KEY)?).map_err(|e| bad(e.to_string()))?;
    let recorded = file.meta(path, HASH_KEY)?.to_string();
    let templates_sha256 =
        templates_hash(&file.encoder).ok_or_else(|| bad("no Kronecker templates".into()))?;
    if templates_sha256 != recorded {
        return Err(bad(format!(
            "the templates' SHA-256 is {templates_sha256}, the file records {recorded}: the file \
             is damaged"
        )));
    }
    let model = kronecker_vit(&cfg, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = load_named(model, &file.encoder).map_err(|e| bad(e.to_string()))?;
    Ok(KroneckerFile {
        model: with_pos_kind(model, file.pos_kind),
        cfg,
        provenance: file.provenance,
        templates_sha256,
        decoder: file.decoder,
    })
}
