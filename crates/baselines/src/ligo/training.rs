//! Training LiGO's operators on the MAE loss through the project's one epoch loop
//! ([`sweet_train::run_epochs`]: AdamW with global-norm clipping, warm-up then decay per
//! iteration, metrics line and checkpoint per epoch): only the operators and the fresh
//! decoder learn; the source is frozen (no gradient, left bit for bit by the optimizer).

use std::path::Path;
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use sweet_data::{Augment, Batch, ImageSet};
use sweet_mae::decoder::MaeDecoder;
use sweet_mae::masking::{random_masking, MaskPlan};
use sweet_mae::model::mae_forward;
use sweet_train::pretrain::PretrainMetrics;
use sweet_train::source::{evaluation_loader, training_loader};
use sweet_train::step_seed::{replica_tag, step_seed, TAG_EVAL_MASK, TAG_MASK};
use sweet_train::task::{Counters, EpochTotals, StepOutput, Task};
use sweet_train::{batch_tensors, run_epochs, LoopConfig, Observer, TrainError};

use super::grow::LigoModel;
use crate::error::BaselineError;

/// The grown encoder and the MAE decoder it trains with.
#[derive(Module, Debug)]
pub struct LigoMae {
    pub grown: LigoModel,
    pub decoder: MaeDecoder,
}

impl LigoMae {
    /// (loss `[1]`, pred `[B, N, p p C]`) of one batch `[B, C, H, W]` under mask plan `plan`.
    pub fn loss(&self, images: Tensor<4>, plan: &MaskPlan) -> (Tensor<1>, Tensor<3>) {
        mae_forward(&self.grown.view(), &self.decoder, images, plan)
    }
}

/// What the operator training needs besides the loop's settings.
#[derive(Clone, Debug)]
pub struct MaeSettings {
    pub mask_ratio: f64,
    /// Patch tokens N of the images.
    pub num_patches: usize,
    /// Test images scored (fixed masks) before, after and at every epoch's end.
    pub eval_images: usize,
}

/// Masked-patch loss (norm-pix MSE, fixed masks seeded by `seed`) of `model` on the first
/// `mae.eval_images` images of `set`.
pub fn evaluate(
    model: &LigoMae,
    set: &Arc<ImageSet>,
    mae: &MaeSettings,
    seed: u64,
    workers: usize,
    device: &Device,
) -> f64 {
    let n = mae.eval_images.min(set.len).max(1);
    let loader = evaluation_loader(Arc::new(set.take(n)), 256, workers);
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, batch) in loader.epoch(0).enumerate() {
        let (x, _) = batch_tensors(&batch, device);
        let plan = random_masking(
            batch.batch_size,
            mae.num_patches,
            mae.mask_ratio,
            step_seed(seed, i, TAG_EVAL_MASK),
        );
        let loss = model.loss(x, &plan).0;
        sum += loss.into_scalar::<f32>() as f64 * batch.batch_size as f64;
        count += batch.batch_size;
    }
    sum / count.max(1) as f64
}

/// The operator training as a [`Task`]: the MAE loss under a mask plan seeded by (seed, step).
struct OperatorTask<'a> {
    mae: &'a MaeSettings,
    cfg: &'a LoopConfig,
    test: Arc<ImageSet>,
    device: Device,
    /// The data-parallel replica [`Task::step`] is for (0 on one device).
    rank: usize,
}

impl Task for OperatorTask<'_> {
    type Model = LigoMae;
    type Batch = Batch;
    type Record = PretrainMetrics;

    fn step(&mut self, model: &LigoMae, batch: Batch, step: usize) -> StepOutput {
        let (x, _) = batch_tensors(&batch, &self.device);
        let plan = random_masking(
            batch.batch_size,
            self.mae.num_patches,
            self.mae.mask_ratio,
            step_seed(self.cfg.seed, step, replica_tag(TAG_MASK, self.rank)),
        );
        StepOutput {
            loss: model.loss(x, &plan).0,
            samples: batch.batch_size,
            counters: Counters::new(),
        }
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn end_epoch(
        &mut self,
        model: &LigoMae,
        t: EpochTotals,
    ) -> Result<PretrainMetrics, TrainError> {
        let test_loss = evaluate(
            &model.valid(),
            &self.test,
            self.mae,
            self.cfg.seed,
            self.cfg.workers,
            &self.device.clone().inner(),
        );
        Ok(PretrainMetrics {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            train_loss: t.train_loss,
            test_loss,
            epoch_seconds: t.start.elapsed().as_secs_f64(),
            images_per_s: t.images_per_s,
        })
    }
}

/// Trains `model` (on an autodiff device) for `cfg`'s steps on `sets` (training, test) in the
/// run folder `dir` (metrics, checkpoint; with `resume`, continuing the run there) with timm's
/// decay rule (every operator matrix decays; the frozen source gets no gradient) and returns
/// it.
pub fn train_operators(
    cfg: &LoopConfig,
    mae: &MaeSettings,
    model: LigoMae,
    sets: (Arc<ImageSet>, Arc<ImageSet>),
    dir: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<LigoMae, BaselineError> {
    let device = model.devices().into_iter().next().unwrap_or_default();
    let (train, test) = sets;
    let loader = training_loader(train, cfg, Augment::none());
    let mut task = OperatorTask {
        mae,
        cfg,
        test,
        device,
        rank: 0,
    };
    let (model, _) = run_epochs(cfg, &loader, model, dir, resume, observer, &mut task)?;
    Ok(model)
}
