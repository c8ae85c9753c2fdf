//! Initializing a ViT of any depth and width from a template (METHOD.md section 5):
//! [`run_init`] maps the template's scalers and parts to the target
//! ([`sweet_template::init`]), learns the scalers for a few hundred steps of the MAE loss with G
//! frozen (bit for bit), SWS off and no weight decay on the scalers, on a few thousand images of
//! the pre-training set, reusing the template's decoder (its input projection cut, or
//! zero-extended, to the target's width), then composes once and writes an ordinary model
//! folder: `model.safetensors` + `config.json` (the template's mean/std, a fresh head) and
//! `init.json` saying how it was made.
//!
//! Layout of the output folder `OUT`: `model.safetensors`, `config.json`, `init.json` (written
//! last: its presence means done), and `scaler-learning/` (the scaler-learning run: metrics,
//! checkpoint, reconstructions, `before.json`), which a killed init resumes from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{ImageSet, Split};
use sweet_mae::decoder::MaeDecoder;
use sweet_template::file::{self as template_file, Provenance, TemplateFile};
use sweet_template::{
    init_from_template, target_config, target_heads, Generator, GeneratorConfig, TemplateConfig,
    WidthRule,
};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::width::fit_host;
use sweet_vit::{checkpoint, VitConfig};

use super::{write_run_file, DataConfig, PretrainRun};
use crate::adamw::AdamWConfig;
use crate::epochs::LoopConfig;
use crate::error::TrainError;
use crate::observer::Observer;
use crate::param_groups::ParamGroups;
use crate::pretrain::{evaluate, pretrain, Mae, PretrainConfig};
use crate::run_state::CHECKPOINT_FILE;

/// How the scalers are learned (METHOD.md section 5, step 3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalerLearning {
    /// Optimizer steps; 0 is the zero-shot mode (compose straight from the mapped scalers).
    pub steps: usize,
    /// Unlabeled images: the first M of the data set's training split.
    pub images: usize,
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up, then half-cycle cosine to 0 over `steps`).
    pub lr: f64,
    pub warmup_steps: usize,
    /// Test images of the same data set on which the MAE loss is reported before and after.
    pub eval_images: usize,
    pub workers: usize,
}

impl Default for ScalerLearning {
    fn default() -> Self {
        ScalerLearning {
            steps: 300,
            images: 4000,
            batch_size: 64,
            lr: 1e-3,
            warmup_steps: 30,
            eval_images: 500,
            workers: 1,
        }
    }
}

/// Everything that defines an initialization, saved inside `OUT/init.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitRun {
    /// The template file (`template.safetensors` of a `sweet pretrain` run).
    pub template: PathBuf,
    pub depth: usize,
    pub width: usize,
    /// Heads; `None`: width / the template's head dim.
    pub heads: Option<usize>,
    /// Classes of the fresh head (0: no head).
    pub classes: usize,
    pub width_rule: WidthRule,
    pub scalers: ScalerLearning,
    /// The unlabeled images the scalers learn on (the pre-training set by default); unused
    /// with 0 steps.
    pub data: Option<DataConfig>,
    /// Seeds the new channels, the head, the new U/V rows and the scaler-learning run.
    pub seed: u64,
}

/// `OUT/init.json`: how a model folder was initialized, from what, and what it measured. `S`
/// is the method's own part, its fields in the same JSON object: [`SweetInit`] (SWEET, the
/// default) or [`ExpansionInit`](super::ExpansionInit) (linear expansion).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitRecord<S = SweetInit> {
    #[serde(flatten)]
    pub method: S,
    /// The target architecture written to `config.json`.
    pub vit: VitConfig,
    pub parameters: usize,
    /// The pre-training the source (template, learngene) came from.
    pub provenance: Provenance,
    /// MAE loss (norm-pix, masked patches, fixed masks) on `eval_images` test images before
    /// and after scaler learning (`None` with 0 steps or without data).
    pub mae_loss_before: Option<f64>,
    pub mae_loss_after: Option<f64>,
    /// Seconds of scaler learning (its epochs' sum, over every invocation; 0 for a method
    /// without a per-target learning step) and of the whole initialization (mapping, learning,
    /// composing, writing; this invocation's, plus the learning of earlier ones).
    pub scaler_seconds: f64,
    pub seconds: f64,
}

/// SWEET's part of an [`InitRecord`]: the run and the template it composed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweetInit {
    pub run: InitRun,
    pub template_sha256: String,
    pub template_config: TemplateConfig,
}

/// The name of the record in a model folder.
pub const INIT_FILE: &str = "init.json";

impl InitRecord {
    pub const FILE: &'static str = INIT_FILE;
}

/// The folder of the scaler-learning run inside `OUT`.
pub const SCALER_RUN: &str = "scaler-learning";
const BEFORE_FILE: &str = "before.json";

/// Reads `OUT/init.json` if the initialization in `out` has finished (a record of the method
/// whose part is `S`).
pub fn finished_init<S: serde::de::DeserializeOwned>(
    out: &Path,
) -> Result<Option<InitRecord<S>>, TrainError> {
    let path = out.join(INIT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| TrainError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))
}

