//! Supervised classification (training from scratch and MAE's fine-tuning recipe alike):
//! AdamW with parameter groups (optionally layer-wise lr decay), warm-up + cosine per
//! iteration, global-norm clipping, label smoothing, stochastic depth, evaluation every epoch
//! (on the first `eval_images` test images), one JSON line of metrics per epoch, an atomic
//! checkpoint every epoch, `resume` that continues a killed run exactly, and once the run has
//! taken all its steps one evaluation on the whole test set (`RUN/final.json`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet};
use sweet_vit::{DropPathPlan, Vit};

use crate::batch::batch_tensors;
use crate::epochs::{run_epochs, LoopConfig};
use crate::error::TrainError;
use crate::loss::{correct, cross_entropy};
use crate::metrics::{self, METRICS_FILE};
use crate::observer::Observer;
use crate::param_groups::ParamGroups;
use crate::run_state::Progress;
use crate::source::{evaluation_loader, training_loader};
use crate::step_seed::{replica_tag, step_rng, TAG_DROP_PATH};
use crate::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};

/// Everything that defines a classification run except the data and the model's weights.
///
/// The fields after `hflip` came with fine-tuning; each is left out of a run file when unset,
/// so files written before them read, and write back, unchanged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    #[serde(flatten)]
    pub run: LoopConfig,
    pub label_smoothing: f64,
    /// Random shifts: pad each side with this many black (pixel 0) pixels, crop back at a
    /// random offset (0 = off).
    pub pad_crop: usize,
    pub hflip: bool,
    /// Layer-wise lr decay in `(0, 1]` (MAE fine-tuning: 0.75): parameter groups
    /// [`ParamGroups::layer_decay`]. `None`: every parameter at the full lr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_decay: Option<f64>,
    /// Stochastic depth rate in `[0, 1)` of the last block (timm's linspace from 0 over the
    /// blocks; MAE fine-tuning: 0.1), masks drawn from (seed, step). 0: off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub drop_path: f64,
    /// Score only the first N test images at the end of each epoch (the test files of MNIST,
    /// Fashion-MNIST and CIFAR-10 are not sorted by class, so their first N are a fair
    /// sample; an imagefolder's test images are listed class by class, so pass a number that
    /// covers them all there). The whole test set is scored once at the end of the run
    /// (`RUN/final.json`) either way. `None`: the whole test set every epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_images: Option<usize>,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl TrainConfig {
    /// Checks the settings that have a valid range (the error names the flag).
    pub fn validate(&self) -> Result<(), TrainError> {
        check_recipe(self.layer_decay, self.drop_path, self.eval_images)
            .map_err(TrainError::Invalid)?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(TrainError::Invalid(format!(
                "--label-smoothing must be in [0, 1), got {}",
                self.label_smoothing
            )));
        }
        Ok(())
    }
}

/// The ranges of the fine-tuning settings every supervised task shares (classification and
/// the dense tasks): layer decay in `(0, 1]`, drop path in `[0, 1)`, at least one evaluation
/// image. The message names the flag.
pub fn check_recipe(
    layer_decay: Option<f64>,
    drop_path: f64,
    eval_images: Option<usize>,
) -> Result<(), String> {
    if let Some(d) = layer_decay {
        if !(d > 0.0 && d <= 1.0) {
            return Err(format!(
                "--layer-decay must be in (0, 1] (1 = no decay), got {d}"
            ));
        }
    }
    if !(0.0..1.0).contains(&drop_path) {
        return Err(format!(
            "--drop-path must be in [0, 1) (0 = off), got {drop_path}"
        ));
    }
    if eval_images == Some(0) {
        return Err("--eval-images must be at least 1".into());
    }
    Ok(())
}

/// The file of a finished run's last evaluation, in the run folder.
pub const FINAL_FILE: &str = "final.json";

