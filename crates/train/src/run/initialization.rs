//! Initializing a ViT of any depth and width from a template (METHOD.md section 5):
//! [`run_init`] maps the template's scalers and parts to the target
//! ([`sweet_template::init`]), learns the scalers for a few hundred steps of the MAE loss with G
//! frozen (bit for bit), SWS off and no weight decay on the scalers, on a few thousand images of
//! the pre-training set, reusing the template's decoder (its input projection cut, or
//! zero-extended, to the target's width), then composes once and writes an ordinary model
//! folder: `model.safetensors` + `config.json` (the template's mean/std, a fresh head) and
//! `init.json` saying how it was made.
//!
//! [`run_init_kronecker`] does the same from Kronecker templates (the WAVE baseline): the aux
//! net's scalers mapped by the zero-shot rule, then the same scaler learning with the
//! templates frozen, the same export and the same record ([`InitRecord`] of its run).
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
use sweet_template::kronecker::file::{self as kronecker_file, KroneckerFile};
use sweet_template::kronecker::init::init_from_kronecker;
use sweet_template::{
    init_from_template, target_config, target_heads, Generator, GeneratorConfig, KroneckerConfig,
    TemplateConfig, WidthRule,
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

/// Everything that defines an initialization from Kronecker templates (the WAVE baseline),
/// saved inside `OUT/init.json`. The scalers are mapped by the zero-shot rule
/// ([`sweet_template::kronecker::init`]), then learned exactly as SWEET's are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KroneckerInitRun {
    /// The Kronecker template file (`kronecker.safetensors` of a `sweet pretrain --generator
    /// kronecker` run).
    pub templates: PathBuf,
    pub depth: usize,
    /// A multiple of the tile (32).
    pub width: usize,
    /// Heads; `None`: width / the aux net's head dim.
    pub heads: Option<usize>,
    pub classes: usize,
    pub scalers: ScalerLearning,
    pub data: Option<DataConfig>,
    /// Seeds the new channels, the head, the new scaler tiles and the scaler-learning run.
    pub seed: u64,
}

/// `OUT/init.json`: the run (`R`: [`InitRun`] for SWEET, [`KroneckerInitRun`]), what it started
/// from (the template's config `C`) and what it measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitRecord<R = InitRun, C = TemplateConfig> {
    pub run: R,
    /// The target architecture written to `config.json`.
    pub vit: VitConfig,
    pub parameters: usize,
    /// SHA-256 of the frozen shared tensors (G, or the Kronecker templates).
    pub template_sha256: String,
    pub template_config: C,
    pub provenance: Provenance,
    /// MAE loss (norm-pix, masked patches, fixed masks) on `eval_images` test images before
    /// and after scaler learning (`None` with 0 steps or without data).
    pub mae_loss_before: Option<f64>,
    pub mae_loss_after: Option<f64>,
    /// Seconds of scaler learning (its epochs' sum, over every invocation) and of the whole
    /// initialization (mapping, learning, composing, writing; this invocation's, plus the
    /// learning of earlier ones).
    pub scaler_seconds: f64,
    pub seconds: f64,
}

/// An initialization from Kronecker templates, as `OUT/init.json` records it.
pub type KroneckerInitRecord = InitRecord<KroneckerInitRun, KroneckerConfig>;

impl InitRecord {
    pub const FILE: &'static str = INIT_FILE;
}

/// The record's file name in the model folder.
pub const INIT_FILE: &str = "init.json";

/// The folder of the scaler-learning run inside `OUT`.
pub const SCALER_RUN: &str = "scaler-learning";
const BEFORE_FILE: &str = "before.json";

/// Reads `OUT/init.json` if the initialization in `out` has finished.
pub fn finished_init(out: &Path) -> Result<Option<InitRecord>, TrainError> {
    finished_record(out)
}

/// Reads `OUT/init.json` as a record of `R` and `C`, if the initialization has finished.
fn finished_record<R: serde::de::DeserializeOwned, C: serde::de::DeserializeOwned>(
    out: &Path,
) -> Result<Option<InitRecord<R, C>>, TrainError> {
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
    let mae = Mae {
        encoder: encoder.map_generator(Generator::Tucker),
        decoder,
    };
    let learned = learn_and_export(
        Target {
            mae,
            generator: GeneratorConfig::Tucker(target.clone()),
            vit: target.vit.clone(),
            frozen: "G",
            pre: &pretraining.pretrain,
            provenance: &provenance,
        },
        &Common {
            depth: run.depth,
            width: run.width,
            classes: run.classes,
            scalers: &run.scalers,
            data: run.data.as_ref(),
            seed: run.seed,
        },
        out,
        observer,
        device,
    )?;
    let record = InitRecord {
        run: run.clone(),
        vit: learned.export,
        parameters: learned.parameters,
        template_sha256,
        template_config: tcfg,
        provenance,
        mae_loss_before: learned.before,
        mae_loss_after: learned.after,
        scaler_seconds: learned.scaler_seconds,
        // this invocation's time outside learning, plus all learning (resumed or not)
        seconds: started.elapsed().as_secs_f64() - learned.learn_elapsed + learned.scaler_seconds,
    };
    write_run_file(out, INIT_FILE, &record)?;
    Ok(record)
}

