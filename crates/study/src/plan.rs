//! A study plan (`PLAN.toml`): the templates and direct pre-trainings to make (one MAE recipe
//! for all of them), the methods, target sizes and seeds, the downstream data, labels per class
//! and the one fine-tuning budget. Unknown keys are errors, not silent defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sweet_template::{SwsMode, WidthRule};
use sweet_train::run::ScalerLearning;

use crate::StudyError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub title: String,
    /// What the cells fine-tune for: `classify` (the default), `detect` or `segment` (then
    /// `[downstream]` names COCO data, `data = "coco"`, or mask folders, `data = "masks"`, and
    /// `[dense]` the backbone's patch on that data), or `generate` (class-conditional
    /// diffusion on the `[downstream]` images, `[generate]` the recipe; `[finetune]` gives
    /// epochs, batch, lr schedule, weight decay and clipping).
    #[serde(default)]
    pub task: StudyTask,
    /// Dense tasks only: how the backbone meets the data.
    #[serde(default)]
    pub dense: Option<DensePlan>,
    /// Generation only: the diffusion recipe and how samples are scored.
    #[serde(default)]
    pub generate: Option<GeneratePlan>,
    /// Free text appended to the report (what the plan is for, how the budget was chosen).
    #[serde(default)]
    pub notes: String,
    pub pretrain: PretrainPlan,
    #[serde(default)]
    pub templates: Vec<TemplatePlan>,
    pub downstream: Downstream,
    pub finetune: FinetunePlan,
    /// Target sizes `[depth, width]` of every method unless it lists its own.
    pub sizes: Vec<[usize; 2]>,
    /// Head dim of every target (heads = width / head_dim).
    pub head_dim: usize,
    pub seeds: Vec<u64>,
    pub methods: Vec<MethodPlan>,
}

/// The one MAE recipe of every pre-training in the study (templates and direct).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainPlan {
    pub data: String,
    pub data_dir: PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    /// lr = base_lr x batch / 256.
    pub base_lr: f64,
    pub warmup_epochs: f64,
    #[serde(default = "default_min_lr")]
    pub min_lr: f64,
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
    pub mask_ratio: f64,
    pub decoder_width: usize,
    pub decoder_depth: usize,
    pub decoder_heads: usize,
    pub eval_images: usize,
    /// Use only the first N training images (default: all).
    #[serde(default)]
    pub train_images: Option<usize>,
    /// Patch side of every encoder of the study.
    pub patch: usize,
    #[serde(default)]
    pub seed: u64,
}

fn default_min_lr() -> f64 {
    0.0
}
fn default_wd() -> f64 {
    0.05
}

/// What a `[[templates]]` entry pre-trains, by MAE with the plan's recipe, through an
/// auxiliary encoder of its depth and width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TemplateKind {
    /// SWEET's Tucker template (takes `ranks` and `sws`).
    #[default]
    Tucker,
    /// TLEG's learngene (BASELINES.md section 3).
    LinearExpansion,
    /// WAVE's Kronecker templates (BASELINES.md section 4: 16 of 32 x 32 per weight type).
    Kronecker,
}

