//! What a training task plugs into the epoch loop ([`crate::epochs::run_epochs`]): the loss of
//! a batch with its named counters, a hook after every optimizer step, and the record of an
//! epoch built from the epoch's totals.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use crate::error::TrainError;
use crate::observer::Observer;
use crate::run_state::Progress;

/// Named additive counts (e.g. `correct` predictions), summed over the steps of an epoch.
pub type Counters = BTreeMap<&'static str, f64>;

/// What one training step hands back to the loop.
pub struct StepOutput {
    /// The scalar to differentiate, `[1]`.
    pub loss: Tensor<1>,
    /// Samples in the batch: the weight of its loss in the epoch mean, and what images/s counts.
    pub samples: usize,
    /// This batch's counts (none for MAE; `correct` for classification).
    pub counters: Counters,
}

/// The training side of a finished (or, at `max_steps`, cut-short) epoch.
pub struct EpochTotals {
    /// Epochs completed, this one included (1-based).
    pub epoch: usize,
    /// Optimizer steps completed.
    pub step: usize,
    /// The learning rate of the epoch's last step.
    pub lr: f64,
    /// Samples seen in the epoch.
    pub samples: usize,
    /// Mean loss over the epoch's samples.
    pub train_loss: f64,
    /// Every counter summed over the epoch.
    pub sums: Counters,
    pub images_per_s: f64,
    /// When the epoch began (a record's `epoch_seconds` includes the evaluation).
    pub start: Instant,
}

impl EpochTotals {
    /// The epoch's sum of counter `name` (0 when no step counted it).
    pub fn sum(&self, name: &str) -> f64 {
        self.sums.get(name).copied().unwrap_or(0.0)
    }

    /// The epoch's sum of counter `name` per sample (e.g. `correct` gives the accuracy).
    pub fn mean(&self, name: &str) -> f64 {
        self.sum(name) / self.samples as f64
    }
}

/// A metrics record: written as one JSON line, then shown by the observer.
pub trait EpochRecord: Serialize {
    fn report(&self, observer: &mut dyn Observer);
}

/// One training task: what the loop does with a batch, after a step and at an epoch's end.
pub trait Task {
    /// What the optimizer updates (on an autodiff device).
    type Model: Module;
    /// What one step consumes: the [`crate::source::BatchSource`]'s batch.
    type Batch;
    /// The line written to `metrics.jsonl` per epoch.
    type Record: EpochRecord;

    /// Called once before the first step of this invocation, with the model and counters the
    /// run starts from (`progress` zero for a new run, the checkpoint's on resume), e.g. to
    /// start or reload an EMA of the weights. Nothing by default.
    fn begin_run(&mut self, _model: &Self::Model, _progress: Progress) -> Result<(), TrainError> {
        Ok(())
    }

    /// The loss of `batch` at optimizer step `step` (0-based, counted over the whole run).
    fn step(&mut self, model: &Self::Model, batch: Self::Batch, step: usize) -> StepOutput;

    /// Points [`Task::step`] at replica `rank` of a data-parallel run ([`crate::replicas`]),
    /// whose model lives on `device` (autodiff): where the step puts its batch tensors, and
    /// whose per-sample random streams it draws ([`crate::step_seed::replica_tag`]; rank 0
    /// draws what a one-device run draws). The loop leaves the task on rank 0 for everything
    /// else. Only called with more than one device; the default refuses.
    fn set_replica(&mut self, _rank: usize, _device: &Device) -> Result<(), TrainError> {
        Err(TrainError::Invalid(
            "this task does not run data-parallel: give --devices one device".into(),
        ))
    }

    /// Called after optimizer step `step` (the same index [`Task::step`] got) with the
    /// updated model, e.g. to update an EMA of the weights. Nothing by default.
    fn after_step(&mut self, _model: &Self::Model, _step: usize) {}

    /// The optimizer's parameter groups (per-key lr scale and weight-decay rule): timm's rule
    /// by default; fine-tuning sets layer-wise lr decay, scaler learning exempts the scalers.
    fn param_groups(&self) -> crate::param_groups::ParamGroups {
        crate::param_groups::ParamGroups::timm()
    }

    /// Evaluates `model` and builds the record of the epoch whose training `totals` gives.
    fn end_epoch(
        &mut self,
        model: &Self::Model,
        totals: EpochTotals,
    ) -> Result<Self::Record, TrainError>;

    /// Called once the run has taken all its steps (every epoch, or `max_steps`), after the
    /// last checkpoint, with the final model and counters; also when a resumed run finds
    /// nothing left to do (so a task whose final work was killed can finish it, and one that
    /// finished it should not redo it). Not called when the run stops early (`stop_after`).
    /// Nothing by default.
    fn end_run(&mut self, _model: &Self::Model, _progress: Progress) -> Result<(), TrainError> {
        Ok(())
    }
}
