//! Initializing a ViT of any depth from a learngene (TLEG, BASELINES.md section 3):
//! [`run_expansion`] expands the learngene of a `sweet pretrain --generator linear-expansion`
//! run to the target depth at the auxiliary model's width (`p_i = base + (i / L) * slope`,
//! norms and biases too), copies the shared parts (patch embedding, class token, position
//! embedding, final norm), adds a fresh head and writes an ordinary model folder:
//! `model.safetensors` + `config.json` (the learngene's mean/std) and `init.json`
//! ([`InitRecord`] with [`ExpansionInit`]). There is no per-target training step (as published).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_template::learngene::{self, expand_learngene};
use sweet_vit::{checkpoint, VitConfig};

use super::initialization::with_fresh_head;
use super::{finished_init, write_run_file, InitRecord, INIT_FILE};
use crate::error::TrainError;

/// Everything that defines an initialization by linear expansion, saved inside `OUT/init.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpandRun {
    /// The learngene file (`learngene.safetensors` of a `sweet pretrain --generator
    /// linear-expansion` run).
    pub learngene: PathBuf,
    /// Layers of the descendant (any L >= 1).
    pub depth: usize,
    /// The width asked for; `None`: the learngene's (the only width it makes).
    pub width: Option<usize>,
    /// Classes of the fresh head (0: no head).
    pub classes: usize,
    /// Seeds the fresh head.
    pub seed: u64,
}

/// Linear expansion's part of an [`InitRecord`]: the run and the learngene it expanded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpansionInit {
    pub run: ExpandRun,
    pub learngene_sha256: String,
}

/// Expands the learngene `run` names into the model folder `out` on `device` (a finished
/// folder is returned as it is).
pub fn run_expansion(
    run: &ExpandRun,
    out: &Path,
    device: &Device,
) -> Result<InitRecord<ExpansionInit>, TrainError> {
    if let Some(done) = finished_init(out)? {
        return Ok(done);
    }
    let started = Instant::now();
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(e.to_string());
    let file = learngene::load(&run.learngene, device).map_err(|e| invalid(&e))?;
    let encoder = expand_learngene(&file.model, run.depth, run.width)
        .map_err(|e| invalid(&format!("{}: {e}", run.learngene.display())))?;
    let export = VitConfig {
        depth: run.depth,
        num_classes: run.classes,
        ..file.vit.clone()
    };
    let dense = with_fresh_head(encoder, &export, run.seed, device)?;
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let provenance = file.provenance;
    checkpoint::save_model(
        &dense,
        &export,
        provenance.mean.clone(),
        provenance.std.clone(),
        out,
    )?;
    let record = InitRecord {
        method: ExpansionInit {
            run: run.clone(),
            learngene_sha256: file.learngene_sha256,
        },
        vit: export,
        parameters: dense.num_params(),
        provenance,
        mae_loss_before: None,
        mae_loss_after: None,
        scaler_seconds: 0.0,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_run_file(out, INIT_FILE, &record)?;
    Ok(record)
}
