//! Self-supervised pre-training (MAE) of a weight template, or of a dense ViT for comparison.
//!
//! Each step: draw a mask plan and an SWS draw from (seed, step) (so a resumed run redraws the
//! same ones), compose the block weights from (G, X, U, V) layer by layer, encode the visible 25%, decode,
//! norm-pix MSE on the removed patches, AdamW (betas 0.9/0.95, wd 0.05 off biases, norms and
//! tokens), lr warm-up + cosine per iteration. Every epoch: metrics line, checkpoint, and a
//! reconstruction grid of test images.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet};
use sweet_mae::decoder::{DecoderConfig, MaeDecoder};
use sweet_mae::grid::write_reconstruction_grid;
use sweet_mae::masking::{random_masking, MaskPlan};
use sweet_mae::model::mae_forward;
use sweet_template::{generated_vit, Generator, GeneratorConfig, SwsDraw, TemplateConfig};
use sweet_vit::{Vit, VitConfig};

use crate::batch::batch_tensors;
use crate::epochs::{run_epochs, LoopConfig};
use crate::error::TrainError;
use crate::observer::Observer;
use crate::param_groups::ParamGroups;
use crate::source::{evaluation_loader, training_loader};
use crate::step_seed::{replica_tag, step_rng, step_seed, TAG_EVAL_MASK, TAG_MASK, TAG_SWS};
use crate::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// The encoder (num_classes 0).
    pub vit: VitConfig,
    /// What produces the encoder's block weights: a template (SWEET), dense weights
    /// (`--dense`, the direct pre-training baseline) or a learngene (TLEG's linear expansion). Run files written before generators
    /// existed hold `"template": {TemplateConfig}` or `"template": null` instead; both read.
    #[serde(alias = "template", deserialize_with = "generator_or_template")]
    pub generator: GeneratorConfig,
    pub decoder: DecoderConfig,
    pub mask_ratio: f64,
    /// Its `lr` is the peak: base lr x batch / 256.
    #[serde(flatten)]
    pub run: LoopConfig,
    /// Test images scored each epoch (with fixed masks).
    pub eval_images: usize,
}

/// The MAE encoder's width must be a positive multiple of 4 for its 2-D sin-cos position table;
/// the error names the nearest widths that the head count also divides. (Checked by
/// [`Mae::new`], and by the CLI before it reads any data.)
pub fn check_encoder_width(width: usize, heads: usize) -> Result<(), TrainError> {
    if sweet_vit::pos_embed::check_dim(width).is_ok() {
        return Ok(());
    }
    let step = if heads > 0 { lcm(4, heads) } else { 4 };
    let below = width / step * step;
    let above = below + step;
    let nearest = if below > 0 {
        format!("{below} or {above}")
    } else {
        above.to_string()
    };
    Err(TrainError::Invalid(format!(
        "--width {width} is not a multiple of 4, which the 2-D sin-cos position embedding needs (a quarter of the width per axis and sin/cos); nearest valid widths{}: {nearest}",
        if step > 4 { format!(" with --heads {heads}") } else { String::new() }
    )))
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// Reads a [`GeneratorConfig`], or the older form: a bare `TemplateConfig` (a Tucker template)
/// or `null` (dense).
fn generator_or_template<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<GeneratorConfig, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Generator(GeneratorConfig),
        Template(Option<TemplateConfig>),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Generator(g) => g,
        Stored::Template(Some(t)) => GeneratorConfig::Tucker(t),
        Stored::Template(None) => GeneratorConfig::Dense,
    })
}

/// The MAE of any generator: an encoder whose block weights the generator produces every
/// step (with MAE's fixed sin-cos positions), and a light ordinary decoder.
#[derive(Module, Debug)]
pub struct Mae {
    pub encoder: Vit<Generator>,
    pub decoder: MaeDecoder,
}

impl Mae {
    /// Fresh encoder (seed `run.seed`) and decoder (a seed derived from it).
    pub fn new(cfg: &PretrainConfig, device: &Device) -> Result<Self, TrainError> {
        let v = &cfg.vit;
        let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(format!("MAE encoder: {e}"));
        check_encoder_width(v.embed_dim, v.num_heads)?;
        cfg.decoder.validate().map_err(|e| invalid(&e))?;
        let encoder = generated_vit(&cfg.generator, v, cfg.run.seed, device)
            .map_err(|e| TrainError::Invalid(e.to_string()))?
            .with_sincos_pos_embed();
        let decoder = MaeDecoder::new(
            &cfg.decoder,
            v.embed_dim,
            v.grid(),
            v.patch_size,
            v.in_chans,
            cfg.run.seed ^ 0xdec0,
            device,
        );
        Ok(Mae { encoder, decoder })
    }

    /// (loss `[1]`, pred `[B, N, P]`) of one batch under one generator draw: the encoder runs at
    /// the draw's width (channel SWS: a sub-width with its own sin-cos table), the decoder
    /// meets the latent with as many input columns.
    pub fn step_loss(
        &self,
        images: Tensor<4>,
        plan: &MaskPlan,
        draw: &SwsDraw,
    ) -> (Tensor<1>, Tensor<3>) {
        mae_forward(&self.encoder.view(draw), &self.decoder, images, plan)
    }
}

/// Metrics of one pre-training epoch, as written to `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainMetrics {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    /// Mean masked-patch loss (norm-pix MSE) over the epoch's training steps, under SWS.
    pub train_loss: f64,
    /// Masked-patch loss on the first `eval_images` test images, fixed masks, full template.
    pub test_loss: f64,
    pub epoch_seconds: f64,
    pub images_per_s: f64,
}

