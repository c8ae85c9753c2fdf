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

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_template::file::{self as template_file, Provenance, TemplateFile};
use sweet_template::kronecker::file::{self as kronecker_file, KroneckerFile};
use sweet_template::kronecker::init::init_from_kronecker;
use sweet_template::{
    init_from_template, target_config, target_heads, Generator, GeneratorConfig, KroneckerConfig,
    TemplateConfig, WidthRule,
};
use sweet_vit::VitConfig;

pub(super) use super::scaler_learning::with_fresh_head;
use super::scaler_learning::{adapted_decoder, learn_and_export, Common, Target};
use super::{DataConfig, PretrainRun};
use crate::error::TrainError;
use crate::observer::Observer;
use crate::pretrain::Mae;

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

/// `OUT/init.json`: how a model folder was initialized, from what, and what it measured. `S`
/// is the method's own part, its fields in the same JSON object: [`SweetInit`] (SWEET, the
/// default), [`ExpansionInit`](super::ExpansionInit) (linear expansion) or [`KroneckerInit`]
/// (Kronecker templates).
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

/// The Kronecker baseline's part of an [`InitRecord`]: the run and the templates it composed
/// from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KroneckerInit {
    pub run: KroneckerInitRun,
    /// SHA-256 of the four frozen templates.
    pub templates_sha256: String,
    /// The aux net's config (templates per type, tile).
    pub kronecker_config: KroneckerConfig,
}

/// An initialization from Kronecker templates, as `OUT/init.json` records it.
pub type KroneckerInitRecord = InitRecord<KroneckerInit>;

/// The name of the record in a model folder.
pub const INIT_FILE: &str = "init.json";

impl InitRecord {
    pub const FILE: &'static str = INIT_FILE;
}

/// The folder of the scaler-learning run inside `OUT`.
pub const SCALER_RUN: &str = "scaler-learning";

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
    let pretraining = recorded_pretraining(&provenance, &run.template)?;
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
    let method = SweetInit {
        run: run.clone(),
        template_sha256,
        template_config: tcfg,
    };
    learned.write_record(method, provenance, started, out)
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
    if let Some(done) = finished_init(out)? {
        return Ok(done);
    }
    let started = Instant::now();
    let invalid = |e: &dyn std::fmt::Display| TrainError::Invalid(e.to_string());
    let KroneckerFile {
        model: aux,
        cfg: kcfg,
        provenance,
        templates_sha256,
        decoder: decoder_tensors,
    } = kronecker_file::load(&run.templates, &device.clone().autodiff())
        .map_err(|e| invalid(&e))?;
    let pretraining = recorded_pretraining(&provenance, &run.templates)?;
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
    let method = KroneckerInit {
        run: run.clone(),
        templates_sha256,
        kronecker_config: kcfg,
    };
    learned.write_record(method, provenance, started, out)
}

/// The pre-training run a template file (`file`) records in its provenance: its MAE recipe is
/// scaler learning's.
fn recorded_pretraining(provenance: &Provenance, file: &Path) -> Result<PretrainRun, TrainError> {
    serde_json::from_value(provenance.pretraining.clone()).map_err(|e| {
        TrainError::Invalid(format!(
            "{}: the pre-training settings do not read: {e}",
            file.display()
        ))
    })
}