/// The whole test set scored once by the model at the end of a run, as written to
/// `RUN/final.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    pub test_acc: f64,
    pub test_loss: f64,
    /// Test images scored (the whole test set).
    pub test_images: usize,
    /// Epochs and optimizer steps of the run.
    pub epochs: usize,
    pub steps: usize,
    /// The sum of the epochs' `epoch_seconds` in `metrics.jsonl` (training and per-epoch
    /// evaluation, over every invocation of a resumed run; without this final evaluation).
    pub train_seconds: f64,
}

/// Metrics of one epoch, as written to `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub epoch_seconds: f64,
    pub images_per_s: f64,
}

/// Mean loss and accuracy of `model` (no autodiff) over `set`.
pub fn evaluate(
    model: &Vit,
    set: &Arc<ImageSet>,
    batch_size: usize,
    workers: usize,
    device: &Device,
) -> (f64, f64) {
    let loader = evaluation_loader(set.clone(), batch_size, workers);
    let (mut loss_sum, mut right, mut n) = (0.0, 0usize, 0usize);
    for batch in loader.epoch(0) {
        let (x, y) = batch_tensors(&batch, device);
        let logits = model.forward(x);
        loss_sum += cross_entropy(logits.clone(), y.clone(), 0.0).into_scalar::<f32>() as f64
            * batch.batch_size as f64;
        right += correct(logits, y);
        n += batch.batch_size;
    }
    (loss_sum / n.max(1) as f64, right as f64 / n.max(1) as f64)
}

/// What [`train`] leaves: the trained model, the records of the epochs run by this call and,
/// once the run has taken all its steps, its final evaluation (also in `out/final.json`).
pub struct Trained {
    pub model: Vit,
    pub history: Vec<EpochMetrics>,
    /// `None` when the run stopped before its last step (`stop_after`).
    pub final_metrics: Option<FinalMetrics>,
}

/// Trains `model` (on an autodiff device) in the run folder `out`. With `resume`, model,
/// optimizer and counters come from `out/checkpoint.safetensors`, and a run that had
/// finished is not evaluated again (its `final.json` is read back).
pub fn train(
    cfg: &TrainConfig,
    model: Vit,
    train_set: Arc<ImageSet>,
    test_set: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<Trained, TrainError> {
    cfg.validate()?;
    let augment = Augment {
        pad_crop: cfg.pad_crop,
        hflip: cfg.hflip,
    };
    let final_path = out.join(FINAL_FILE);
    if !resume && final_path.exists() {
        std::fs::remove_file(&final_path).map_err(|source| TrainError::Io {
            path: final_path.clone(),
            source,
        })?;
    }
    let loader = training_loader(train_set, &cfg.run, augment);
    let epoch_set = match cfg.eval_images {
        Some(n) if n < test_set.len => Arc::new(test_set.take(n)),
        _ => test_set.clone(),
    };
    let mut task = Classify {
        cfg,
        depth: model.blocks.len(),
        epoch_set,
        test_set,
        device: model.cls_token.device(),
        rank: 0,
        out: out.to_path_buf(),
        final_metrics: None,
    };
    let (model, history) = run_epochs(&cfg.run, &loader, model, out, resume, observer, &mut task)?;
    Ok(Trained {
        model,
        history,
        final_metrics: task.final_metrics,
    })
}

/// The counter of correct predictions; its mean over an epoch is `train_acc`.
pub const CORRECT: &str = "correct";

/// Classification as a [`Task`]: smoothed cross-entropy with drop path, `correct` counted,
/// evaluation on the epoch test set every epoch and on the whole test set at the end.
struct Classify<'a> {
    cfg: &'a TrainConfig,
    /// Blocks of the model (for layer decay and drop path).
    depth: usize,
    /// The test images scored every epoch (the first `eval_images`).
    epoch_set: Arc<ImageSet>,
    test_set: Arc<ImageSet>,
    /// The training (autodiff) device.
    device: Device,
    /// The data-parallel replica [`Task::step`] is for (0 on one device).
    rank: usize,
    /// The run folder.
    out: PathBuf,
    final_metrics: Option<FinalMetrics>,
}

