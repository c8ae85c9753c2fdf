//! `sweet init`: write a freshly initialized model folder.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use sweet_vit::{checkpoint, Vit, VitConfig};

#[derive(clap::Subcommand, Debug)]
pub enum Init {
    /// timm's default init (trunc-normal .02 Linear weights, zero biases, unit LayerNorms).
    ///
    /// Example: sweet init random --img-size 28 --in-chans 1 --patch 4 --depth 6 --width 128 --heads 4 --classes 10 --seed 0 --out models/random
    Random(RandomArgs),
}

#[derive(clap::Args, Debug)]
pub struct RandomArgs {
    #[arg(long)]
    pub img_size: usize,
    #[arg(long, default_value_t = 3)]
    pub in_chans: usize,
    #[arg(long)]
    pub patch: usize,
    #[arg(long)]
    pub depth: usize,
    #[arg(long)]
    pub width: usize,
    #[arg(long)]
    pub heads: usize,
    #[arg(long, default_value_t = 4.0)]
    pub mlp_ratio: f64,
    /// Classifier outputs (0 = no head).
    #[arg(long)]
    pub classes: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Normalization mean per channel recorded in config.json (default 0.5).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Normalization std per channel recorded in config.json (default 0.5).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: Init) -> anyhow::Result<()> {
    let Init::Random(a) = cmd;
    let cfg = VitConfig {
        img_size: a.img_size,
        patch_size: a.patch,
        in_chans: a.in_chans,
        embed_dim: a.width,
        depth: a.depth,
        num_heads: a.heads,
        mlp_ratio: a.mlp_ratio,
        num_classes: a.classes,
        global_pool: sweet_vit::GlobalPool::Token,
    };
    cfg.validate().context("invalid architecture")?;
    let mean = a.mean.unwrap_or_else(|| vec![0.5; a.in_chans]);
    let std = a.std.unwrap_or_else(|| vec![0.5; a.in_chans]);
    anyhow::ensure!(
        mean.len() == a.in_chans && std.len() == a.in_chans,
        "--mean and --std need one value per channel ({})",
        a.in_chans
    );
    let model = Vit::new(&cfg, a.seed, &super::device());
    checkpoint::save_model(&model, &cfg, mean, std, &a.out)?;
    let params = burn::module::Module::num_params(&model);
    super::print_result(a.json, &json!({ "model": a.out, "parameters": params }));
    Ok(())
}
