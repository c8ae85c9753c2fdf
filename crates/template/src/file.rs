//! The template file, `template.safetensors`: G (`template`), the pre-training scalers
//! (`scalers.depth`, `scalers.inner`, `scalers.residual`), the non-templated parameters under
//! timm's keys and the MAE decoder under `decoder.*` (scaler learning reuses it); in the
//! metadata the [`TemplateConfig`] (SWS mode included), the [`Provenance`] (the pre-training
//! data set's name and mean/std, which every model initialized from it records in its
//! `config.json`, and the pre-training settings), a SHA-256 of G, and a format name/version.
//!
//! Format 1 (before initialization existed) held neither decoder nor provenance: reading one
//! is an error that says to pre-train again.
//!
//! What every pre-trained generator's file shares (the learngene file of [`crate::learngene`]
//! too) is written and read here once: [`write_pretrained`] and [`read_pretrained`] (decoder
//! under `decoder.`, provenance, position-table kind, format name and version), and
//! [`hash_tensors`].

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::tensor_file::{self, TensorFileError, FORMAT_KEY, VERSION_KEY};
use sweet_vit::PosEmbedKind;

use crate::config::TemplateConfig;
use crate::TemplatedVit;

pub const TEMPLATE_FORMAT: &str = "sweet.template";
pub const TEMPLATE_FORMAT_VERSION: &str = "2";
pub const TEMPLATE_FILE: &str = "template.safetensors";
const CONFIG_KEY: &str = "template_config";
const PROVENANCE_KEY: &str = "provenance";
const HASH_KEY: &str = "template_sha256";
/// The key prefix of the MAE decoder's tensors.
pub const DECODER_PREFIX: &str = "decoder.";
/// Metadata key saying what the position table is: `sincos` (MAE's fixed table, recomputed
/// for other grids and widths) or `learned`.
const POS_EMBED_KEY: &str = "pos_embed";

/// Where and how a template was pre-trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The pre-training data set (e.g. `fashion-mnist`).
    pub data: String,
    /// Its per-channel normalization `[C]`, recorded in every initialized model's config.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The pre-training run file (`pretrain.json`: data, generator and SWS mode, decoder,
    /// mask ratio, optimizer and schedule), as JSON.
    pub pretraining: serde_json::Value,
    /// Seconds the pre-training took (its epochs' wall-clock sum, over every invocation).
    pub pretrain_seconds: f64,
    /// Optimizer steps of the pre-training.
    pub pretrain_steps: usize,
}

/// The shared contents of a pre-trained generator's file, read back by [`read_pretrained`].
pub struct PretrainedFile {
    /// Every metadata entry (the format's own keys included).
    pub metadata: BTreeMap<String, String>,
    pub provenance: Provenance,
    /// The encoder's tensors (generator and ViT parts), by key.
    pub encoder: BTreeMap<String, HostTensor>,
    /// The MAE decoder's tensors under the decoder's own keys (prefix removed).
    pub decoder: BTreeMap<String, HostTensor>,
    pub pos_kind: PosEmbedKind,
}

impl PretrainedFile {
    /// The metadata entry `key`, or an error naming the file.
    pub fn meta(&self, path: &Path, key: &str) -> Result<&str, TemplateFileError> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| invalid(path, format!("no {key} in the metadata")))
    }
}

fn invalid(path: &Path, reason: String) -> TemplateFileError {
    TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    }
}

/// `model` with the position table the file's metadata names (MAE's sin-cos table for files
/// that name none).
pub fn with_pos_kind<G: burn::module::Module>(
    model: sweet_vit::Vit<G>,
    kind: PosEmbedKind,
) -> sweet_vit::Vit<G> {
    match kind {
        PosEmbedKind::SinCos => model.with_sincos_pos_embed(),
        PosEmbedKind::Learned => model,
    }
}

/// Writes a pre-trained generator's file atomically: the `encoder` tensors, the MAE `decoder`'s
/// (stored under `decoder.`), and the metadata `meta` (the format name and version and the
/// format's own entries) plus the [`Provenance`] and the position-table kind `pos_kind`.
pub fn write_pretrained(
    path: &Path,
    mut encoder: Vec<(String, HostTensor)>,
    decoder: &[(String, HostTensor)],
    mut meta: BTreeMap<String, String>,
    provenance: &Provenance,
    pos_kind: PosEmbedKind,
) -> Result<(), TemplateFileError> {
    encoder.extend(
        decoder
            .iter()
            .map(|(k, t)| (format!("{DECODER_PREFIX}{k}"), t.clone())),
    );
    meta.insert(
        PROVENANCE_KEY.to_string(),
        serde_json::to_string(provenance).expect("serializable"),
    );
    meta.insert(
        POS_EMBED_KEY.to_string(),
        match pos_kind {
            PosEmbedKind::SinCos => "sincos",
            PosEmbedKind::Learned => "learned",
        }
        .to_string(),
    );
    Ok(tensor_file::write(path, &encoder, &meta)?)
}

