//! Supervised classification: AdamW with parameter groups, warm-up + cosine per iteration,
//! global-norm clipping, label smoothing, evaluation every epoch, one JSON line of metrics per
//! epoch, an atomic checkpoint every epoch and `resume` that continues a killed run exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet, Loader, LoaderConfig};
use sweet_vit::Vit;

use crate::epochs::{run_epochs, EpochRecord, EpochTotals, LoopConfig, StepLoss};
use crate::loss::{correct, cross_entropy};
use crate::run_state;

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

/// Progress reporting, implemented by the CLI (progress bars live only in the binary).
pub trait Observer {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    fn step(&mut self, _loss: f64, _images_per_s: f64) {}
    fn evaluating(&mut self) {}
    fn epoch_end(&mut self, _metrics: &EpochMetrics) {}
    fn pretrain_epoch_end(&mut self, _metrics: &crate::pretrain::PretrainMetrics) {}
}

/// No reporting.
pub struct Silent;
impl Observer for Silent {}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("non-finite loss ({loss}) at epoch {epoch}, step {step}; the last good checkpoint is kept in {checkpoint} (lower --lr or set --grad-clip)")]
    NonFinite {
        loss: f64,
        epoch: usize,
        step: usize,
        checkpoint: PathBuf,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] run_state::CheckpointError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub const METRICS_FILE: &str = "metrics.jsonl";

/// Converts a loader batch to tensors on `device`: images `[B, C, H, W]`, labels `[B]`.
pub fn batch_tensors(batch: &Batch, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let shape = [batch.batch_size, batch.channels, batch.height, batch.width];
    let images = Tensor::from_data(TensorData::new(batch.images.clone(), shape), device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::from_data(TensorData::new(labels, [batch.batch_size]), device);
    (images, labels)
}

/// Mean loss and accuracy of `model` (no autodiff) over `set`.
pub fn evaluate(
    model: &Vit,
    set: &Arc<ImageSet>,
    batch_size: usize,
    workers: usize,
    device: &Device,
) -> (f64, f64) {
    let loader = Loader::new(
        set.clone(),
        LoaderConfig {
            batch_size,
            shuffle: false,
            drop_last: false,
            seed: 0,
            workers,
            augment: Augment::none(),
        },
    );
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
    let device = model.cls_token.device();
    let augment = Augment {
        pad_crop: cfg.pad_crop,
        hflip: cfg.hflip,
    };
    let step = |model: &Vit, batch: &Batch, _step: usize| {
        let (x, y) = batch_tensors(batch, &device);
        let logits = model.forward(x);
        let loss = cross_entropy(logits.clone(), y.clone(), cfg.label_smoothing);
        StepLoss {
            loss,
            correct: correct(logits.detach(), y),
        }
    };
    let end_epoch = |model: &Vit, t: EpochTotals| {
        let (test_loss, test_acc) = evaluate(
            &model.valid(),
            &test_set,
            cfg.run.batch_size.max(256),
            cfg.run.workers,
            &device.clone().inner(),
        );
        Ok(EpochMetrics {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            train_loss: t.train_loss,
            train_acc: t.train_acc,
            test_loss,
            test_acc,
            epoch_seconds: t.start.elapsed().as_secs_f64(),
            images_per_s: t.images_per_s,
        })
    };
    run_epochs(
        &cfg.run, augment, model, train_set, out, resume, observer, step, end_epoch,
    )
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
