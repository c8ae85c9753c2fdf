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

/// The head count of a target of width `width`: `heads` if given (it must divide the width),
/// else `width / head_dim` with the source's head dim.
pub fn target_heads(
    source: &VitConfig,
    width: usize,
    heads: Option<usize>,
) -> Result<usize, BaselineError> {
    let h = match heads {
        Some(h) => h,
        None => {
            let hd = source.head_dim();
            if width == 0 || !width.is_multiple_of(hd) {
                return Err(BaselineError::Invalid(format!(
                    "--width {width} is not a multiple of the source's head dim {hd}: pick a \
                     multiple of {hd}, or give --heads"
                )));
            }
            width / hd
        }
    };
    if h == 0 || !width.is_multiple_of(h) {
        return Err(BaselineError::Invalid(format!(
            "--heads {h} does not divide --width {width}"
        )));
    }
    Ok(h)
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
    Ok(Source {
        model: describe_source(dir, cfg.vit())?,
        mean: cfg.pretrained_cfg.mean.clone(),
        std: cfg.pretrained_cfg.std.clone(),
        tensors: named_tensors(&model).into_iter().collect(),
    })
}

/// The model folder `dir` of architecture `vit`, with the SHA-256 of its weights file.
pub fn describe_source(dir: &Path, vit: VitConfig) -> Result<SourceModel, BaselineError> {
    let path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).map_err(|source| BaselineError::Io { path, source })?;
    Ok(SourceModel {
        path: dir.to_path_buf(),
        sha256: format!("{:x}", Sha256::digest(&bytes)),
        vit,
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

/// A model of architecture `cfg` holding `tensors` for every key but the head's (and
/// `fc_norm`'s), with a fresh head at timm's init (weight trunc-normal .02 `[K, D]`, bias 0)
/// drawn from `seed` as [`Vit::new`] draws it (no head for `cfg.num_classes == 0`), and with
/// average pooling a fresh `fc_norm` (1, 0). Keys of `tensors` under `head.` and `fc_norm.`
/// are ignored.
pub fn with_fresh_head(
    tensors: &BTreeMap<String, HostTensor>,
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit, BaselineError> {
    let fresh = Vit::new(cfg, seed, device);
    let mut all: BTreeMap<String, HostTensor> = tensors
        .iter()
        .filter(|(k, _)| !fresh_part(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, t) in named_tensors(&fresh) {
        if fresh_part(&k) {
            all.insert(k, t);
        }
    }
    load_named(fresh, &all)
        .map_err(|e| BaselineError::Invalid(format!("the initialized model's keys: {e}")))
}

/// The parts every baseline starts fresh: the head, and `fc_norm` (average pooling).
fn fresh_part(key: &str) -> bool {
    key.starts_with("head.") || key.starts_with("fc_norm.")
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
