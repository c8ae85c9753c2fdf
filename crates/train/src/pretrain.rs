//! Self-supervised pre-training (MAE) of a weight template, or of a dense ViT for comparison.
//!
//! Each step: draw a mask plan and an SWS draw from (seed, step) (so a resumed run redraws the
//! same ones), compose the block weights from (G, X, U, V), encode the visible 25%, decode,
//! norm-pix MSE on the removed patches, AdamW (betas 0.9/0.95, wd 0.05 off biases, norms and
//! tokens), lr warm-up + cosine per iteration. Every epoch: metrics line, checkpoint, and a
//! reconstruction grid of test images.

use std::path::Path;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sweet_data::{Augment, Batch, ImageSet, Loader, LoaderConfig};
use sweet_mae::decoder::{DecoderConfig, MaeDecoder};
use sweet_mae::grid::write_reconstruction_grid;
use sweet_mae::masking::{random_masking, MaskPlan};
use sweet_mae::model::mae_forward;
use sweet_mae::pos_embed::sincos_2d_tensor;
use sweet_template::{SwsDraw, TemplateConfig, TemplatedVit};
use sweet_vit::{Vit, VitConfig};

use crate::classify::{batch_tensors, Observer, TrainError};
use crate::epochs::{run_epochs, EpochRecord, EpochTotals, LoopConfig, StepLoss};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    /// The encoder (num_classes 0).
    pub vit: VitConfig,
    /// `None`: an ordinary dense ViT (`--dense`).
    pub template: Option<TemplateConfig>,
    pub decoder: DecoderConfig,
    pub mask_ratio: f64,
    /// Its `lr` is the peak: base lr x batch / 256.
    #[serde(flatten)]
    pub run: LoopConfig,
    /// Test images scored each epoch (with fixed masks).
    pub eval_images: usize,
}

/// Templated MAE: encoder composed from the template, light ordinary decoder.
#[derive(Module, Debug)]
pub struct TemplatedMae {
    pub encoder: TemplatedVit,
    pub decoder: MaeDecoder,
}

/// Dense MAE (the `--dense` comparison and the direct-pre-training baseline).
#[derive(Module, Debug)]
pub struct DenseMae {
    pub encoder: Vit,
    pub decoder: MaeDecoder,
}

/// What the loop needs from either model.
pub trait MaeModel: Module + Sized {
    /// (loss `[1]`, pred `[B, N, P]`) under one SWS draw (dense models ignore the draw).
    fn step_loss(
        &self,
        images: Tensor<4>,
        plan: &MaskPlan,
        draw: &SwsDraw,
    ) -> (Tensor<1>, Tensor<3>);
}

/// The fixed sin-cos table of MAE, frozen (no gradient, never updated).
fn frozen_sincos(p: Param<Tensor<3>>, width: usize, grid: usize) -> Param<Tensor<3>> {
    p.map(|t| {
        let device = t.device();
        sincos_2d_tensor(width, grid, &device)
    })
    .set_require_grad(false)
}

impl TemplatedMae {
    pub fn new(
        cfg: &PretrainConfig,
        tcfg: &TemplateConfig,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let v = &cfg.vit;
        let mut encoder = TemplatedVit::new(tcfg, cfg.run.seed, device)
            .map_err(|e| TrainError::Invalid(e.to_string()))?;
        encoder.pos_embed = frozen_sincos(encoder.pos_embed, v.embed_dim, v.grid());
        let decoder = MaeDecoder::new(
            &cfg.decoder,
            v.embed_dim,
            v.num_patches(),
            v.patch_size,
            v.in_chans,
            cfg.run.seed ^ 0xdec0,
            device,
        );
        Ok(TemplatedMae { encoder, decoder })
    }
}

impl DenseMae {
    pub fn new(cfg: &PretrainConfig, device: &Device) -> Self {
        let v = &cfg.vit;
        let mut encoder = Vit::new(v, cfg.run.seed, device);
        encoder.pos_embed = frozen_sincos(encoder.pos_embed, v.embed_dim, v.grid());
        let decoder = MaeDecoder::new(
            &cfg.decoder,
            v.embed_dim,
            v.num_patches(),
            v.patch_size,
            v.in_chans,
            cfg.run.seed ^ 0xdec0,
            device,
        );
        DenseMae { encoder, decoder }
    }
}

/// Pads a sub-width latent `[B, n, D_s]` with zero channels up to the decoder's input width:
/// the same as using the first `D_s` columns of `decoder_embed`.
fn pad_latent(latent: Tensor<3>, width: usize) -> Tensor<3> {
    let [b, n, d] = latent.dims();
    if d == width {
        return latent;
    }
    let zeros = Tensor::zeros([b, n, width - d], &latent.device());
    Tensor::cat(vec![latent, zeros], 2)
}

