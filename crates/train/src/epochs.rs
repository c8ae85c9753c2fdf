//! The epoch loop every training task shares (classification in [`crate::classify`], MAE
//! pre-training in [`crate::pretrain`], and the tasks to come): batches from a
//! [`BatchSource`], lr warm-up + cosine per iteration, AdamW, an optional step limit, the
//! non-finite-loss stop, and at the end of every epoch one metrics line, then an atomic
//! checkpoint; once every step is taken, the task's [`Task::end_run`]. What differs between
//! tasks comes in as a [`Task`].

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::adamw::{AdamW, AdamWConfig};
use crate::error::TrainError;
use crate::metrics::{append_jsonl, truncate_jsonl, METRICS_FILE};
use crate::observer::Observer;
use crate::replicas::{ReplicaStep, Replicas, Split};
use crate::run_state::{self, Progress, CHECKPOINT_FILE};
use crate::schedule::Schedule;
use crate::source::BatchSource;
use crate::task::{Counters, EpochRecord, EpochTotals, Task};

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
    /// Stop the run after this many optimizer steps in all, cutting its last epoch short
    /// (which still gets its metrics line and checkpoint); the lr schedule then spans
    /// `min(epochs * batches, max_steps)` steps. `None`: every step of every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Stop (as if killed) after this many epochs of this invocation; for tests of resume.
    /// A setting of one invocation, so never part of a run file.
    #[serde(skip)]
    pub stop_after: Option<usize>,
    /// The (autodiff) devices of a data-parallel run, one replica each, the first the model's
    /// ([`crate::replicas`]); empty or one: the model's own device. A setting of one
    /// invocation (`--devices`), so never part of a run file: a run may resume on others.
    #[serde(skip)]
    pub replicas: Vec<Device>,
}

/// Runs the epochs of `task` on `source` in the run folder `out` (resuming it with `resume`)
/// and returns the model with the records of the epochs run by this call.
pub fn run_epochs<T: Task>(
    cfg: &LoopConfig,
    source: &impl BatchSource<Batch = T::Batch>,
    model: T::Model,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    task: &mut T,
) -> Result<(T::Model, Vec<T::Record>), TrainError>
where
    T::Batch: Split,
{
    let batches = source.batches_per_epoch();
    if batches == 0 {
        return Err(TrainError::Invalid(format!(
            "the training set has {} images, fewer than one batch of {}: lower --batch-size",
            source.samples(),
            cfg.batch_size
        )));
    }
    let total_steps = (cfg.epochs * batches).min(cfg.max_steps.unwrap_or(usize::MAX));
    let epochs = total_steps.div_ceil(batches);
    let schedule = Schedule {
        lr: cfg.lr,
        min_lr: cfg.min_lr,
        warmup_steps: (cfg.warmup_epochs * batches as f64).round() as usize,
        total_steps,
    };
    let mut opt = AdamW::new(cfg.optimizer.clone()).with_groups(task.param_groups());
    let checkpoint = out.join(CHECKPOINT_FILE);
    let metrics_path = out.join(METRICS_FILE);
    let (model, mut progress) = open_run(out, resume, model, &mut opt)?;
    let mut replicas = Replicas::new(model, opt, &cfg.replicas);
    replicas.prepare(task, cfg.batch_size)?;
    task.begin_run(replicas.first(), progress)?;
    let mut records = Vec::new();
    while progress.epoch < epochs
        && progress.step < total_steps
        && cfg.stop_after.is_none_or(|s| records.len() < s)
    {
        let epoch = progress.epoch;
        let steps = batches.min(total_steps - progress.step);
        observer.epoch_start(epoch, epochs, steps);
        let start = Instant::now();
        let (mut loss_sum, mut seen, mut sums) = (0.0, 0usize, Counters::new());
        let mut lr = schedule.lr_at(progress.step);
        for batch in source.epoch(epoch).take(steps) {
            lr = schedule.lr_at(progress.step);
            let ReplicaStep {
                loss: value,
                samples,
                counters,
            } = replicas
                .step(task, batch, progress.step, lr)
                .map_err(|loss| TrainError::NonFinite {
                    loss,
                    epoch,
                    step: progress.step,
                    checkpoint: checkpoint.clone(),
                })?;
            task.after_step(replicas.first(), progress.step);
            progress.step += 1;
            seen += samples;
            loss_sum += value * samples as f64;
            for (name, count) in counters {
                *sums.entry(name).or_default() += count;
            }
            observer.step(value, seen as f64 / start.elapsed().as_secs_f64());
        }
        let images_per_s = seen as f64 / start.elapsed().as_secs_f64();
        observer.evaluating();
        progress.epoch += 1;
        let totals = EpochTotals {
            epoch: progress.epoch,
            step: progress.step,
            lr,
            samples: seen,
            train_loss: loss_sum / seen as f64,
            sums,
            images_per_s,
            start,
        };
        replicas.check_equal()?;
        let record = task.end_epoch(replicas.first(), totals)?;
        // Metrics first: a kill between the two leaves an extra line that resume truncates.
        append_jsonl(&metrics_path, &record).map_err(|source| TrainError::Io {
            path: metrics_path.clone(),
            source,
        })?;
        run_state::save(
            &checkpoint,
            replicas.first(),
            replicas.first_opt(),
            progress,
        )?;
        record.report(observer);
        records.push(record);
    }
    if progress.step >= total_steps {
        task.end_run(replicas.first(), progress)?;
    }
    Ok((replicas.into_first(), records))
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