/// Masked-patch loss of `model` (inference, full template) on `set` with fixed masks, and the
/// reconstruction grid of its first images when `grid` is given.
pub fn evaluate(
    model: &Mae,
    set: &Arc<ImageSet>,
    cfg: &PretrainConfig,
    device: &Device,
    grid: Option<&Path>,
) -> Result<f64, TrainError> {
    let n = cfg.eval_images.min(set.len).max(1);
    let subset = Arc::new(set.take(n));
    let loader = evaluation_loader(subset, 256, cfg.run.workers);
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, batch) in loader.epoch(0).enumerate() {
        let (x, _) = batch_tensors(&batch, device);
        let plan = random_masking(
            batch.batch_size,
            cfg.vit.num_patches(),
            cfg.mask_ratio,
            step_seed(cfg.run.seed, i, TAG_EVAL_MASK),
        );
        let (loss, pred) = model.step_loss(x.clone(), &plan, &SwsDraw::Full);
        sum += loss.into_scalar::<f32>() as f64 * batch.batch_size as f64;
        count += batch.batch_size;
        if let (0, Some(path)) = (i, grid) {
            write_reconstruction_grid(
                path,
                &x,
                &pred,
                &plan,
                cfg.vit.patch_size,
                &set.mean,
                &set.std,
                8.min(batch.batch_size),
            )
            .map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(sum / count as f64)
}

/// Pre-trains `model` (on an autodiff device) with the optimizer's parameter `groups` (timm's
/// rule for a pre-training; scaler learning exempts the scalers from weight decay). Parameters
/// that do not require gradients (a frozen template) are left as they are. With `resume`, model,
/// optimizer and counters come from `out/checkpoint.safetensors`.
#[allow(clippy::too_many_arguments)]
pub fn pretrain(
    cfg: &PretrainConfig,
    model: Mae,
    train_set: Arc<ImageSet>,
    test_set: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    groups: ParamGroups,
) -> Result<(Mae, Vec<PretrainMetrics>), TrainError> {
    let device = train_device(&model);
    let grids = out.join("reconstructions");
    std::fs::create_dir_all(&grids).map_err(|source| TrainError::Io {
        path: grids.clone(),
        source,
    })?;
    let loader = training_loader(train_set, &cfg.run, Augment::none());
    let mut task = Pretrain {
        cfg,
        test_set,
        device,
        rank: 0,
        grids,
        groups,
    };
    run_epochs(&cfg.run, &loader, model, out, resume, observer, &mut task)
}

/// MAE pre-training as a [`Task`]: the masked-patch loss under a mask plan and a generator
/// draw seeded by (seed, step); every epoch the test loss and a reconstruction grid.
struct Pretrain<'a> {
    cfg: &'a PretrainConfig,
    test_set: Arc<ImageSet>,
    /// The training (autodiff) device.
    device: Device,
    /// The data-parallel replica [`Task::step`] is for (0 on one device).
    rank: usize,
    /// Where the reconstruction grids go.
    grids: PathBuf,
    groups: ParamGroups,
}

impl Task for Pretrain<'_> {
    type Model = Mae;
    type Batch = Batch;
    type Record = PretrainMetrics;

    fn step(&mut self, model: &Mae, batch: Batch, step: usize) -> StepOutput {
        let cfg = self.cfg;
        let (x, _) = batch_tensors(&batch, &self.device);
        let plan = random_masking(
            batch.batch_size,
            cfg.vit.num_patches(),
            cfg.mask_ratio,
            step_seed(cfg.run.seed, step, replica_tag(TAG_MASK, self.rank)),
        );
        // one generator draw per step, the same on every replica
        let mut rng = step_rng(cfg.run.seed, step, TAG_SWS);
        let draw = cfg.generator.draw(&mut rng);
        StepOutput {
            loss: model.step_loss(x, &plan, &draw).0,
            samples: batch.batch_size,
            counters: Counters::new(),
        }
    }

    fn param_groups(&self) -> ParamGroups {
        self.groups.clone()
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn end_epoch(&mut self, model: &Mae, t: EpochTotals) -> Result<PretrainMetrics, TrainError> {
        let grid = self.grids.join(format!("epoch_{:03}.png", t.epoch));
        let test_loss = evaluate(
            &model.valid(),
            &self.test_set,
            self.cfg,
            &self.device.clone().inner(),
            Some(&grid),
        )?;
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

impl EpochRecord for PretrainMetrics {
    fn report(&self, observer: &mut dyn Observer) {
        observer.pretrain_epoch_end(self);
    }
}

/// The device the model's parameters live on.
fn train_device<M: Module>(model: &M) -> Device {
    model.devices().into_iter().next().unwrap_or_default()
}

/// What the metrics lines of the pre-training run in `dir` add up to: its seconds (the epochs'
/// `epoch_seconds`, over every invocation, resumed or not) and its optimizer steps. No lines (no
/// file yet) is `(0.0, 0)`.
pub fn run_totals(dir: &Path) -> Result<(f64, usize), TrainError> {
    let path = dir.join(crate::METRICS_FILE);
    let lines: Vec<PretrainMetrics> =
        crate::metrics::read_jsonl(&path).map_err(|source| TrainError::Io { path, source })?;
    Ok((
        lines.iter().map(|m| m.epoch_seconds).sum(),
        lines.last().map_or(0, |m| m.step),
    ))
}
