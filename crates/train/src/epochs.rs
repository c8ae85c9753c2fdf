//! The epoch loop shared by classification ([`crate::classify`]) and MAE pre-training
//! ([`crate::pretrain`]): seeded loader, lr warm-up + cosine per iteration, AdamW, the
//! non-finite-loss stop, and at the end of every epoch one metrics line, then an atomic
//! checkpoint. What differs between the two (the loss of a batch, the evaluation, the metrics
//! record) comes in as closures.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet, Loader, LoaderConfig};

use crate::adamw::{AdamW, AdamWConfig};
use crate::classify::{Observer, TrainError, METRICS_FILE};
use crate::metrics::{append_jsonl, truncate_jsonl};
use crate::run_state::{self, Progress, CHECKPOINT_FILE};
use crate::schedule::Schedule;

/// The settings every training loop shares (classification and MAE pre-training): epochs,
/// batch, lr schedule, optimizer, seed and loading. `TrainConfig` and `PretrainConfig` hold it
/// `#[serde(flatten)]`, so `run.json` stays one flat object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (reached after warm-up, then half-cycle cosine to `min_lr`).
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_epochs: f64,
    pub optimizer: AdamWConfig,
    pub seed: u64,
    /// Data-loading threads.
    pub workers: usize,
    /// Stop (as if killed) after this many epochs of this invocation; for tests of resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_after: Option<usize>,
}

/// What one training step hands back to the loop.
pub(crate) struct StepLoss {
    /// The scalar to differentiate, `[1]`.
    pub loss: Tensor<1>,
    /// Correct predictions in the batch (0 where there are none to count).
    pub correct: usize,
}

/// The training side of a finished epoch, for the caller's metrics record.
pub(crate) struct EpochTotals {
    /// Epochs completed, this one included (1-based).
    pub epoch: usize,
    /// Optimizer steps completed.
    pub step: usize,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Mean loss over the epoch's images.
    pub train_loss: f64,
    /// Correct predictions over the epoch's images, as a fraction.
    pub train_acc: f64,
    pub images_per_s: f64,
    /// When the epoch began (the record's `epoch_seconds` includes the evaluation).
    pub start: Instant,
}

/// A metrics record: written as one JSON line, then shown by the observer.
pub(crate) trait EpochRecord: Serialize {
    fn report(&self, observer: &mut dyn Observer);
}

/// Runs the epochs of a run in `out` (resuming it with `resume`) and returns the model with
/// the records of the epochs run by this call. `step(model, batch, global_step)` gives the
/// loss of one batch; `end_epoch(model, totals)` evaluates and builds the epoch's record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_epochs<M: Module, R: EpochRecord>(
    cfg: &LoopConfig,
    augment: Augment,
    model: M,
    train_set: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    mut step: impl FnMut(&M, &Batch, usize) -> StepLoss,
    mut end_epoch: impl FnMut(&M, EpochTotals) -> Result<R, TrainError>,
) -> Result<(M, Vec<R>), TrainError> {
    let loader = Loader::new(
        train_set.clone(),
        LoaderConfig {
            batch_size: cfg.batch_size,
            shuffle: true,
            drop_last: true,
            seed: cfg.seed,
            workers: cfg.workers,
            augment,
        },
    );
    let batches = loader.num_batches();
    if batches == 0 {
        return Err(TrainError::Invalid(format!(
            "the training set has {} images, fewer than one batch of {}: lower --batch-size",
            train_set.len, cfg.batch_size
        )));
    }
    let schedule = Schedule {
        lr: cfg.lr,
        min_lr: cfg.min_lr,
        warmup_steps: (cfg.warmup_epochs * batches as f64).round() as usize,
        total_steps: cfg.epochs * batches,
    };
    let mut opt = AdamW::new(cfg.optimizer.clone());
    let checkpoint = out.join(CHECKPOINT_FILE);
    let metrics_path = out.join(METRICS_FILE);
    let (mut model, mut progress) = open_run(out, resume, model, &mut opt)?;
    let mut records = Vec::new();
    while progress.epoch < cfg.epochs && cfg.stop_after.is_none_or(|s| records.len() < s) {
        let epoch = progress.epoch;
        observer.epoch_start(epoch, cfg.epochs, batches);
        let start = Instant::now();
        let (mut loss_sum, mut right, mut seen) = (0.0, 0usize, 0usize);
        let mut lr = schedule.lr_at(progress.step);
        for batch in loader.epoch(epoch) {
            lr = schedule.lr_at(progress.step);
            let StepLoss { loss, correct } = step(&model, &batch, progress.step);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    loss: value,
                    epoch,
                    step: progress.step,
                    checkpoint,
                });
            }
            let grads = loss.backward();
            model = opt.step(model, &grads, lr).0;
            progress.step += 1;
            seen += batch.batch_size;
            right += correct;
            loss_sum += value * batch.batch_size as f64;
            observer.step(value, seen as f64 / start.elapsed().as_secs_f64());
        }
        let images_per_s = seen as f64 / start.elapsed().as_secs_f64();
        observer.evaluating();
        progress.epoch += 1;
        let totals = EpochTotals {
            epoch: progress.epoch,
            step: progress.step,
            lr,
            train_loss: loss_sum / seen as f64,
            train_acc: right as f64 / seen as f64,
            images_per_s,
            start,
        };
        let record = end_epoch(&model, totals)?;
        // Metrics first: a kill between the two leaves an extra line that resume truncates.
        append_jsonl(&metrics_path, &record).map_err(|source| TrainError::Io {
            path: metrics_path.clone(),
            source,
        })?;
        run_state::save(&checkpoint, &model, &opt, progress)?;
        record.report(observer);
        records.push(record);
    }
    Ok((model, records))
}

/// Starts or resumes the run in `out`: with `resume`, model, optimizer and counters come from
/// its checkpoint and metrics lines past that epoch are dropped; otherwise `out` is created and
/// any old metrics file removed.
fn open_run<M: Module>(
    out: &Path,
    resume: bool,
    model: M,
    opt: &mut AdamW,
) -> Result<(M, Progress), TrainError> {
    let metrics_path = out.join(METRICS_FILE);
    let io = |path: &Path, source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    if resume {
        let (model, progress) = run_state::load(&out.join(CHECKPOINT_FILE), model, opt)?;
        truncate_jsonl(&metrics_path, progress.epoch).map_err(|e| io(&metrics_path, e))?;
        Ok((model, progress))
    } else {
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        let _ = std::fs::remove_file(&metrics_path);
        Ok((model, Progress { epoch: 0, step: 0 }))
    }
}
