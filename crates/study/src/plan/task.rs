//! The downstream task of a study (`task`: classify, detect, segment, generate), the numbers
//! its report shows, and the tables only some tasks take (`[dense]`, `[generate]`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
