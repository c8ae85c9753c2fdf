//! An MAE pre-training run: its run file (`RUN/pretrain.json`) and [`run_pretraining`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::Split;
use sweet_template::file::{self as template_file, Provenance};
use sweet_template::kronecker::file as kronecker_file;
use sweet_template::learngene;
use sweet_template::GeneratorConfig;
use sweet_vit::checkpoint;
use sweet_vit::names::named_tensors;

use super::{refuse_existing_run, write_run_file, DataConfig};
use crate::error::TrainError;
use crate::observer::Observer;
use crate::param_groups::ParamGroups;
use crate::pretrain::{pretrain, run_totals, Mae, PretrainConfig, PretrainMetrics};

/// Everything needed to reproduce or resume a pre-training run, saved as `RUN/pretrain.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainRun {
    #[serde(flatten)]
    pub dataset: DataConfig,
    /// Use only the first N training images.
    pub train_images: Option<usize>,
    pub pretrain: PretrainConfig,
}

impl PretrainRun {
    /// The run file's name in the run folder.
    pub const FILE: &'static str = "pretrain.json";
}

/// What a pre-training run leaves: the MAE (autodiff device), the records of the epochs run
/// by this call, and the training set's per-channel normalization `[C]` (for a dense
/// encoder's model folder).
pub struct PretrainOutcome {
    pub model: Mae,
    pub history: Vec<PretrainMetrics>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Pre-trains the MAE `run` describes on `device` in the run folder `out`, never reading a
/// label. A new run (`resume` false) refuses a folder holding a run and writes
/// `out/pretrain.json`; with `resume`, model, optimizer and counters come from
/// `out/checkpoint.safetensors`.
pub fn run_pretraining(
    run: &PretrainRun,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<PretrainOutcome, TrainError> {
    if !resume {
        refuse_existing_run(out)?;
    }
    let mut train_set = run.dataset.open(Split::Train)?;
    if let Some(n) = run.train_images {
        train_set = Arc::new(train_set.take(n.min(train_set.len)));
    }
    let test_set = run.dataset.open(Split::Test)?;
    if !resume {
        write_run_file(out, PretrainRun::FILE, run)?;
    }
    let cfg = &run.pretrain;
    let generator = match &cfg.generator {
        GeneratorConfig::Dense => "dense weights".to_string(),
        GeneratorConfig::Tucker(t) => format!("a template, ranks {:?}, sws {}", t.ranks, t.sws),
        GeneratorConfig::Kronecker(k) => format!(
            "Kronecker templates, {} of {}x{} per weight type",
            k.templates, k.tile, k.tile
        ),
        GeneratorConfig::LinearExpansion => "a learngene (linear expansion)".to_string(),
    };
    observer.run_start(&format!(
        "MAE pre-training of {generator} on {} images (labels unused), {} per batch, lr {:e}, mask ratio {}",
        train_set.len, cfg.run.batch_size, cfg.run.lr, cfg.mask_ratio
    ));
    let model = Mae::new(cfg, &device.clone().autodiff())?;
    let (mean, std) = (train_set.mean.clone(), train_set.std.clone());
    let (model, history) = pretrain(
        cfg,
        model,
        train_set,
        test_set,
        out,
        resume,
        observer,
        ParamGroups::timm(),
    )?;
    Ok(PretrainOutcome {
        model,
        history,
        mean,
        std,
    })
}

/// Where a finished pre-training leaves its result in the run folder: the template file, the
/// learngene file, the Kronecker template file, or the dense encoder's model folder.
pub fn pretrain_output(run: &PretrainRun, out: &Path) -> PathBuf {
    match run.pretrain.generator {
        GeneratorConfig::Tucker(_) => out.join(template_file::TEMPLATE_FILE),
        GeneratorConfig::Kronecker(_) => out.join(kronecker_file::KRONECKER_FILE),
        GeneratorConfig::Dense => out.join("encoder"),
        GeneratorConfig::LinearExpansion => out.join(learngene::LEARNGENE_FILE),
    }
}

/// The [`Provenance`] of the finished pre-training `run` in `out`: data set, mean/std, the run
/// file, seconds and steps summed over the run's metrics lines.
fn provenance(
    run: &PretrainRun,
    out: &Path,
    done: &PretrainOutcome,
) -> Result<Provenance, TrainError> {
    let (pretrain_seconds, pretrain_steps) = run_totals(out)?;
    Ok(Provenance {
        data: run.dataset.data.clone(),
        mean: done.mean.clone(),
        std: done.std.clone(),
        pretraining: serde_json::to_value(run).expect("run files serialize"),
        pretrain_seconds,
        pretrain_steps,
    })
}

/// Writes the result of a finished pre-training in `out` and returns its path
/// ([`pretrain_output`]): a template, learngene or Kronecker template file, each with the MAE decoder and
/// the [`Provenance`] ([`provenance`]), or the dense encoder as a timm model folder.
pub fn write_pretrain_output(
    run: &PretrainRun,
    out: &Path,
    done: &PretrainOutcome,
) -> Result<PathBuf, TrainError> {
    let path = pretrain_output(run, out);
    let encoder = done.model.encoder.valid();
    match &run.pretrain.generator {
        GeneratorConfig::Tucker(tcfg) => {
            let decoder = named_tensors(&done.model.decoder.valid());
            template_file::save(
                &path,
                &encoder,
                tcfg,
                &provenance(run, out, done)?,
                &decoder,
            )
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        }
        GeneratorConfig::LinearExpansion => {
            let decoder = named_tensors(&done.model.decoder.valid());
            let vit = &run.pretrain.vit;
            learngene::save(&path, &encoder, vit, &provenance(run, out, done)?, &decoder)
                .map_err(|e| TrainError::Invalid(e.to_string()))?;
        }
        GeneratorConfig::Kronecker(kcfg) => {
            let decoder = named_tensors(&done.model.decoder.valid());
            kronecker_file::save(
                &path,
                &encoder,
                kcfg,
                &provenance(run, out, done)?,
                &decoder,
            )
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        }
        GeneratorConfig::Dense => {
            checkpoint::save_model(
                &encoder.to_dense(),
                &run.pretrain.vit,
                done.mean.clone(),
                done.std.clone(),
                &path,
            )?;
        }
    }
    Ok(path)
}