impl MaeModel for TemplatedMae {
    fn step_loss(
        &self,
        images: Tensor<4>,
        plan: &MaskPlan,
        draw: &SwsDraw,
    ) -> (Tensor<1>, Tensor<3>) {
        let weights = self.encoder.compose(draw);
        let full = self.encoder.embed_dim();
        let pos = (weights.width != full).then(|| {
            let grid = (self.encoder.pos_embed.dims()[1] - 1).isqrt();
            sincos_2d_tensor(weights.width, grid, &images.device())
        });
        let enc = self.encoder.encoder(weights, pos);
        if let SwsDraw::Channels { .. } = draw {
            let encd = PaddedEncoder {
                inner: enc,
                width: full,
            };
            return mae_forward(&encd, &self.decoder, images, self.patch(), plan);
        }
        mae_forward(&enc, &self.decoder, images, self.patch(), plan)
    }
}

impl MaeModel for DenseMae {
    fn step_loss(
        &self,
        images: Tensor<4>,
        plan: &MaskPlan,
        _draw: &SwsDraw,
    ) -> (Tensor<1>, Tensor<3>) {
        let patch = self.encoder.patch_embed.patch_size;
        mae_forward(&self.encoder, &self.decoder, images, patch, plan)
    }
}

impl TemplatedMae {
    fn patch(&self) -> usize {
        self.encoder.patch_embed.patch_size
    }
}

/// A sub-width encoder whose latent is zero-padded to the decoder's input width.
struct PaddedEncoder<'a> {
    inner: sweet_template::TemplatedEncoder<'a>,
    width: usize,
}

impl sweet_vit::Encoder for PaddedEncoder<'_> {
    fn embed_dim(&self) -> usize {
        self.width
    }
    fn patch_tokens(&self, images: Tensor<4>) -> Tensor<3> {
        self.inner.patch_tokens(images)
    }
    fn encode(&self, tokens: Tensor<3>) -> Tensor<3> {
        pad_latent(self.inner.encode(tokens), self.width)
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

/// Seeds of a step's mask plan and SWS draw: functions of (seed, step) only.
fn step_seed(seed: u64, step: usize, tag: u64) -> u64 {
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ tag.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Masked-patch loss of `model` (inference, full template) on `set` with fixed masks, and the
/// reconstruction grid of its first images when `grid` is given.
pub fn evaluate<M: MaeModel>(
    model: &M,
    set: &Arc<ImageSet>,
    cfg: &PretrainConfig,
    device: &Device,
    grid: Option<&Path>,
) -> Result<f64, TrainError> {
    let n = cfg.eval_images.min(set.len).max(1);
    let subset = Arc::new(set.take(n));
    let loader = Loader::new(
        subset,
        LoaderConfig {
            batch_size: 256,
            shuffle: false,
            drop_last: false,
            seed: 0,
            workers: cfg.run.workers,
            augment: Augment::none(),
        },
    );
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, batch) in loader.epoch(0).enumerate() {
        let (x, _) = batch_tensors(&batch, device);
        let plan = random_masking(
            batch.batch_size,
            cfg.vit.num_patches(),
            cfg.mask_ratio,
            step_seed(cfg.run.seed, i, 7),
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

/// Pre-trains `model` (on an autodiff device). With `resume`, model, optimizer and counters
/// come from `out/checkpoint.safetensors`.
pub fn pretrain<M: MaeModel>(
    cfg: &PretrainConfig,
    model: M,
    train_set: Arc<ImageSet>,
    test_set: Arc<ImageSet>,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<(M, Vec<PretrainMetrics>), TrainError> {
    let device = train_device(&model);
    let grids = out.join("reconstructions");
    std::fs::create_dir_all(&grids).map_err(|source| TrainError::Io {
        path: grids.clone(),
        source,
    })?;
    let n = cfg.vit.num_patches();
    let step = |model: &M, batch: &Batch, step: usize| {
        let (x, _) = batch_tensors(batch, &device);
        let plan = random_masking(
            batch.batch_size,
            n,
            cfg.mask_ratio,
            step_seed(cfg.run.seed, step, 1),
        );
        let draw = match &cfg.template {
            Some(t) => t.sws.draw(
                t,
                &mut ChaCha8Rng::seed_from_u64(step_seed(cfg.run.seed, step, 2)),
            ),
            None => SwsDraw::Full,
        };
        StepLoss {
            loss: model.step_loss(x, &plan, &draw).0,
            correct: 0,
        }
    };
    let end_epoch = |model: &M, t: EpochTotals| {
        let grid = grids.join(format!("epoch_{:03}.png", t.epoch));
        let test_loss = evaluate(
            &model.valid(),
            &test_set,
            cfg,
            &device.clone().inner(),
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
    };
    run_epochs(
        &cfg.run,
        Augment::none(),
        model,
        train_set,
        out,
        resume,
        observer,
        step,
        end_epoch,
    )
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
