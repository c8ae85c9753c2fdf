//! The half of an initialization that every template shares: learning a mapped target's
//! scalers (and ordinary parts) on the MAE loss with the template's shared tensors frozen,
//! then composing once and writing the model folder (METHOD.md section 5, steps 3-4). SWEET's
//! [`run_init`](super::run_init) and the Kronecker baseline's
//! [`run_init_kronecker`](super::run_init_kronecker) both end here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;
use sweet_data::{ImageSet, Split};
use sweet_mae::decoder::MaeDecoder;
use sweet_template::file::Provenance;
use sweet_template::GeneratorConfig;
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::width::fit_host;
use sweet_vit::{checkpoint, VitConfig};

use super::initialization::{InitRecord, ScalerLearning, INIT_FILE, SCALER_RUN};
use super::{write_run_file, DataConfig};
use crate::adamw::AdamWConfig;
use crate::epochs::LoopConfig;
use crate::error::TrainError;
use crate::observer::Observer;
use crate::param_groups::ParamGroups;
use crate::pretrain::{evaluate, pretrain, Mae, PretrainConfig};
use crate::run_state::CHECKPOINT_FILE;

const BEFORE_FILE: &str = "before.json";

/// A mapped target ready to learn its scalers, whatever its generator: the MAE (the
/// encoder's shared template tensors frozen, the template's decoder adapted), the target's
/// generator config and encoder, and what it came from.
pub(super) struct Target<'a> {
    pub(super) mae: Mae,
    pub(super) generator: GeneratorConfig,
    /// The headless target encoder.
    pub(super) vit: VitConfig,
    /// What stays frozen, for the log line.
    pub(super) frozen: &'static str,
    /// The template's pre-training (its MAE recipe).
    pub(super) pre: &'a PretrainConfig,
    pub(super) provenance: &'a Provenance,
}

/// The settings every initialization shares.
pub(super) struct Common<'a> {
    pub(super) depth: usize,
    pub(super) width: usize,
    pub(super) classes: usize,
    pub(super) scalers: &'a ScalerLearning,
    pub(super) data: Option<&'a DataConfig>,
    pub(super) seed: u64,
}

/// What [`learn_and_export`] measured and wrote.
pub(super) struct Learned {
    pub(super) export: VitConfig,
    pub(super) parameters: usize,
    pub(super) before: Option<f64>,
    pub(super) after: Option<f64>,
    /// The learning's seconds over every invocation, and this invocation's share.
    pub(super) scaler_seconds: f64,
    pub(super) learn_elapsed: f64,
}

impl Learned {
    /// The record of an initialization started at `started` that learned this (the method's
    /// own part `method`, the template's `provenance`), written as `out/init.json` (last: its
    /// presence means done). Its seconds are this invocation's outside learning plus all the
    /// learning, resumed or not.
    pub(super) fn write_record<S: Serialize>(
        self,
        method: S,
        provenance: Provenance,
        started: Instant,
        out: &Path,
    ) -> Result<InitRecord<S>, TrainError> {
        let record = InitRecord {
            method,
            vit: self.export,
            parameters: self.parameters,
            provenance,
            mae_loss_before: self.before,
            mae_loss_after: self.after,
            scaler_seconds: self.scaler_seconds,
            seconds: started.elapsed().as_secs_f64() - self.learn_elapsed + self.scaler_seconds,
        };
        write_run_file(out, INIT_FILE, &record)?;
        Ok(record)
    }
}