/// Initializes the target `run` describes into the model folder `out` on `device`: a finished
/// folder is returned as it is; a killed scaler learning resumes from its checkpoint.
pub fn run_init(
    run: &InitRun,
    out: &Path,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<InitRecord, TrainError> {
    if let Some(done) = finished_init(out)? {
        return Ok(done);
    }
    let started = Instant::now();
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(e.to_string());
    let TemplateFile {
        model: template,
        cfg: tcfg,
        provenance,
        template_sha256,
        decoder: decoder_tensors,
    } = template_file::load(&run.template, &device.clone().autodiff()).map_err(|e| invalid(&e))?;
    let pretraining: PretrainRun =
        serde_json::from_value(provenance.pretraining.clone()).map_err(|e| {
            invalid(&format!(
                "{}: the pre-training settings do not read: {e}",
                run.template.display()
            ))
        })?;
    let heads = target_heads(&tcfg.vit, run.width, run.heads).map_err(|e| invalid(&e))?;
    crate::pretrain::check_encoder_width(run.width, heads)?;
    // The encoder learns headless; the head is added at export.
    let target = target_config(&tcfg, run.depth, run.width, heads, 0);
    let ad = device.clone().autodiff();
    let mut encoder = init_from_template(&template, &target, run.width_rule, run.seed, &ad)
        .map_err(|e| invalid(&e))?;
    // G frozen: the optimizer leaves a parameter without gradient bit for bit.
    encoder.generator.template = encoder.generator.template.set_require_grad(false);
    let decoder = adapted_decoder(&pretraining.pretrain, &decoder_tensors, &target.vit, &ad)?;
    let mut mae = Mae {
        encoder: encoder.map_generator(Generator::Tucker),
        decoder,
    };
    let scaler_dir = out.join(SCALER_RUN);
    let cfg = scaler_config(run, &pretraining.pretrain, &target);
    let (mut before, mut after) = (None, None);
    let (mut scaler_seconds, mut learn_elapsed) = (0.0, 0.0);
    if run.scalers.steps > 0 {
        let data = run
            .data
            .as_ref()
            .ok_or_else(|| invalid(&"scaler learning needs --data and --data-dir"))?;
        let norm = |set: Arc<ImageSet>| {
            // Normalized as the template's pre-training data was.
            let mut s = (*set).clone();
            s.mean = provenance.mean.clone();
            s.std = provenance.std.clone();
            Arc::new(s)
        };
        let train = norm(data.open(Split::Train)?);
        let train = Arc::new(train.take(run.scalers.images));
        let test = norm(data.open(Split::Test)?);
        if train.channels != target.vit.in_chans
            || [train.height, train.width] != [target.vit.img_size.h, target.vit.img_size.w]
        {
            return Err(invalid(&format!(
                "the scaler-learning images are {}x{}x{}, the template takes {}x{}x{}",
                train.channels,
                train.height,
                train.width,
                target.vit.in_chans,
                target.vit.img_size.h,
                target.vit.img_size.w
            )));
        }
        let resume = scaler_dir.join(CHECKPOINT_FILE).exists();
        before = Some(loss_before(&mae, &test, &cfg, &scaler_dir, resume, device)?);
        observer.run_start(&format!(
            "learning scalers of ({}, {}) for {} steps on {} images, G frozen; MAE loss before {:.4}",
            run.depth,
            run.width,
            run.scalers.steps,
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
    let learned = mae.encoder.valid();
    let Generator::Tucker(generator) = learned.generator.clone() else {
        unreachable!("scaler learning keeps the template generator")
    };
    let composed = learned.map_generator(|_| generator).to_dense();
    let export = VitConfig {
        num_classes: run.classes,
        ..target.vit.clone()
    };
    let dense = with_fresh_head(composed, &export, run.seed, device)?;
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
    let record = InitRecord {
        method: SweetInit {
            run: run.clone(),
            template_sha256,
            template_config: tcfg,
        },
        vit: export,
        parameters: dense.num_params(),
        provenance,
        mae_loss_before: before,
        mae_loss_after: after,
        scaler_seconds,
        // this invocation's time outside learning, plus all learning (resumed or not)
        seconds: started.elapsed().as_secs_f64() - learn_elapsed + scaler_seconds,
    };
    write_run_file(out, InitRecord::FILE, &record)?;
    Ok(record)
}

/// The scaler-learning run's config: the template's MAE recipe (decoder, mask ratio, betas,
/// weight decay) at the target's size, SWS off, `run.scalers`' steps, batch and lr.
fn scaler_config(run: &InitRun, pre: &PretrainConfig, target: &TemplateConfig) -> PretrainConfig {
    let s = &run.scalers;
    let batches = (s.images / s.batch_size.max(1)).max(1);
    PretrainConfig {
        vit: target.vit.clone(),
        generator: GeneratorConfig::Tucker(target.clone()),
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
            seed: run.seed,
            workers: s.workers,
            max_steps: Some(s.steps),
            stop_after: None,
        },
        eval_images: s.eval_images,
    }
}

/// The template's MAE decoder for an encoder of the target's width: the pre-trained tensors,
/// with `decoder_embed.weight` `[dd, D0]` cut to its first D' columns or zero-extended.
fn adapted_decoder(
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