/// Initializes the target `run` describes from Kronecker templates into the model folder `out`
/// (the layout of [`run_init`]): the aux net's scalers mapped to the target by the zero-shot
/// rule, then learned with the templates frozen by SWEET's scaler learning (the same loop,
/// settings, decoder reuse and data), composed once and exported. A finished folder is
/// returned as it is; a killed scaler learning resumes.
pub fn run_init_kronecker(
    run: &KroneckerInitRun,
    out: &Path,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<KroneckerInitRecord, TrainError> {
    if let Some(done) = finished_record(out)? {
        return Ok(done);
    }
    let started = Instant::now();
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(e.to_string());
    let KroneckerFile {
        model: aux,
        cfg: kcfg,
        provenance,
        template_sha256,
        decoder: decoder_tensors,
    } = kronecker_file::load(&run.templates, &device.clone().autodiff())
        .map_err(|e| invalid(&e))?;
    let pretraining: PretrainRun =
        serde_json::from_value(provenance.pretraining.clone()).map_err(|e| {
            invalid(&format!(
                "{}: the pre-training settings do not read: {e}",
                run.templates.display()
            ))
        })?;
    sweet_template::kronecker::check_width(run.width, kcfg.tile).map_err(|e| invalid(&e))?;
    let heads = target_heads(&kcfg.vit, run.width, run.heads).map_err(|e| invalid(&e))?;
    crate::pretrain::check_encoder_width(run.width, heads)?;
    let target = KroneckerConfig {
        vit: VitConfig {
            depth: run.depth,
            embed_dim: run.width,
            num_heads: heads,
            num_classes: 0,
            ..kcfg.vit.clone()
        },
        ..kcfg.clone()
    };
    let ad = device.clone().autodiff();
    let mut encoder =
        init_from_kronecker(&aux, &kcfg, &target, run.seed, &ad).map_err(|e| invalid(&e))?;
    // The templates frozen: the optimizer leaves them bit for bit.
    encoder.generator.templates = encoder.generator.templates.frozen();
    let decoder = adapted_decoder(&pretraining.pretrain, &decoder_tensors, &target.vit, &ad)?;
    let mae = Mae {
        encoder: encoder.map_generator(Generator::Kronecker),
        decoder,
    };
    let learned = learn_and_export(
        Target {
            mae,
            generator: GeneratorConfig::Kronecker(target.clone()),
            vit: target.vit.clone(),
            frozen: "templates",
            pre: &pretraining.pretrain,
            provenance: &provenance,
        },
        &Common {
            depth: run.depth,
            width: run.width,
            classes: run.classes,
            scalers: &run.scalers,
            data: run.data.as_ref(),
            seed: run.seed,
        },
        out,
        observer,
        device,
    )?;
    let record = InitRecord {
        run: run.clone(),
        vit: learned.export,
        parameters: learned.parameters,
        template_sha256,
        template_config: kcfg,
        provenance,
        mae_loss_before: learned.before,
        mae_loss_after: learned.after,
        scaler_seconds: learned.scaler_seconds,
        seconds: started.elapsed().as_secs_f64() - learned.learn_elapsed + learned.scaler_seconds,
    };
    write_run_file(out, INIT_FILE, &record)?;
    Ok(record)
}

/// A mapped target ready to learn its scalers, whatever its generator: the MAE (the
/// encoder's shared template tensors frozen, the template's decoder adapted), the target's
/// generator config and encoder, and what it came from.
struct Target<'a> {
    mae: Mae,
    generator: GeneratorConfig,
    /// The headless target encoder.
    vit: VitConfig,
    /// What stays frozen, for the log line.
    frozen: &'static str,
    /// The template's pre-training (its MAE recipe).
    pre: &'a PretrainConfig,
    provenance: &'a Provenance,
}

/// The settings every initialization shares.
struct Common<'a> {
    depth: usize,
    width: usize,
    classes: usize,
    scalers: &'a ScalerLearning,
    data: Option<&'a DataConfig>,
    seed: u64,
}

/// What [`learn_and_export`] measured and wrote.
struct Learned {
    export: VitConfig,
    parameters: usize,
    before: Option<f64>,
    after: Option<f64>,
    /// The learning's seconds over every invocation, and this invocation's share.
    scaler_seconds: f64,
    learn_elapsed: f64,
}

/// Learns the target's scalers (and ordinary parts) for `common.scalers.steps` steps of the
/// MAE loss on the template's normalization of `common.data`, with the frozen tensors left
/// bit for bit and no weight decay on the scalers (none at 0 steps: zero-shot), then composes
/// once and writes the model folder with a fresh head (`model.safetensors`, `config.json`).
fn learn_and_export(
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
fn with_fresh_head(
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
