//! `sweet init mimetic`, `sweet init weight-selection` and `sweet init ligo`: the baseline
//! initializations of `sweet-baselines` (their help texts are on the `Init` variants).

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use sweet_baselines::folder::TargetSize;
use sweet_baselines::mimetic::{write_mimetic, MimeticConfig};
use sweet_baselines::selection::write_selection;
use sweet_baselines::BaselineRecord;

use super::init::{random_config, RandomArgs};

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
