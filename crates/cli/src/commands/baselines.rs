//! `sweet init mimetic`, `sweet init weight-selection` and `sweet init ligo`: the baseline
//! initializations of `sweet-baselines` (their help texts are on the `Init` variants).

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use sweet_baselines::folder::TargetSize;
use sweet_baselines::ligo::{write_ligo, OperatorTraining};
use sweet_baselines::mimetic::{write_mimetic, MimeticConfig};
use sweet_baselines::selection::write_selection;
use sweet_baselines::BaselineRecord;

use super::init::{random_config, RandomArgs};
use crate::data_args::DataArgs;
use crate::progress::Bars;

#[derive(clap::Args, Debug)]
pub struct MimeticArgs {
    /// The architecture, seed, normalization and output (as `sweet init random`).
    #[command(flatten)]
    pub model: RandomArgs,
    /// W_q W_kᵀ ≈ α1 Z + β1 I: the noise scale α1.
    #[arg(long, default_value_t = MimeticConfig::default().alpha1)]
    pub alpha1: f64,
    /// ... and the identity weight β1.
    #[arg(long, default_value_t = MimeticConfig::default().beta1)]
    pub beta1: f64,
    /// W_v W_proj = α2 Z' − β2 I: the noise scale α2.
    #[arg(long, default_value_t = MimeticConfig::default().alpha2)]
    pub alpha2: f64,
    /// ... and the (negative) identity weight β2.
    #[arg(long, default_value_t = MimeticConfig::default().beta2)]
    pub beta2: f64,
}

/// The target size flags of the methods that start from a model folder.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    #[arg(long)]
    pub depth: usize,
    #[arg(long)]
    pub width: usize,
    /// Heads (default: width / the source's head dim; needed for widths it does not divide).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Classifier outputs of the fresh head (0 = none).
    #[arg(long)]
    pub classes: usize,
}

impl TargetArgs {
    fn size(&self) -> TargetSize {
        TargetSize {
            depth: self.depth,
            width: self.width,
            heads: self.heads,
            classes: self.classes,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SelectionArgs {
    /// The teacher: a model folder (model.safetensors with timm keys + config.json).
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Seeds the fresh head.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct LigoArgs {
    /// The source: a smaller model folder (model.safetensors with timm keys + config.json).
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Optimizer steps of operator training (0: the operators as initialized).
    #[arg(long, default_value_t = OperatorTraining::default().steps)]
    pub steps: usize,
    /// Unlabeled images: the first N of the training split.
    #[arg(long, default_value_t = OperatorTraining::default().images)]
    pub images: usize,
    #[arg(long, default_value_t = OperatorTraining::default().batch_size, value_parser = super::at_least_one)]
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up, then cosine to 0).
    #[arg(long, default_value_t = OperatorTraining::default().lr)]
    pub lr: f64,
    #[arg(long, default_value_t = OperatorTraining::default().warmup_steps)]
    pub warmup_steps: usize,
    #[arg(long, default_value_t = OperatorTraining::default().weight_decay)]
    pub weight_decay: f64,
    /// Max global gradient norm.
    #[arg(long, default_value_t = OperatorTraining::default().grad_clip)]
    pub grad_clip: f64,
    /// Test images on which the MAE loss is reported before and after.
    #[arg(long, default_value_t = OperatorTraining::default().eval_images)]
    pub eval_images: usize,
    /// Unlabeled data for operator training (default: the source's pre-training data set).
    #[command(flatten)]
    pub data: DataArgs,
    /// Seeds the operators, the decoder, the masks and the fresh head.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a killed operator training in --out (same flags).
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn mimetic(a: MimeticArgs) -> anyhow::Result<()> {
    let (cfg, mean, std) = random_config(&a.model)?;
    let m = MimeticConfig {
        alpha1: a.alpha1,
        beta1: a.beta1,
        alpha2: a.alpha2,
        beta2: a.beta2,
    };
    let r = &a.model;
    let record = write_mimetic(&cfg, &m, r.seed, mean, std, &r.out, &super::device())
        .context("mimetic init")?;
    report(r.json, &r.out, &record);
    Ok(())
}

pub fn weight_selection(a: SelectionArgs) -> anyhow::Result<()> {
    let record = write_selection(&a.from, &a.target.size(), a.seed, &a.out, &super::device())
        .with_context(|| format!("weight selection from {}", a.from.display()))?;
    report(a.json, &a.out, &record);
    Ok(())
}

pub fn ligo(a: LigoArgs) -> anyhow::Result<()> {
    let training = OperatorTraining {
        steps: a.steps,
        images: a.images,
        batch_size: a.batch_size,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        weight_decay: a.weight_decay,
        grad_clip: a.grad_clip,
        eval_images: a.eval_images,
        seed: a.seed,
        workers: a.workers,
        resume: a.resume,
    };
    let data = if a.data.data.is_none() && a.data.data_dir.is_none() {
        None
    } else {
        Some(a.data.config().context("the operator-training data")?)
    };
    let mut bars = Bars::new(a.json);
    let record = write_ligo(
        &a.from,
        &a.target.size(),
        &training,
        data,
        &a.out,
        &mut bars,
        &super::device(),
    )
    .with_context(|| format!("LiGO from {}", a.from.display()))?;
    if !a.json {
        if let (Some(b), Some(f)) = (record.mae_loss_before, record.mae_loss_after) {
            eprintln!("MAE loss {b:.4} -> {f:.4} after {} operator steps", a.steps);
        }
    }
    report(a.json, &a.out, &record);
    Ok(())
}

/// Prints what was written.
fn report(json: bool, out: &std::path::Path, r: &BaselineRecord) {
    super::print_result(
        json,
        &json!({
            "model": out,
            "method": r.method.name(),
            "depth": r.vit.depth,
            "width": r.vit.embed_dim,
            "heads": r.vit.num_heads,
            "parameters": r.parameters,
            "mae_loss_before": r.mae_loss_before,
            "mae_loss_after": r.mae_loss_after,
            "seconds": r.seconds,
        }),
    );
}