/// Reads back what [`write_pretrained`] wrote in `file` (read from `path`), after checking its
/// format name and that its version is one of `versions`.
pub fn read_pretrained(
    path: &Path,
    file: tensor_file::TensorFile,
    format: &str,
    versions: &[&str],
) -> Result<PretrainedFile, TemplateFileError> {
    file.expect_format_version(path, format, versions)?;
    let provenance = file
        .metadata
        .get(PROVENANCE_KEY)
        .ok_or_else(|| invalid(path, format!("no {PROVENANCE_KEY} in the metadata")))?;
    let provenance: Provenance =
        serde_json::from_str(provenance).map_err(|e| invalid(path, e.to_string()))?;
    let pos_kind = match file.metadata.get(POS_EMBED_KEY).map(String::as_str) {
        None | Some("sincos") => PosEmbedKind::SinCos,
        Some("learned") => PosEmbedKind::Learned,
        Some(other) => {
            return Err(invalid(
                path,
                format!("unknown {POS_EMBED_KEY} kind {other:?}"),
            ))
        }
    };
    let mut encoder = BTreeMap::new();
    let mut decoder = BTreeMap::new();
    for (k, t) in file.tensors {
        match k.strip_prefix(DECODER_PREFIX) {
            Some(d) => decoder.insert(d.to_string(), t),
            None => encoder.insert(k, t),
        };
    }
    Ok(PretrainedFile {
        metadata: file.metadata,
        provenance,
        encoder,
        decoder,
        pos_kind,
    })
}

/// SHA-256 (hex) of tensors, in the order given: each one's shape (u64 little-endian), then
/// its f32 values little-endian.
pub fn hash_tensors<'a>(tensors: impl IntoIterator<Item = &'a HostTensor>) -> String {
    let mut h = Sha256::new();
    for t in tensors {
        for d in &t.shape {
            h.update((*d as u64).to_le_bytes());
        }
        for v in &t.values {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A template file read back.
pub struct TemplateFile {
    /// G, the pre-training scalers and the ViT parts.
    pub model: TemplatedVit,
    pub cfg: TemplateConfig,
    pub provenance: Provenance,
    /// SHA-256 of G (hex), checked against the file's record when read.
    pub template_sha256: String,
    /// The MAE decoder's tensors under the decoder's own keys (prefix removed).
    pub decoder: BTreeMap<String, HostTensor>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateFileError {
    #[error(transparent)]
    File(#[from] TensorFileError),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// SHA-256 (hex) of G `[r1, r2, r3]`: its shape, then its f32 values little-endian.
pub fn template_hash(g: &HostTensor) -> String {
    hash_tensors([g])
}

/// Writes the template, its scalers, the non-templated parameters and the MAE `decoder`'s
/// tensors (its own keys; stored under `decoder.`), atomically. `model` is any ViT with the
/// template's keys (`Vit<Tucker>`, or a pre-training's `Vit<Generator>` holding a template:
/// enum variants add no key segment).
pub fn save<G: burn::module::Module>(
    path: &Path,
    model: &sweet_vit::Vit<G>,
    cfg: &TemplateConfig,
    provenance: &Provenance,
    decoder: &[(String, HostTensor)],
) -> Result<(), TemplateFileError>
where
    sweet_vit::Vit<G>: burn::module::Module,
{
    let tensors = named_tensors(model);
    let g = tensors
        .iter()
        .find(|(k, _)| k == "template")
        .map(|(_, t)| template_hash(t))
        .ok_or_else(|| invalid(path, "the model holds no template".into()))?;
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), TEMPLATE_FORMAT.to_string()),
        (VERSION_KEY.to_string(), TEMPLATE_FORMAT_VERSION.to_string()),
        (
            CONFIG_KEY.to_string(),
            serde_json::to_string(cfg).expect("serializable"),
        ),
        (HASH_KEY.to_string(), g),
    ]);
    write_pretrained(path, tensors, decoder, meta, provenance, model.pos_kind)
}

/// Reads a template file back onto `device`: the model, its configuration, provenance and
/// decoder tensors. Format 1 files, a G whose hash differs from the recorded one, and missing
/// metadata are errors naming the file.
pub fn load(path: &Path, device: &Device) -> Result<TemplateFile, TemplateFileError> {
    let file = tensor_file::read(path)?;
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    if file.metadata.get(FORMAT_KEY).map(String::as_str) == Some(TEMPLATE_FORMAT)
        && file.metadata.get(VERSION_KEY).map(String::as_str) == Some("1")
    {
        return Err(bad(
            "a template of format_version 1 (written before initialization existed) holds \
             neither the MAE decoder nor the data normalization that `sweet init sweet` needs: \
             pre-train it again with this sweet (`sweet pretrain ...`)"
                .into(),
        ));
    }
    let file = read_pretrained(path, file, TEMPLATE_FORMAT, &[TEMPLATE_FORMAT_VERSION])?;
    let cfg: TemplateConfig =
        serde_json::from_str(file.meta(path, CONFIG_KEY)?).map_err(|e| bad(e.to_string()))?;
    let recorded = file.meta(path, HASH_KEY)?.to_string();
    let g = file
        .encoder
        .get("template")
        .ok_or_else(|| bad("no tensor `template` (G)".into()))?;
    let template_sha256 = template_hash(g);
    if template_sha256 != recorded {
        return Err(bad(format!(
            "G's SHA-256 is {template_sha256}, the file records {recorded}: the file is damaged"
        )));
    }
    let model = crate::templated_vit(&cfg, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = load_named(model, &file.encoder).map_err(|e| bad(e.to_string()))?;
    Ok(TemplateFile {
        model: with_pos_kind(model, file.pos_kind),
        cfg,
        provenance: file.provenance,
        template_sha256,
        decoder: file.decoder,
    })
}
