//! Training a [`DenseModel`] as a [`Task`] of the shared epoch loop: the loss of the task
//! (CenterNet's for detection, per-pixel cross-entropy for segmentation), stochastic depth in
//! the backbone, layer-wise lr decay, the test score (AP or mIoU) on the first `eval_images`
//! test images every epoch, and on the whole test set once at the end (`RUN/final.json`).
//!
//! No augmentation: boxes and maps would have to follow every shift and flip; generated
//! canvases give fresh layouts instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::DenseSet;
use sweet_train::epochs::LoopConfig;
use sweet_train::error::TrainError;
use sweet_train::metrics::{self, METRICS_FILE};
use sweet_train::observer::Observer;
use sweet_train::param_groups::ParamGroups;
use sweet_train::run_state::Progress;
use sweet_train::step_seed::{replica_tag, step_rng, TAG_DROP_PATH};
use sweet_train::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};
use sweet_vit::DropPathPlan;

use crate::batch;
use crate::center;
use crate::error::DenseError;
use crate::infer::{evaluate, DenseTask, Scores};
use crate::model::{param_groups, DenseModel};
use crate::pixels;

/// The settings of a dense run besides data and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseTrainConfig {
    #[serde(flatten)]
    pub run: LoopConfig,
    /// Layer-wise lr decay of the backbone in `(0, 1]`; the head learns at the full lr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
    /// Stochastic depth rate of the backbone's last block in `[0, 1)`.
    #[serde(default)]
    pub drop_path: f64,
    /// Test images scored every epoch (the first N); `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_images: Option<usize>,
}

impl DenseTrainConfig {
    /// Checks the settings that have a valid range (the error names the flag).
    pub fn validate(&self) -> Result<(), DenseError> {
        sweet_train::classify::check_recipe(self.layer_decay, self.drop_path, self.eval_images)
            .map_err(DenseError::Invalid)
    }
}

/// One epoch's line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseEpoch {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    pub train_loss: f64,
    /// Detection: the epoch's mean heatmap, size and offset terms; empty for segmentation.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub train_terms: std::collections::BTreeMap<String, f64>,
    /// The headline test score (AP@[.5:.95] or mIoU) on the epoch's test images.
    pub test_score: f64,
    pub test: Scores,
    pub epoch_seconds: f64,
    pub images_per_s: f64,
}

impl EpochRecord for DenseEpoch {
    fn report(&self, observer: &mut dyn Observer) {
        observer.epoch_line(&format!(
            "epoch {:>3}  train loss {:.4}  test {}  {:.1}s  {:.0} img/s",
            self.epoch,
            self.train_loss,
            self.test.summary(),
            self.epoch_seconds,
            self.images_per_s
        ));
    }
}

/// The whole test set scored at the end of a run (`RUN/final.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseFinal {
    pub task: DenseTask,
    pub test_score: f64,
    pub test: Scores,
    pub test_images: usize,
    pub epochs: usize,
    pub steps: usize,
    /// The sum of the epochs' `epoch_seconds` (training and per-epoch evaluation).
    pub train_seconds: f64,
}

/// The file of a finished run's last evaluation, in the run folder.
pub const FINAL_FILE: &str = "final.json";

/// What [`train`] leaves: the model (autodiff device), this call's records and, once every
/// step is taken, the final evaluation.
pub struct DenseTrained {
    pub model: DenseModel,
    pub history: Vec<DenseEpoch>,
    pub final_scores: Option<DenseFinal>,
}

/// The two splits of a run.
pub struct Splits {
    pub train: Arc<DenseSet>,
    pub test: Arc<DenseSet>,
}

/// Trains `model` (on an autodiff device) for `task` in the run folder `out` (resuming it with
/// `resume`).
pub fn train(
    cfg: &DenseTrainConfig,
    task: DenseTask,
    model: DenseModel,
    data: Splits,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<DenseTrained, DenseError> {
    cfg.validate()?;
    let Splits {
        train: train_set,
        test: test_set,
    } = data;
    if task == DenseTask::Segment && (train_set.semantic.is_none() || test_set.semantic.is_none()) {
        return Err(DenseError::Invalid(
            "segmentation needs semantic maps in both splits (a semantic/ or masks/ folder)".into(),
        ));
    }
    let final_path = out.join(FINAL_FILE);
    if !resume && final_path.exists() {
        std::fs::remove_file(&final_path).map_err(|source| DenseError::Io {
            path: final_path.clone(),
            source,
        })?;
    }
    let loader = sweet_train::source::training_loader(
        Arc::clone(&train_set.images),
        &cfg.run,
        sweet_data::Augment::none(),
    );
    let epoch_set = match cfg.eval_images {
        Some(n) if n < test_set.len() => Arc::new(test_set.take(n)),
        _ => Arc::clone(&test_set),
    };
    let mut fit = Fit {
        cfg,
        task,
        depth: model.depth(),
        train_set,
        epoch_set,
        test_set,
        device: model.backbone.cls_token.device(),
        rank: 0,
        out: out.to_path_buf(),
        final_scores: None,
    };
    let (model, history) =
        sweet_train::run_epochs(&cfg.run, &loader, model, out, resume, observer, &mut fit)?;
    Ok(DenseTrained {
        model,
        history,
        final_scores: fit.final_scores,
    })
}

/// Counter names of the detection loss terms (sums of `term x samples`).
const TERMS: [&str; 3] = ["heat", "size", "offset"];

struct Fit<'a> {
    cfg: &'a DenseTrainConfig,
    task: DenseTask,
    depth: usize,
    train_set: Arc<DenseSet>,
    epoch_set: Arc<DenseSet>,
    test_set: Arc<DenseSet>,
    device: Device,
    /// The data-parallel replica [`Task::step`] is for (0 on one device).
    rank: usize,
    out: PathBuf,
    final_scores: Option<DenseFinal>,
}

