//! A classification run: its run file (`RUN/run.json`) and [`run_classification`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{labels_per_class, Split};
use sweet_vit::{checkpoint, Vit, VitConfig};

use super::{refuse_existing_run, write_run_file, DataConfig};
use crate::classify::{train, EpochMetrics, FinalMetrics, TrainConfig, Trained};
use crate::error::TrainError;
use crate::observer::Observer;

/// Everything needed to reproduce or resume a classification run, saved as `RUN/run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifyRun {
    #[serde(flatten)]
    pub dataset: DataConfig,
    /// Low-label runs: keep this many training images per class (seeded, stratified).
    pub labels_per_class: Option<usize>,
    /// Start from this model folder (timm keys) instead of random init: its encoder, with a
    /// fresh head for the data's classes ([`checkpoint::load_for_finetune`]).
    pub init_from: Option<PathBuf>,
    /// The trained model's architecture (with `init_from`: the folder's, with the data's
    /// `num_classes` and the chosen `global_pool`).
    pub vit: VitConfig,
    pub train: TrainConfig,
}

impl ClassifyRun {
    /// The run file's name in the run folder.
    pub const FILE: &'static str = "run.json";
}

/// What a classification run leaves: the trained model (autodiff device), the records of the
/// epochs run by this call, the final evaluation once the run has taken all its steps, and the
/// training set's per-channel normalization `[C]` (for the model folder).
pub struct ClassifyOutcome {
    pub model: Vit,
    pub history: Vec<EpochMetrics>,
    /// The whole test set scored at the end (as in `out/final.json`); `None` when the run
    /// stopped early (`stop_after`).
    pub final_metrics: Option<FinalMetrics>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Trains the classifier `run` describes on `device` in the run folder `out`. A new run
/// (`resume` false) refuses a folder holding a run and writes `out/run.json`; with `resume`,
/// model, optimizer and counters come from `out/checkpoint.safetensors` (a finished run does
/// nothing again). The model starts from `run.init_from` (its encoder, a fresh head) or from a
/// random init seeded by the run's seed. The run folder then holds `run.json`,
/// `metrics.jsonl` (one line per epoch), `checkpoint.safetensors` and, once every step is
/// taken, `final.json` ([`FinalMetrics`]).
pub fn run_classification(
    run: &ClassifyRun,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<ClassifyOutcome, TrainError> {
    run.train.validate()?;
    if !resume {
        refuse_existing_run(out)?;
    }
    let mut train_set = run.dataset.open(Split::Train)?;
    let test_set = run.dataset.open(Split::Test)?;
    if let Some(k) = run.labels_per_class {
        let idx = labels_per_class(
            &train_set.labels,
            train_set.num_classes,
            k,
            run.train.run.seed,
        );
        train_set = Arc::new(train_set.subset(&idx));
    }
    let device = device.clone().autodiff();
    let seed = run.train.run.seed;
    let model = match &run.init_from {
        // a resumed run reads every weight from its checkpoint
        Some(dir) if !resume => checkpoint::load_for_finetune(dir, &run.vit, seed, &device)?,
        _ => Vit::new(&run.vit, seed, &device),
    };
    if !resume {
        write_run_file(out, ClassifyRun::FILE, run)?;
    }
    let cfg = &run.train;
    let recipe = [
        cfg.layer_decay.map(|d| format!("layer decay {d}")),
        (cfg.drop_path > 0.0).then(|| format!("drop path {}", cfg.drop_path)),
        cfg.eval_images
            .map(|n| format!("{} test images per epoch", n.min(test_set.len))),
    ];
    let recipe: String = recipe
        .into_iter()
        .flatten()
        .map(|r| format!(", {r}"))
        .collect();
    observer.run_start(&format!(
        "{} train / {} test images, {} batches of {} per epoch, peak lr {:e}{recipe}, {} parameters",
        train_set.len,
        test_set.len,
        train_set.len / cfg.run.batch_size,
        cfg.run.batch_size,
        cfg.run.lr,
        model.num_params()
    ));
    let (mean, std) = (train_set.mean.clone(), train_set.std.clone());
    let Trained {
        model,
        history,
        final_metrics,
    } = train(cfg, model, train_set, test_set, out, resume, observer)?;
    Ok(ClassifyOutcome {
        model,
        history,
        final_metrics,
        mean,
        std,
    })
}
