//! `sweet finetune`: MAE's fine-tuning recipe (`main_finetune.py`) on any model folder, as a
//! classification run: the same run file, loop and outputs as `sweet train`, other defaults.

use std::path::PathBuf;

use sweet_train::schedule::scaled_lr;
use sweet_vit::GlobalPool;

use super::train::{
    execute, finetuned_vit, new_run, parse_global_pool, DataShape, Recipe, RunArgs,
};
use crate::data_args::DataArgs;

/// Fine-tune a model folder as a classifier with MAE's recipe, and write
/// RUN/{run.json, metrics.jsonl, checkpoint.safetensors, final.json, model/}.
///
/// --model takes any model folder (model.safetensors with timm keys + config.json): a
/// `sweet init` output, a `sweet pretrain --dense` encoder folder (RUN/encoder), a folder timm
/// wrote in the same layout. Its encoder is kept key for key; the head is always fresh for the
/// data's classes (trunc-normal std 2e-5, bias 0), and so is fc_norm with --global-pool avg. A
/// headless folder and a head of another class count are both fine; any other missing or
/// unexpected key is an error naming it.
///
/// The recipe (MAE's defaults): layer-wise lr decay 0.75, drop path 0.1, AdamW betas
/// 0.9/0.999 with weight decay 0.05 (none on biases, norms and tokens), label smoothing 0.1,
/// 5 warm-up epochs then half-cycle cosine to 1e-6 per step, lr = blr x batch / 256 with blr
/// 1e-3 (unless --lr). Each epoch scores the first --eval-images test images, the end the
/// whole test set (RUN/final.json).
///
/// Example, fine-tuning on 100 labels per class the dense MAE encoder that
/// `sweet pretrain --data mnist --data-dir data/mnist --dense --depth 6 --width 128 --heads 4 --patch 4 --epochs 20 --out runs/mae`
/// writes:
///   sweet finetune --model runs/mae/encoder --data mnist --data-dir data/mnist --labels-per-class 100 --epochs 50 --eval-images 1000 --out runs/finetune
///
/// A killed run continues with `sweet finetune --resume --out runs/finetune` and ends with
/// exactly the weights of an uninterrupted run.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model folder to fine-tune (its architecture and encoder are used).
    #[arg(long, required_unless_present = "resume")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Images per step (MAE: 64 per GPU).
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    pub batch_size: usize,
    /// Base learning rate per 256 images: lr = blr x batch / 256.
    #[arg(long, default_value_t = 1e-3)]
    pub blr: f64,
    /// Peak learning rate, in place of the one --blr gives.
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long, default_value_t = 1e-6)]
    pub min_lr: f64,
    #[arg(long, default_value_t = 5.0)]
    pub warmup_epochs: f64,
    /// Layer-wise lr decay in (0, 1]: block i learns at lr x decay^(depth - i), the embeddings
    /// at lr x decay^(depth + 1), the head at lr (1 = off).
    #[arg(long, default_value_t = 0.75)]
    pub layer_decay: f64,
    /// Stochastic depth rate in [0, 1) of the last block (0 for the first, linear between).
    #[arg(long, default_value_t = 0.1)]
    pub drop_path: f64,
    /// Pooling before the head: token (class token, final norm) or avg (mean of the patch
    /// tokens, then a fresh fc_norm; the folder's final norm is dropped).
    #[arg(long, default_value = "token", value_parser = parse_global_pool)]
    pub global_pool: GlobalPool,
    #[command(flatten)]
    pub common: RunArgs,
}

/// Runs `sweet finetune`; `given` names the flags typed on the command line.
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    let fresh = |shape: &DataShape| {
        let dir = a
            .model
            .clone()
            .expect("clap requires --model without --resume");
        let vit = finetuned_vit(&dir, Some(a.global_pool), shape)?;
        let recipe = Recipe {
            epochs: a.epochs,
            batch_size: a.batch_size,
            lr: a.lr.unwrap_or_else(|| scaled_lr(a.blr, a.batch_size)),
            min_lr: a.min_lr,
            warmup_epochs: a.warmup_epochs,
            layer_decay: Some(a.layer_decay),
            drop_path: a.drop_path,
        };
        new_run(&a.common, &a.data, recipe, Some(dir), vit)
    };
    // as MAE prints them
    let announce = |run: &sweet_train::run::ClassifyRun| {
        let (lr, batch) = (run.train.run.lr, run.train.run.batch_size);
        eprintln!("base lr: {:.2e}", lr * 256.0 / batch as f64);
        eprintln!("actual lr: {lr:.2e}");
        eprintln!("effective batch size: {batch}");
    };
    execute(&a.common, &a.data, given, fresh, announce)
}