impl TemplateKind {
    /// The method kind that initializes from this kind of template.
    pub fn method(self) -> MethodKind {
        match self {
            TemplateKind::Tucker => MethodKind::Sweet,
            TemplateKind::LinearExpansion => MethodKind::LinearExpansion,
            TemplateKind::Kronecker => MethodKind::Kronecker,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePlan {
    pub name: String,
    /// Default `tucker`.
    #[serde(default)]
    pub generator: TemplateKind,
    pub depth: usize,
    pub width: usize,
    pub heads: usize,
    /// Tucker only.
    #[serde(default)]
    pub ranks: Option<[usize; 3]>,
    /// Tucker only.
    #[serde(default)]
    pub sws: Option<SwsMode>,
}

impl TemplatePlan {
    /// The Tucker settings (ranks, SWS mode) of a `tucker` entry.
    pub fn tucker(&self) -> Option<([usize; 3], SwsMode)> {
        Some((self.ranks?, self.sws?))
    }

    fn check(&self) -> Result<(), String> {
        let tucker_keys = self.ranks.is_some() || self.sws.is_some();
        match self.generator {
            TemplateKind::Tucker if self.tucker().is_none() => Err(format!(
                "template {:?} (tucker) needs ranks and sws",
                self.name
            )),
            TemplateKind::LinearExpansion | TemplateKind::Kronecker if tucker_keys => Err(format!(
                "template {:?} ({:?}) takes no ranks or sws (only generator = \"tucker\" does)",
                self.name, self.generator
            )),
            _ => Ok(()),
        }
    }
}

/// The downstream task of a study.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyTask {
    #[default]
    Classify,
    Detect,
    Segment,
    Generate,
}

impl StudyTask {
    /// The dense task, if this is one.
    pub fn dense(self) -> Option<sweet_dense::DenseTask> {
        match self {
            StudyTask::Classify | StudyTask::Generate => None,
            StudyTask::Detect => Some(sweet_dense::DenseTask::Detect),
            StudyTask::Segment => Some(sweet_dense::DenseTask::Segment),
        }
    }

    /// What the report's numbers are (their name, percent, which way is better).
    pub fn metric(self) -> sweet_report::Metric {
        match self {
            StudyTask::Classify => sweet_report::Metric::ACCURACY,
            StudyTask::Detect => sweet_report::Metric::AP,
            StudyTask::Segment => sweet_report::Metric::MIOU,
            StudyTask::Generate => sweet_report::Metric::FRECHET,
        }
    }

    /// A second number per cell, when the task has one: the class accuracy of generated
    /// samples.
    pub fn secondary(self) -> Option<sweet_report::Metric> {
        (self == StudyTask::Generate).then_some(sweet_report::Metric::CLASS_ACCURACY)
    }
}

/// How a dense task's backbone meets its data: every init is made at the pre-training data's
/// size and patch, then its patch embedding resampled to `patch` and its position table to
/// the downstream images (`sweet detect|segment train --model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DensePlan {
    pub patch: usize,
    /// Hidden width of the head's MLP (default: the backbone's width).
    #[serde(default)]
    pub head_hidden: Option<usize>,
}

/// A generation study's diffusion recipe and scoring (`sweet generate train`'s flags; the
/// loop settings come from `[finetune]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratePlan {
    /// The classifier model folder that scores samples (e.g. `models/mnist-judge`).
    pub judge: PathBuf,
    /// Learn from the first N training images only (default: all).
    #[serde(default)]
    pub train_images: Option<usize>,
    #[serde(default)]
    pub schedule: sweet_generate::schedule::BetaSchedule,
    #[serde(default = "default_timesteps")]
    pub timesteps: usize,
    #[serde(default = "default_label_dropout")]
    pub label_dropout: f64,
    #[serde(default = "default_ema_decay")]
    pub ema_decay: f64,
    pub sample_steps: usize,
    #[serde(default)]
    pub eta: f64,
    pub guidance: f64,
    /// Samples scored after every epoch (the curves).
    pub eval_samples: usize,
    /// Samples scored at the end (the table).
    pub final_samples: usize,
    pub reference_images: usize,
    #[serde(default = "default_sample_batch")]
    pub sample_batch: usize,
}

fn default_timesteps() -> usize {
    1000
}
fn default_label_dropout() -> f64 {
    0.1
}
fn default_ema_decay() -> f64 {
    0.999
}
fn default_sample_batch() -> usize {
    250
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Downstream {
    pub data: String,
    pub data_dir: PathBuf,
    pub labels_per_class: Option<usize>,
    /// Test images scored after every epoch (the full test set at the end).
    pub eval_images: Option<usize>,
}

/// The fine-tuning budget and recipe every method gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetunePlan {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_epochs: f64,
    pub weight_decay: f64,
    /// Layer-wise lr decay for pre-trained inits (methods say whether they take it).
    pub layer_decay: f64,
    pub drop_path: f64,
    pub smoothing: f64,
    pub pad_crop: usize,
    pub grad_clip: Option<f64>,
}

