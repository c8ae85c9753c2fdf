//! Supervised classification: AdamW with parameter groups, warm-up + cosine per iteration,
//! global-norm clipping, label smoothing, evaluation every epoch, one JSON line of metrics per
//! epoch, an atomic checkpoint every epoch and `resume` that continues a killed run exactly.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet};
use sweet_vit::Vit;

use crate::batch::batch_tensors;
use crate::epochs::{run_epochs, LoopConfig};
use crate::error::TrainError;
use crate::loss::{correct, cross_entropy};
use crate::observer::Observer;
use crate::source::{evaluation_loader, training_loader};
use crate::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};

/// Everything that defines a classification run except the data and the model's weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    #[serde(flatten)]
    pub run: LoopConfig,
    pub label_smoothing: f64,
    /// Random shifts: pad each side with this many black (pixel 0) pixels, crop back at a
    /// random offset (0 = off).
    pub pad_crop: usize,
    pub hflip: bool,
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

/// Trains `model` (on an autodiff device) and returns it with the metrics of every epoch run.
/// With `resume`, model, optimizer and counters come from `out/checkpoint.safetensors`.
pub fn train(
    cfg: &TrainConfig,
    model: Vit,
    train_set: Arc<ImageSet>,
    test_set: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<(Vit, Vec<EpochMetrics>), TrainError> {
    let augment = Augment {
        pad_crop: cfg.pad_crop,
        hflip: cfg.hflip,
    };
    let loader = training_loader(train_set, &cfg.run, augment);
    let mut task = Classify {
        cfg,
        test_set,
        device: model.cls_token.device(),
    };
    run_epochs(&cfg.run, &loader, model, out, resume, observer, &mut task)
}

/// The counter of correct predictions; its mean over an epoch is `train_acc`.
pub const CORRECT: &str = "correct";

/// Classification as a [`Task`]: smoothed cross-entropy, `correct` counted, evaluation on the
/// test set every epoch.
struct Classify<'a> {
    cfg: &'a TrainConfig,
    test_set: Arc<ImageSet>,
    /// The training (autodiff) device.
    device: Device,
}

impl Task for Classify<'_> {
    type Model = Vit;
    type Batch = Batch;
    type Record = EpochMetrics;

    fn step(&mut self, model: &Vit, batch: Batch, _step: usize) -> StepOutput {
        let (x, y) = batch_tensors(&batch, &self.device);
        let logits = model.forward(x);
        let loss = cross_entropy(logits.clone(), y.clone(), self.cfg.label_smoothing);
        let right = correct(logits.detach(), y);
        StepOutput {
            loss,
            samples: batch.batch_size,
            counters: Counters::from([(CORRECT, right as f64)]),
        }
    }

    fn end_epoch(&mut self, model: &Vit, t: EpochTotals) -> Result<EpochMetrics, TrainError> {
        let (test_loss, test_acc) = evaluate(
            &model.valid(),
            &self.test_set,
            self.cfg.run.batch_size.max(256),
            self.cfg.run.workers,
            &self.device.clone().inner(),
        );
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