impl Fit<'_> {
    /// The scores of `model` on `set` (an evaluation error as the loop's error).
    fn score(&self, model: &DenseModel, set: &DenseSet) -> Result<Scores, Box<TrainError>> {
        let batch = self.cfg.run.batch_size.max(64);
        evaluate(&model.valid(), self.task, set, batch, self.cfg.run.workers)
            .map_err(|e| Box::new(TrainError::Invalid(format!("evaluation: {e}"))))
    }
}

impl Task for Fit<'_> {
    type Model = DenseModel;
    type Batch = sweet_data::Batch;
    type Record = DenseEpoch;

    fn step(&mut self, model: &DenseModel, b: sweet_data::Batch, step: usize) -> StepOutput {
        let images = batch::images(&b, &self.device);
        let drop = (self.cfg.drop_path > 0.0).then(|| {
            let mut rng = step_rng(
                self.cfg.run.seed,
                step,
                replica_tag(TAG_DROP_PATH, self.rank),
            );
            DropPathPlan::draw(self.cfg.drop_path, self.depth, b.batch_size, &mut rng)
        });
        let map = model.forward_with(images, drop.as_ref());
        let n = b.batch_size as f64;
        match self.task {
            DenseTask::Detect => {
                let [_, _, h, w] = map.dims();
                let objects = batch::objects(&self.train_set, &b.indices);
                let classes = self.train_set.classes.len();
                let t = center::targets(&objects, classes, [h, w], model.stride());
                let loss = center::loss(map, &t);
                let scalar = |x: &Tensor<1>| x.clone().into_scalar::<f32>() as f64 * n;
                let counters = Counters::from([
                    (TERMS[0], scalar(&loss.heat)),
                    (TERMS[1], scalar(&loss.size)),
                    (TERMS[2], scalar(&loss.offset)),
                ]);
                StepOutput {
                    loss: loss.total(),
                    samples: b.batch_size,
                    counters,
                }
            }
            DenseTask::Segment => {
                let labels = batch::semantic(&self.train_set, &b.indices);
                StepOutput {
                    loss: pixels::cross_entropy(map, &labels),
                    samples: b.batch_size,
                    counters: Counters::new(),
                }
            }
        }
    }

    fn param_groups(&self) -> ParamGroups {
        param_groups(self.cfg.layer_decay, self.depth)
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn end_epoch(&mut self, model: &DenseModel, t: EpochTotals) -> Result<DenseEpoch, TrainError> {
        let test = self.score(model, &self.epoch_set).map_err(|e| *e)?;
        let train_terms = t.sums.keys().map(|k| (k.to_string(), t.mean(k))).collect();
        Ok(DenseEpoch {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            train_loss: t.train_loss,
            train_terms,
            test_score: test.headline(),
            test,
            epoch_seconds: t.start.elapsed().as_secs_f64(),
            images_per_s: t.images_per_s,
        })
    }

    fn end_run(&mut self, model: &DenseModel, progress: Progress) -> Result<(), TrainError> {
        let path = self.out.join(FINAL_FILE);
        let done_at = |f: &DenseFinal| (f.epochs, f.steps);
        if let Some(done) = metrics::finished(&path, done_at, progress.epoch, progress.step) {
            self.final_scores = Some(done);
            return Ok(());
        }
        let test = self.score(model, &self.test_set).map_err(|e| *e)?;
        let scores = DenseFinal {
            task: self.task,
            test_score: test.headline(),
            test,
            test_images: self.test_set.len(),
            epochs: progress.epoch,
            steps: progress.step,
            train_seconds: metrics::train_seconds(&self.out.join(METRICS_FILE))?,
        };
        metrics::write_final(&path, &scores)?;
        self.final_scores = Some(scores);
        Ok(())
    }
}
