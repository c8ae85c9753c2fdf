//! A study plan (`PLAN.toml`): the templates and direct pre-trainings to make (one MAE recipe
//! for all of them), the methods, target sizes and seeds, the downstream data, labels per class
//! and the one fine-tuning budget. Unknown keys are errors, not silent defaults.
//!
//! This module holds the plan and its shared recipes (pre-training, downstream data,
//! fine-tuning); `task` the downstream task and its tables, `template` the `[[templates]]`,
//! `method` the `[[methods]]` and how they initialize, `check` what a plan must satisfy.

mod check;
mod method;
mod task;
mod template;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StudyError;

pub use method::{InitKind, MethodKind, MethodPlan};
pub use task::{DensePlan, GeneratePlan, StudyTask};
pub use template::{TemplateKind, TemplatePlan};

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

    /// The sizes and seeds of `method`.
    pub fn cells_of<'a>(&'a self, m: &'a MethodPlan) -> (&'a [[usize; 2]], &'a [u64]) {
        (
            m.sizes.as_deref().unwrap_or(&self.sizes),
            m.seeds.as_deref().unwrap_or(&self.seeds),
        )
    }
}
