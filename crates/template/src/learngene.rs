//! The learngene file, `learngene.safetensors`, of a TLEG auxiliary model pre-trained by MAE
//! (`sweet pretrain --generator linear-expansion`): the learngene under `learngene.base.*` and
//! `learngene.slope.*` (timm's block keys after the prefix, `[out, in]` layouts), the shared
//! parts under timm's keys (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `norm.*`), the MAE
//! decoder under `decoder.*`; in the metadata the auxiliary model's [`VitConfig`], the
//! [`Provenance`] (data, mean/std, pre-training settings, seconds, steps), a SHA-256 of the
//! learngene's tensors, and a format name/version. Written and read through the same code as
//! the template file ([`crate::file::write_pretrained`], [`crate::file::read_pretrained`]).
//!
//! [`expand_learngene`] makes the descendant: the learngene expanded to any depth at the
//! auxiliary model's width, the shared parts copied.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::tensor_file::{self, FORMAT_KEY, VERSION_KEY};
use sweet_vit::{Vit, VitConfig};

use crate::file::{
    hash_tensors, read_pretrained, with_pos_kind, write_pretrained, Provenance, TemplateFileError,
};
use crate::linear_expansion::{linear_expansion_vit, LinearExpansion};

pub const LEARNGENE_FORMAT: &str = "sweet.learngene";
pub const LEARNGENE_FORMAT_VERSION: &str = "1";
pub const LEARNGENE_FILE: &str = "learngene.safetensors";
/// The key prefix of the learngene's tensors (then `base.` or `slope.` and a timm block key).
pub const LEARNGENE_PREFIX: &str = "learngene.";
/// Metadata key of the auxiliary model's architecture (JSON [`VitConfig`]).
const CONFIG_KEY: &str = "vit_config";
const HASH_KEY: &str = "learngene_sha256";

/// A learngene file read back.
pub struct LearngeneFile {
    /// The auxiliary model: the learngene (expanding to the auxiliary depth) and the shared
    /// parts.
    pub model: Vit<LinearExpansion>,
    /// The auxiliary model's architecture (headless).
    pub vit: VitConfig,
    pub provenance: Provenance,
    /// SHA-256 of the learngene ([`learngene_hash`]), checked against the file's record.
    pub learngene_sha256: String,
    /// The MAE decoder's tensors under the decoder's own keys.
    pub decoder: BTreeMap<String, HostTensor>,
}

/// SHA-256 (hex) of the learngene among `tensors`: every tensor whose key starts with
/// [`LEARNGENE_PREFIX`], in key order (shape, then values; see [`hash_tensors`]).
pub fn learngene_hash<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a HostTensor)>,
) -> String {
    let mut genes: Vec<_> = tensors
        .into_iter()
        .filter(|(k, _)| k.starts_with(LEARNGENE_PREFIX))
        .collect();
    genes.sort_by(|a, b| a.0.cmp(b.0));
    hash_tensors(genes.into_iter().map(|(_, t)| t))
}

/// Writes the learngene file of the auxiliary `model` (architecture `vit`; any ViT with a
/// linear-expansion generator's keys, e.g. a pre-training's `Vit<Generator>`) with the MAE
/// `decoder`'s tensors and the `provenance`, atomically.
pub fn save<G: burn::module::Module>(
    path: &Path,
    model: &Vit<G>,
    vit: &VitConfig,
    provenance: &Provenance,
    decoder: &[(String, HostTensor)],
) -> Result<(), TemplateFileError>
where
    Vit<G>: burn::module::Module,
{
    let tensors = named_tensors(model);
    if !tensors.iter().any(|(k, _)| k.starts_with(LEARNGENE_PREFIX)) {
        return Err(TemplateFileError::Invalid {
            path: path.display().to_string(),
            reason: "the model holds no learngene".into(),
        });
    }
    let vit = VitConfig {
        num_classes: 0,
        ..vit.clone()
    };
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), LEARNGENE_FORMAT.to_string()),
        (
            VERSION_KEY.to_string(),
            LEARNGENE_FORMAT_VERSION.to_string(),
        ),
        (
            CONFIG_KEY.to_string(),
            serde_json::to_string(&vit).expect("serializable"),
        ),
        (
            HASH_KEY.to_string(),
            learngene_hash(tensors.iter().map(|(k, t)| (k, t))),
        ),
    ]);
    write_pretrained(path, tensors, decoder, meta, provenance, model.pos_kind)
}

/// Reads a learngene file back onto `device`. Another format or version, a learngene whose
/// hash differs from the recorded one, and missing metadata or keys are errors naming the file.
pub fn load(path: &Path, device: &Device) -> Result<LearngeneFile, TemplateFileError> {
    let bad = |reason: String| TemplateFileError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let file = tensor_file::read(path)?;
    let file = read_pretrained(path, file, LEARNGENE_FORMAT, &[LEARNGENE_FORMAT_VERSION])?;
    let vit: VitConfig =
        serde_json::from_str(file.meta(path, CONFIG_KEY)?).map_err(|e| bad(e.to_string()))?;
    let recorded = file.meta(path, HASH_KEY)?.to_string();
    let learngene_sha256 = learngene_hash(&file.encoder);
    if learngene_sha256 != recorded {
        return Err(bad(format!(
            "the learngene's SHA-256 is {learngene_sha256}, the file records {recorded}: the file is damaged"
        )));
    }
    let model = linear_expansion_vit(&vit, 0, device).map_err(|e| bad(e.to_string()))?;
    let model = load_named(model, &file.encoder).map_err(|e| bad(e.to_string()))?;
    Ok(LearngeneFile {
        model: with_pos_kind(model, file.pos_kind),
        vit,
        provenance: file.provenance,
        learngene_sha256,
        decoder: file.decoder,
    })
}

/// Why a learngene cannot make the asked descendant.
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error("a descendant needs at least one layer (--depth {0})")]
    Depth(usize),
    #[error(
        "linear expansion changes the depth only: this learngene's auxiliary model has width \
         {aux}, so it makes descendants of width {aux}; width {asked} needs its own auxiliary \
         model pre-trained at that width (`sweet pretrain --generator linear-expansion --width \
         {asked} ...`)"
    )]
    Width { aux: usize, asked: usize },
}

/// The descendant of `aux` (a learngene file's model) at `depth`: every block expanded from
/// the learngene (`p_i = base + (i / depth) * slope`), patch embedding, class token, position
/// embedding and final norm copied, as an ordinary dense headless model at the auxiliary
/// width. `width`, when given, must be that width.
pub fn expand_learngene(
    aux: &Vit<LinearExpansion>,
    depth: usize,
    width: Option<usize>,
) -> Result<Vit, ExpandError> {
    if depth == 0 {
        return Err(ExpandError::Depth(depth));
    }
    let d = aux.embed_dim();
    if let Some(w) = width.filter(|&w| w != d) {
        return Err(ExpandError::Width { aux: d, asked: w });
    }
    let descendant = Vit {
        generator: aux.generator.clone().with_depth(depth),
        patch_embed: aux.patch_embed.clone(),
        cls_token: aux.cls_token.clone(),
        pos_embed: aux.pos_embed.clone(),
        blocks: Vec::new(),
        norm: aux.norm.clone(),
        fc_norm: aux.fc_norm.clone(),
        head: None,
        num_heads: aux.num_heads,
        pos_kind: aux.pos_kind,
        grid: aux.grid,
        global_pool: aux.global_pool,
    };
    Ok(descendant.to_dense())
}
