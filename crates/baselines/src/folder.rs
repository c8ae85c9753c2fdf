//! The two ends every baseline shares: reading a source model folder, and writing the output
//! folder exactly as `sweet init sweet` does (`model.safetensors` with timm keys, `config.json`
//! with mean/std, a fresh head for the classes, then `init.json`, last: its presence means done).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use sha2::{Digest, Sha256};
use sweet_vit::checkpoint::{self, WEIGHTS_FILE};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

use crate::error::BaselineError;
use crate::record::{BaselineRecord, SourceModel, RECORD_FILE};

/// The size of a target model, as the command line gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSize {
    pub depth: usize,
    pub width: usize,
    /// `None`: width / the source's head dim.
    pub heads: Option<usize>,
    /// Classes of the fresh head (0: none).
    pub classes: usize,
}

/// A model folder read on the host: every tensor by timm key, checked against its config.
#[derive(Clone, Debug)]
pub struct Source {
    pub model: SourceModel,
    /// Normalization of the images the model was trained on (`config.json`).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub tensors: BTreeMap<String, HostTensor>,
}

/// Reads the model folder `dir` (any timm-layout `model.safetensors` + `config.json`, e.g.
/// `RUN/encoder` of `sweet pretrain --dense`): every key and shape must fit its config.
pub fn read_source(dir: &Path) -> Result<Source, BaselineError> {
    let (model, cfg) = checkpoint::load_model(dir, &Device::default())?;
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|source| BaselineError::Io { path, source })?;
    Ok(Source {
        model: SourceModel {
            path: dir.to_path_buf(),
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            vit: cfg.vit(),
        },
        mean: cfg.pretrained_cfg.mean.clone(),
        std: cfg.pretrained_cfg.std.clone(),
        tensors: named_tensors(&model).into_iter().collect(),
    })
}

/// Refuses an output folder that already holds a model or an initialization record.
pub fn refuse_existing(out: &Path) -> Result<(), BaselineError> {
    for file in [RECORD_FILE, WEIGHTS_FILE] {
        if out.join(file).exists() {
            return Err(BaselineError::Invalid(format!(
                "{} already holds a model ({file}): choose another --out",
                out.display()
            )));
        }
    }
    Ok(())
}

/// A model of architecture `cfg` holding `tensors` for every key but the head's, and a fresh
/// head at timm's init (weight trunc-normal .02 `[K, D]`, bias 0) drawn from `seed`, as
/// [`Vit::new`] draws it; no head for `cfg.num_classes == 0`. Keys of `tensors` under
/// `head.` are ignored.
pub fn with_fresh_head(
    tensors: &BTreeMap<String, HostTensor>,
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit, BaselineError> {
    let fresh = Vit::new(cfg, seed, device);
    let mut all: BTreeMap<String, HostTensor> = tensors
        .iter()
        .filter(|(k, _)| !k.starts_with("head."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, t) in named_tensors(&fresh) {
        if k.starts_with("head.") {
            all.insert(k, t);
        }
    }
    load_named(fresh, &all)
        .map_err(|e| BaselineError::Invalid(format!("the initialized model's keys: {e}")))
}

/// Writes the output folder `out`: `model.safetensors` and `config.json` (with `mean`/`std`),
/// then `record` as `init.json`. The record's `parameters` and `seconds` (since `started`,
/// the writing included) are filled in here.
pub fn write_folder(
    model: &Vit,
    cfg: &VitConfig,
    mean: Vec<f32>,
    std: Vec<f32>,
    out: &Path,
    mut record: BaselineRecord,
    started: Instant,
) -> Result<BaselineRecord, BaselineError> {
    std::fs::create_dir_all(out).map_err(|source| BaselineError::Io {
        path: PathBuf::from(out),
        source,
    })?;
    checkpoint::save_model(model, cfg, mean, std, out)?;
    record.parameters = model.num_params();
    record.seconds = started.elapsed().as_secs_f64();
    record.write(out)?;
    Ok(record)
}