impl FinetunePlan {
    /// The loop settings of a cell's fine-tuning: `epochs` of this recipe, seeded by `seed`,
    /// one loading thread (two cells run side by side at one thread each).
    pub fn loop_config(&self, epochs: usize, seed: u64) -> sweet_train::LoopConfig {
        sweet_train::LoopConfig {
            epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup_epochs: self.warmup_epochs,
            optimizer: sweet_train::adamw::AdamWConfig {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: self.weight_decay,
                grad_clip: self.grad_clip,
            },
            seed,
            workers: 1,
            max_steps: None,
            stop_after: None,
            replicas: Vec::new(),
        }
    }
}

/// How a cell's model is made (built from a [`MethodPlan`] by [`MethodPlan::init`]).
#[derive(Clone, Debug, PartialEq)]
pub enum InitKind {
    /// timm's init.
    Random,
    /// `sweet init sweet` from a template of the plan.
    Sweet {
        template: String,
        width_rule: Option<WidthRule>,
        scalers: ScalerLearning,
    },
    /// Dense MAE pre-training of the target size itself with the plan's recipe.
    Direct,
    /// `sweet init mimetic` (data-free).
    Mimetic,
    /// `sweet init weight-selection` from the direct pre-training of size `from`.
    WeightSelection { from: [usize; 2] },
    /// `sweet init ligo` from the direct pre-training of size `from`, the operators trained
    /// `steps` MAE steps on `images` pre-training images.
    Ligo {
        from: [usize; 2],
        steps: usize,
        images: usize,
    },
    /// `sweet init linear-expansion` from a learngene of the plan.
    LinearExpansion { template: String },
    /// `sweet init kronecker` from Kronecker templates of the plan (SWEET's scaler learning).
    Kronecker {
        template: String,
        scalers: ScalerLearning,
    },
}

impl InitKind {
    /// The template of the plan this init reads, if any.
    pub fn template(&self) -> Option<&str> {
        match self {
            InitKind::Sweet { template, .. }
            | InitKind::LinearExpansion { template }
            | InitKind::Kronecker { template, .. } => Some(template),
            _ => None,
        }
    }