impl Classify<'_> {
    /// Loss and accuracy of `model` on `set`, without autodiff or drop path.
    fn score(&self, model: &Vit, set: &Arc<ImageSet>) -> (f64, f64) {
        evaluate(
            &model.valid(),
            set,
            self.cfg.run.batch_size.max(256),
            self.cfg.run.workers,
            &self.device.clone().inner(),
        )
    }
}

impl Task for Classify<'_> {
    type Model = Vit;
    type Batch = Batch;
    type Record = EpochMetrics;

    fn step(&mut self, model: &Vit, batch: Batch, step: usize) -> StepOutput {
        let (x, y) = batch_tensors(&batch, &self.device);
        let cfg = self.cfg;
        let drop = (cfg.drop_path > 0.0).then(|| {
            let mut rng = step_rng(cfg.run.seed, step, replica_tag(TAG_DROP_PATH, self.rank));
            DropPathPlan::draw(cfg.drop_path, self.depth, batch.batch_size, &mut rng)
        });
        let logits = model.forward_with(x, drop.as_ref());
        let loss = cross_entropy(logits.clone(), y.clone(), cfg.label_smoothing);
        let right = correct(logits.detach(), y);
        StepOutput {
            loss,
            samples: batch.batch_size,
            counters: Counters::from([(CORRECT, right as f64)]),
        }
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn param_groups(&self) -> ParamGroups {
        match self.cfg.layer_decay {
            Some(decay) => ParamGroups::layer_decay(decay, self.depth),
            None => ParamGroups::timm(),
        }
    }

    fn end_epoch(&mut self, model: &Vit, t: EpochTotals) -> Result<EpochMetrics, TrainError> {
        let (test_loss, test_acc) = self.score(model, &self.epoch_set);
        Ok(EpochMetrics {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            train_loss: t.train_loss,
            train_acc: t.mean(CORRECT),
            test_loss,
            test_acc,
            epoch_seconds: t.start.elapsed().as_secs_f64(),
            images_per_s: t.images_per_s,
        })
    }

    fn end_run(&mut self, model: &Vit, progress: Progress) -> Result<(), TrainError> {
        let path = self.out.join(FINAL_FILE);
        let done_at = |f: &FinalMetrics| (f.epochs, f.steps);
        if let Some(done) = metrics::finished(&path, done_at, progress.epoch, progress.step) {
            self.final_metrics = Some(done);
            return Ok(());
        }
        let (test_loss, test_acc) = self.score(model, &self.test_set);
        let fin = FinalMetrics {
            test_acc,
            test_loss,
            test_images: self.test_set.len,
            epochs: progress.epoch,
            steps: progress.step,
            train_seconds: metrics::train_seconds(&self.out.join(METRICS_FILE))?,
        };
        metrics::write_final(&path, &fin)?;
        self.final_metrics = Some(fin);
        Ok(())
    }
}

impl EpochRecord for EpochMetrics {
    fn report(&self, observer: &mut dyn Observer) {
        observer.epoch_end(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `train` object of a `run.json` written before `LoopConfig` existed (the MNIST
    /// recipe-B run): it must still load, and write back unchanged.
    const FLAT: &str = r#"{"epochs":5,"batch_size":32,"lr":0.001,"min_lr":0.00001,
        "warmup_epochs":0.5,"optimizer":{"beta1":0.9,"beta2":0.999,"eps":1e-8,
        "weight_decay":0.05,"grad_clip":1.0},"label_smoothing":0.1,"pad_crop":0,
        "hflip":false,"seed":0,"workers":1}"#;

    #[test]
    fn run_file_stays_one_flat_object() {
        let cfg: TrainConfig = serde_json::from_str(FLAT).unwrap();
        assert_eq!(cfg.run.batch_size, 32);
        assert_eq!(cfg.run.warmup_epochs, 0.5);
        assert_eq!(cfg.run.optimizer.grad_clip, Some(1.0));
        assert_eq!(cfg.run.stop_after, None);
        assert_eq!(cfg.label_smoothing, 0.1);
        let written = serde_json::to_value(&cfg).unwrap();
        let read = serde_json::from_str::<serde_json::Value>(FLAT).unwrap();
        assert_eq!(written, read);
    }
}
