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
//! Other template files (the Kronecker templates of [`crate::kronecker::file`]) are written and
//! read by the same code ([`save_kind`], [`read_kind`]) under their own [`FileKind`].

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
    shared_hash(&[g])
}

/// SHA-256 (hex) of the shared tensors of a file, in order: each one's shape, then its f32
/// values little-endian (for one tensor, [`template_hash`]).
pub fn shared_hash(tensors: &[&HostTensor]) -> String {
    let mut h = Sha256::new();
    for g in tensors {
        for d in &g.shape {
            h.update((*d as u64).to_le_bytes());
        }
        for v in &g.values {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What tells one kind of pre-trained template file from another: its format name and
/// version, the metadata key of its generator config, and the keys of the tensors every model
/// size shares (hashed into `template_sha256`, frozen when a target is initialized).
pub struct FileKind {
    pub format: &'static str,
    pub version: &'static str,
    pub config_key: &'static str,
    pub shared: &'static [&'static str],
}

/// The SWEET template file.
pub const TUCKER_FILE: FileKind = FileKind {
    format: TEMPLATE_FORMAT,
    version: TEMPLATE_FORMAT_VERSION,
    config_key: CONFIG_KEY,
    shared: &["template"],
};

/// A template file's contents before its model is built: encoder and decoder tensors, the
/// generator config (JSON), provenance, the checked hash of the shared tensors and the kind of
/// position table.
pub struct StoredFile {
    pub encoder: BTreeMap<String, HostTensor>,
    pub decoder: BTreeMap<String, HostTensor>,
    pub config: String,
    pub provenance: Provenance,
    pub template_sha256: String,
    pub pos_kind: PosEmbedKind,
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
    save_kind(path, &TUCKER_FILE, model, cfg, provenance, decoder)
}

/// Writes a template file of `kind` (see [`save`]): `model`'s tensors, the decoder's under
/// `decoder.`, and in the metadata the format, `cfg`, the provenance, the hash of the shared
/// tensors and the position table's kind.
pub fn save_kind<G: burn::module::Module, C: Serialize>(
    path: &Path,
    kind: &FileKind,
    model: &sweet_vit::Vit<G>,
    cfg: &C,
    provenance: &Provenance,
    decoder: &[(String, HostTensor)],
) -> Result<(), TemplateFileError>
where
    sweet_vit::Vit<G>: burn::module::Module,
{
    let mut tensors = named_tensors(model);
    let shared: Option<Vec<&HostTensor>> = kind
        .shared
        .iter()
        .map(|s| tensors.iter().find(|(k, _)| k == s).map(|(_, t)| t))
        .collect();
    let g = shared
        .map(|ts| shared_hash(&ts))
        .ok_or_else(|| TemplateFileError::Invalid {
            path: path.display().to_string(),
            reason: format!("the model holds no {}", kind.shared.join(", ")),
        })?;
    tensors.extend(
        decoder
            .iter()
            .map(|(k, t)| (format!("{DECODER_PREFIX}{k}"), t.clone())),
    );
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), kind.format.to_string()),
        (VERSION_KEY.to_string(), kind.version.to_string()),
        (
            kind.config_key.to_string(),
            serde_json::to_string(cfg).expect("serializable"),
        ),
        (
            PROVENANCE_KEY.to_string(),
            serde_json::to_string(provenance).expect("serializable"),
        ),
        (HASH_KEY.to_string(), g),
        (
            POS_EMBED_KEY.to_string(),
            match model.pos_kind {
                PosEmbedKind::SinCos => "sincos",
                PosEmbedKind::Learned => "learned",
            }
            .to_string(),
        ),
    ]);
    Ok(tensor_file::write(path, &tensors, &meta)?)
}

/// Reads a template file of `kind`: another format or version, a shared tensor whose hash
/// differs from the recorded one, and missing metadata are errors naming the file.
pub fn read_kind(path: &Path, kind: &FileKind) -> Result<StoredFile, TemplateFileError> {
    let file = tensor_file::read(path)?;
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    if kind.format == TEMPLATE_FORMAT
        && file.metadata.get(FORMAT_KEY).map(String::as_str) == Some(TEMPLATE_FORMAT)
        && file.metadata.get(VERSION_KEY).map(String::as_str) == Some("1")
    {
        return Err(bad(
            "a template of format_version 1 (written before initialization existed) holds \
             neither the MAE decoder nor the data normalization that `sweet init sweet` needs: \
             pre-train it again with this sweet (`sweet pretrain ...`)"
                .into(),
        ));
    }
    file.expect_format_version(path, kind.format, &[kind.version])?;
    let meta = |key: &str| {
        file.metadata
            .get(key)
            .ok_or_else(|| bad(format!("no {key} in the metadata")))
    };
    let config = meta(kind.config_key)?.clone();
    let provenance: Provenance =
        serde_json::from_str(meta(PROVENANCE_KEY)?).map_err(|e| bad(e.to_string()))?;
    let recorded = meta(HASH_KEY)?.clone();
    let pos_kind = match file.metadata.get(POS_EMBED_KEY).map(String::as_str) {
        None | Some("sincos") => PosEmbedKind::SinCos,
        Some("learned") => PosEmbedKind::Learned,
        Some(other) => return Err(bad(format!("unknown {POS_EMBED_KEY} kind {other:?}"))),
    };
    let mut encoder = BTreeMap::new();
    let mut decoder = BTreeMap::new();
    for (k, t) in file.tensors {
        match k.strip_prefix(DECODER_PREFIX) {
            Some(d) => decoder.insert(d.to_string(), t),
            None => encoder.insert(k, t),
        };
    }
    let shared = kind
        .shared
        .iter()
        .map(|s| {
            encoder
                .get(*s)
                .ok_or_else(|| bad(format!("no tensor `{s}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let template_sha256 = shared_hash(&shared);
    if template_sha256 != recorded {
        return Err(bad(format!(
            "the SHA-256 of {} is {template_sha256}, the file records {recorded}: the file is \
             damaged",
            kind.shared.join(", ")
        )));
    }
    Ok(StoredFile {
        encoder,
        decoder,
        config,
        provenance,
        template_sha256,
        pos_kind,
    })
}

/// Builds a file's model: `fresh` (the right shapes) loaded with the stored encoder tensors,
/// with the stored kind of position table.
pub fn stored_model<G: burn::module::Module>(
    path: &Path,
    fresh: sweet_vit::Vit<G>,
    stored: &StoredFile,
) -> Result<sweet_vit::Vit<G>, TemplateFileError>
where
    sweet_vit::Vit<G>: burn::module::Module,
{
    let model = load_named(fresh, &stored.encoder).map_err(|e| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(match stored.pos_kind {
        PosEmbedKind::SinCos => model.with_sincos_pos_embed(),
        PosEmbedKind::Learned => model,
    })
}

/// Reads a template file back onto `device`: the model, its configuration, provenance and
/// decoder tensors. Format 1 files, a G whose hash differs from the recorded one, and missing
/// metadata are errors naming the file.
pub fn load(path: &Path, device: &Device) -> Result<TemplateFile, TemplateFileError> {
    let stored = read_kind(path, &TUCKER_FILE)?;
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let cfg: TemplateConfig =
        serde_json::from_str(&stored.config).map_err(|e| bad(e.to_string()))?;
    let model = crate::templated_vit(&cfg, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = stored_model(path, model, &stored)?;
    Ok(TemplateFile {
        model,
        cfg,
        provenance: stored.provenance,
        template_sha256: stored.template_sha256,
        decoder: stored.decoder,
    })
}
