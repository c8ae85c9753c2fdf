//! A study plan (`PLAN.toml`): the templates and direct pre-trainings to make (one MAE recipe
//! for all of them), the methods, target sizes and seeds, the downstream data, labels per class
//! and the one fine-tuning budget. Unknown keys are errors, not silent defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sweet_template::{SwsMode, WidthRule};

use crate::StudyError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub title: String,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatePlan {
    pub name: String,
    pub depth: usize,
    pub width: usize,
    pub heads: usize,
    pub ranks: [usize; 3],
    pub sws: SwsMode,
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

/// How a cell's model is made (built from a [`MethodPlan`] by [`MethodPlan::init`]).
#[derive(Clone, Debug, PartialEq)]
pub enum InitKind {
    /// timm's init.
    Random,
    /// `sweet init sweet` from a template of the plan.
    Sweet {
        template: String,
        width_rule: Option<WidthRule>,
        scaler_steps: usize,
        scaler_images: usize,
        scaler_batch_size: usize,
        scaler_lr: f64,
        scaler_warmup_steps: usize,
    },
    /// Dense MAE pre-training of the target size itself with the plan's recipe.
    Direct,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodKind {
    Random,
    Sweet,
    Direct,
}

/// One method of the study. `kind = "sweet"` takes the `template` and scaler-learning keys
/// (defaults: `sweet init sweet`'s); other kinds take none of them.
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
}

impl MethodPlan {
    /// How this method's models are made; an error names keys its kind does not take.
    pub fn init(&self) -> Result<InitKind, String> {
        let d = sweet_train::run::ScalerLearning::default();
        let sweet_keys = [
            ("width_rule", self.width_rule.is_some()),
            ("scaler_steps", self.scaler_steps.is_some()),
            ("scaler_images", self.scaler_images.is_some()),
            ("scaler_batch_size", self.scaler_batch_size.is_some()),
            ("scaler_lr", self.scaler_lr.is_some()),
            ("scaler_warmup_steps", self.scaler_warmup_steps.is_some()),
            ("template", self.template.is_some()),
        ];
        match self.kind {
            MethodKind::Sweet => Ok(InitKind::Sweet {
                template: self
                    .template
                    .clone()
                    .ok_or_else(|| format!("method {:?} (sweet) needs template", self.name))?,
                width_rule: self.width_rule,
                scaler_steps: self.scaler_steps.unwrap_or(d.steps),
                scaler_images: self.scaler_images.unwrap_or(d.images),
                scaler_batch_size: self.scaler_batch_size.unwrap_or(d.batch_size),
                scaler_lr: self.scaler_lr.unwrap_or(d.lr),
                scaler_warmup_steps: self.scaler_warmup_steps.unwrap_or(d.warmup_steps),
            }),
            kind => {
                if let Some((k, _)) = sweet_keys.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "method {:?} ({kind:?}) does not take {k} (only kind = \"sweet\" does)",
                        self.name
                    ));
                }
                Ok(if kind == MethodKind::Random {
                    InitKind::Random
                } else {
                    InitKind::Direct
                })
            }
        }
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
            if let InitKind::Sweet { template, .. } = &m.init()? {
                if !self.templates.iter().any(|t| &t.name == template) {
                    return Err(format!(
                        "method {:?} names template {template:?}, which [[templates]] does not list",
                        m.name
                    ));
                }
            }
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