    /// The direct pre-training this init reads, if any: the target's own size for `direct`,
    /// the source size for weight selection and LiGO.
    pub fn direct(&self, target: [usize; 2]) -> Option<[usize; 2]> {
        match self {
            InitKind::Direct => Some(target),
            InitKind::WeightSelection { from } | InitKind::Ligo { from, .. } => Some(*from),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    Random,
    Sweet,
    Direct,
    Mimetic,
    WeightSelection,
    Ligo,
    LinearExpansion,
    Kronecker,
}

/// One method of the study. `kind = "sweet"` takes the `template` and scaler-learning keys
/// (defaults: `sweet init sweet`'s), `kronecker` the same but `width_rule`;
/// `linear-expansion` takes `template` (a learngene);
/// `weight-selection` and `ligo` take `from` (the size of the direct pre-training they start
/// from), `ligo` also `operator_steps` and `operator_images` (defaults: `sweet init ligo`'s);
/// a kind given a key it does not take is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodPlan {
    pub name: String,
    pub kind: MethodKind,
    /// Fine-tune with the plan's layer-wise lr decay (meant for pre-trained weights).
    pub layer_decay: bool,
    /// Fine-tuning epochs of this method's cells (default: the plan's `[finetune] epochs`):
    /// the same method at other budgets, under another name, shows what the budget does.
    #[serde(default)]
    pub finetune_epochs: Option<usize>,
    /// This method's sizes and seeds (default: the plan's).
    #[serde(default)]
    pub sizes: Option<Vec<[usize; 2]>>,
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub width_rule: Option<WidthRule>,
    #[serde(default)]
    pub scaler_steps: Option<usize>,
    #[serde(default)]
    pub scaler_images: Option<usize>,
    #[serde(default)]
    pub scaler_batch_size: Option<usize>,
    #[serde(default)]
    pub scaler_lr: Option<f64>,
    #[serde(default)]
    pub scaler_warmup_steps: Option<usize>,
    #[serde(default)]
    pub from: Option<[usize; 2]>,
    #[serde(default)]
    pub operator_steps: Option<usize>,
    #[serde(default)]
    pub operator_images: Option<usize>,
}

impl MethodPlan {
    /// How this method's models are made; an error names keys its kind does not take and
    /// keys it needs.
    pub fn init(&self) -> Result<InitKind, String> {
        use MethodKind::*;
        let scaler_learners: &[MethodKind] = &[Sweet, Kronecker];
        let keys: [(&str, bool, &[MethodKind]); 10] = [
            (
                "template",
                self.template.is_some(),
                &[Sweet, LinearExpansion, Kronecker],
            ),
            ("width_rule", self.width_rule.is_some(), &[Sweet]),
            ("scaler_steps", self.scaler_steps.is_some(), scaler_learners),
            (
                "scaler_images",
                self.scaler_images.is_some(),
                scaler_learners,
            ),
            (
                "scaler_batch_size",
                self.scaler_batch_size.is_some(),
                scaler_learners,
            ),
            ("scaler_lr", self.scaler_lr.is_some(), scaler_learners),
            (
                "scaler_warmup_steps",
                self.scaler_warmup_steps.is_some(),
                scaler_learners,
            ),
            ("from", self.from.is_some(), &[WeightSelection, Ligo]),
            ("operator_steps", self.operator_steps.is_some(), &[Ligo]),
            ("operator_images", self.operator_images.is_some(), &[Ligo]),
        ];
        if let Some((k, _, takers)) = keys
            .iter()
            .find(|(_, set, takers)| *set && !takers.contains(&self.kind))
        {
            return Err(format!(
                "method {:?} ({:?}) does not take {k} (only kinds {takers:?} do)",
                self.name, self.kind
            ));
        }
        let template = || {
            self.template
                .clone()
                .ok_or_else(|| format!("method {:?} ({:?}) needs template", self.name, self.kind))
        };
        let from = || {
            self.from
                .ok_or_else(|| format!("method {:?} ({:?}) needs from", self.name, self.kind))
        };
        let d = ScalerLearning::default();
        let scalers = ScalerLearning {
            steps: self.scaler_steps.unwrap_or(d.steps),
            images: self.scaler_images.unwrap_or(d.images),
            batch_size: self.scaler_batch_size.unwrap_or(d.batch_size),
            lr: self.scaler_lr.unwrap_or(d.lr),
            warmup_steps: self.scaler_warmup_steps.unwrap_or(d.warmup_steps),
            // one thread per cell
            workers: 1,
            ..d
        };
        let ligo = sweet_baselines::ligo::OperatorTraining::default();
        Ok(match self.kind {
            Random => InitKind::Random,
            Direct => InitKind::Direct,
            Mimetic => InitKind::Mimetic,
            Sweet => InitKind::Sweet {
                template: template()?,
                width_rule: self.width_rule,
                scalers,
            },
            Kronecker => InitKind::Kronecker {
                template: template()?,
                scalers,
            },
            LinearExpansion => InitKind::LinearExpansion {
                template: template()?,
            },
            WeightSelection => InitKind::WeightSelection { from: from()? },
            Ligo => InitKind::Ligo {
                from: from()?,
                steps: self.operator_steps.unwrap_or(ligo.steps),
                images: self.operator_images.unwrap_or(ligo.images),
            },
        })
    }
}

impl Plan {
    /// Reads and checks a plan file.
    pub fn read(path: &Path) -> Result<Plan, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let plan: Plan = toml::from_str(&text).map_err(|e| StudyError::Plan {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        plan.check().map_err(|reason| StudyError::Plan {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(plan)
    }

    fn check(&self) -> Result<(), String> {
        match (self.task, &self.dense) {
            (StudyTask::Classify, Some(_)) => {
                return Err("[dense] is for task = \"detect\" or \"segment\"".into())
            }
            (StudyTask::Detect | StudyTask::Segment, None) => {
                return Err(format!(
                    "task = {:?} needs a [dense] table (patch = 8)",
                    self.task
                ))
            }
            _ => {}
        }
        match (self.task, &self.generate) {
            (StudyTask::Generate, None) => {
                return Err("task = \"generate\" needs a [generate] table (judge, sample_steps, guidance, eval_samples, final_samples, reference_images)".into())
            }
            (StudyTask::Generate, Some(g)) => {
                if self.downstream.labels_per_class.is_some() {
                    return Err("task generate: [downstream] takes no labels_per_class (train_images in [generate] limits the data)".into());
                }
                if g.eval_samples < 2 {
                    return Err("[generate] eval_samples must be at least 2: the curves are Fréchet distances after every epoch".into());
                }
                if let Some(m) = self.methods.iter().find(|m| m.layer_decay) {
                    return Err(format!(
                        "method {:?}: generation trains every part at one lr, set layer_decay = false",
                        m.name
                    ));
                }
            }
            (_, Some(_)) => return Err("[generate] is for task = \"generate\"".into()),
            _ => {}
        }
        if self.task.dense().is_some() {
            let d = &self.downstream;
            if !matches!(d.data.as_str(), "coco" | "masks") || d.labels_per_class.is_some() {
                return Err(format!(
                    "task {:?}: [downstream] reads data = \"coco\" or \"masks\" (got {:?}) and takes no labels_per_class",
                    self.task, d.data
                ));
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            // A method may be listed twice (e.g. its most important sizes early in the
            // priority order, the rest late) when only its sizes and seeds differ and no cell
            // repeats.
            for earlier in &self.methods[..i] {
                if earlier.name != m.name {
                    continue;
                }
                let same = MethodPlan {
                    sizes: None,
                    seeds: None,
                    ..earlier.clone()
                } == MethodPlan {
                    sizes: None,
                    seeds: None,
                    ..m.clone()
                };
                let (s1, d1) = self.cells_of(earlier);
                let (s2, d2) = self.cells_of(m);
                let overlap =
                    s1.iter().any(|s| s2.contains(s)) && d1.iter().any(|d| d2.contains(d));
                if !same || overlap {
                    return Err(format!(
                        "method {:?} appears twice with other settings or the same cells",
                        m.name
                    ));
                }
            }
            if let Some(template) = m.init()?.template() {
                let Some(t) = self.templates.iter().find(|t| t.name == template) else {
                    return Err(format!(
                        "method {:?} names template {template:?}, which [[templates]] does not list",
                        m.name
                    ));
                };
                if t.generator.method() != m.kind {
                    return Err(format!(
                        "method {:?} ({:?}) cannot initialize from template {template:?} \
                         (generator {:?})",
                        m.name, m.kind, t.generator
                    ));
                }
            }
        }
        for t in &self.templates {
            t.check()?;
        }
        if self.head_dim == 0 || self.seeds.is_empty() || self.sizes.is_empty() {
            return Err("head_dim, seeds and sizes must be non-empty".into());
        }
        Ok(())
    }

    /// The sizes and seeds of `method`.
    pub fn cells_of<'a>(&'a self, m: &'a MethodPlan) -> (&'a [[usize; 2]], &'a [u64]) {
        (
            m.sizes.as_deref().unwrap_or(&self.sizes),
            m.seeds.as_deref().unwrap_or(&self.seeds),
        )
    }
}