/// Learns the target's scalers (and ordinary parts) for `common.scalers.steps` steps of the
/// MAE loss on the template's normalization of `common.data`, with the frozen tensors left
/// bit for bit and no weight decay on the scalers (none at 0 steps: zero-shot), then composes
/// once and writes the model folder with a fresh head (`model.safetensors`, `config.json`).
pub(super) fn learn_and_export(
    target: Target,
    common: &Common,
    out: &Path,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<Learned, TrainError> {
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(e.to_string());
    let Target {
        mut mae,
        generator,
        vit,
        frozen,
        pre,
        provenance,
    } = target;
    let scaler_dir = out.join(SCALER_RUN);
    let cfg = scaler_config(common.scalers, common.seed, pre, &vit, generator);
    let (mut before, mut after) = (None, None);
    let (mut scaler_seconds, mut learn_elapsed) = (0.0, 0.0);
    if common.scalers.steps > 0 {
        let data = common
            .data
            .ok_or_else(|| invalid(&"scaler learning needs --data and --data-dir"))?;
        let norm = |set: Arc<ImageSet>| {
            // Normalized as the template's pre-training data was.
            let mut s = (*set).clone();
            s.mean = provenance.mean.clone();
            s.std = provenance.std.clone();
            Arc::new(s)
        };
        let train = norm(data.open(Split::Train)?);
        let train = Arc::new(train.take(common.scalers.images));
        let test = norm(data.open(Split::Test)?);
        if train.channels != vit.in_chans
            || [train.height, train.width] != [vit.img_size.h, vit.img_size.w]
        {
            return Err(invalid(&format!(
                "the scaler-learning images are {}x{}x{}, the template takes {}x{}x{}",
                train.channels,
                train.height,
                train.width,
                vit.in_chans,
                vit.img_size.h,
                vit.img_size.w
            )));
        }
        let resume = scaler_dir.join(CHECKPOINT_FILE).exists();
        before = Some(loss_before(&mae, &test, &cfg, &scaler_dir, resume, device)?);
        observer.run_start(&format!(
            "learning scalers of ({}, {}) for {} steps on {} images, {frozen} frozen; MAE loss before {:.4}",
            common.depth,
            common.width,
            common.scalers.steps,
            train.len,
            before.unwrap_or(f64::NAN)
        ));
        let groups = ParamGroups::timm().without_decay_under("scalers.");
        let learning = Instant::now();
        let (learned, _) = pretrain(
            &cfg,
            mae,
            train,
            test.clone(),
            &scaler_dir,
            resume,
            observer,
            groups,
        )?;
        mae = learned;
        scaler_seconds = crate::pretrain::run_totals(&scaler_dir)?.0;
        learn_elapsed = learning.elapsed().as_secs_f64();
        after = Some(evaluate(&mae.valid(), &test, &cfg, device, None)?);
    }
    // Compose once and export with a fresh head for the classes.
    let composed = mae.encoder.valid().to_dense();
    let export = VitConfig {
        num_classes: common.classes,
        ..vit
    };
    let dense = with_fresh_head(composed, &export, common.seed, device)?;
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    checkpoint::save_model(
        &dense,
        &export,
        provenance.mean.clone(),
        provenance.std.clone(),
        out,
    )?;
    Ok(Learned {
        parameters: dense.num_params(),
        export,
        before,
        after,
        scaler_seconds,
        learn_elapsed,
    })
}

/// The scaler-learning run's config: the template's MAE recipe (decoder, mask ratio, betas,
/// weight decay) at the target's size (`vit`, `generator`; SWS off), `s`' steps, batch and lr.
fn scaler_config(
    s: &ScalerLearning,
    seed: u64,
    pre: &PretrainConfig,
    vit: &VitConfig,
    generator: GeneratorConfig,
) -> PretrainConfig {
    let batches = (s.images / s.batch_size.max(1)).max(1);
    PretrainConfig {
        vit: vit.clone(),
        generator,
        decoder: pre.decoder.clone(),
        mask_ratio: pre.mask_ratio,
        run: LoopConfig {
            epochs: s.steps.div_ceil(batches).max(1),
            batch_size: s.batch_size,
            lr: s.lr,
            min_lr: 0.0,
            warmup_epochs: s.warmup_steps as f64 / batches as f64,
            optimizer: AdamWConfig {
                grad_clip: None,
                ..pre.run.optimizer.clone()
            },
            seed,
            workers: s.workers,
            max_steps: Some(s.steps),
            stop_after: None,
            replicas: Vec::new(),
        },
        eval_images: s.eval_images,
    }
}

/// The template's MAE decoder for an encoder of the target's width: the pre-trained tensors,
/// with `decoder_embed.weight` `[dd, D0]` cut to its first D' columns or zero-extended.
pub(super) fn adapted_decoder(
    pre: &PretrainConfig,
    tensors: &BTreeMap<String, HostTensor>,
    target: &VitConfig,
    device: &Device,
) -> Result<MaeDecoder, TrainError> {
    let fresh = MaeDecoder::new(
        &pre.decoder,
        target.embed_dim,
        target.grid(),
        target.patch_size,
        target.in_chans,
        0,
        device,
    );
    let mut tensors = tensors.clone();
    let key = "decoder_embed.weight";
    let w = tensors
        .get(key)
        .ok_or_else(|| TrainError::Invalid(format!("the template's decoder has no {key}")))?;
    let (dd, d0) = (w.shape[0], w.shape[1]);
    let zeros = HostTensor {
        shape: vec![dd, target.embed_dim],
        values: vec![0.0; dd * target.embed_dim],
    };
    let fitted = fit_host(w, &zeros, d0, target.embed_dim).map_err(TrainError::Invalid)?;
    tensors.insert(key.to_string(), fitted);
    load_named(fresh, &tensors)
        .map_err(|e| TrainError::Invalid(format!("the template's decoder: {e}")))
}

/// The MAE loss of the mapped model before learning: computed once and kept in
/// `scaler-learning/before.json`, so a resumed run reports the same number.
fn loss_before(
    mae: &Mae,
    test: &Arc<ImageSet>,
    cfg: &PretrainConfig,
    dir: &Path,
    resume: bool,
    device: &Device,
) -> Result<f64, TrainError> {
    let path = dir.join(BEFORE_FILE);
    if resume {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(v) = serde_json::from_str::<f64>(&text) {
                return Ok(v);
            }
        }
    }
    let loss = evaluate(&mae.valid(), test, cfg, device, None)?;
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_run_file(dir, BEFORE_FILE, &loss)?;
    Ok(loss)
}

/// `model` (headless) with a fresh head for `cfg.num_classes` classes at timm's init, drawn
/// from `seed`; no head when there are no classes.
pub(super) fn with_fresh_head(
    model: sweet_vit::Vit,
    cfg: &VitConfig,
    seed: u64,
    device: &Device,
) -> Result<sweet_vit::Vit, TrainError> {
    let fresh = sweet_vit::Vit::new(cfg, seed, device);
    let mut tensors: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    for (k, t) in named_tensors(&fresh) {
        if k.starts_with("head.") {
            tensors.insert(k, t);
        }
    }
    let model = load_named(fresh, &tensors)
        .map_err(|e| TrainError::Invalid(format!("exporting the initialized model: {e}")))?;
    Ok(model)
}
