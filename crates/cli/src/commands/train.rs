//! `sweet train`: supervised classification, from random init or an existing model folder; the
//! run building and running that `sweet finetune` shares.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use sweet_data::Split;
use sweet_train::adamw::AdamWConfig;
use sweet_train::classify::TrainConfig;
use sweet_train::run::{run_classification, ClassifyRun};
use sweet_train::LoopConfig;
use sweet_vit::{checkpoint, GlobalPool, ImgSize, VitConfig};

use crate::data_args::DataArgs;
use crate::progress::Bars;
use crate::run_folder::RunFolderArgs;

/// Train a classifier and write RUN/{run.json, metrics.jsonl, checkpoint.safetensors, final.json, model/}.
///
/// Example (MNIST, measured 98.74% after 5 epochs; docs/RESULTS.md):
///   sweet train --data mnist --data-dir data/mnist --depth 6 --width 128 --heads 4 --patch 4 --epochs 5 --batch-size 32 --lr 1e-3 --warmup-epochs 0.5 --grad-clip 1.0 --pad-crop 2 --out runs/mnist
///
/// A killed run continues where its last epoch checkpoint left off with
///   sweet train --resume --out runs/mnist
/// and ends with exactly the weights of an uninterrupted run. MAE's fine-tuning recipe, with
/// its defaults, is `sweet finetune`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Start from this model folder (timm keys) instead of random init: its architecture and
    /// encoder, with a fresh head for the data's classes (trunc-normal std 2e-5).
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Transformer blocks.
    #[arg(long, default_value_t = 6)]
    pub depth: usize,
    /// Token width (embed_dim).
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    /// Attention heads (must divide the width).
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Patch side in pixels (must divide the image side).
    #[arg(long, default_value_t = 4)]
    pub patch: usize,
    #[arg(long, default_value_t = 4.0)]
    pub mlp_ratio: f64,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = super::at_least_one)]
    pub batch_size: usize,
    /// Peak learning rate (reached after warm-up, then half-cycle cosine to --min-lr).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-5)]
    pub min_lr: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// Layer-wise lr decay in (0, 1]: block i learns at lr x decay^(depth - i), the embeddings
    /// at lr x decay^(depth + 1), the head at lr (default: off).
    #[arg(long)]
    pub layer_decay: Option<f64>,
    /// Stochastic depth rate in [0, 1) of the last block (0 for the first, linear between).
    #[arg(long, default_value_t = 0.0)]
    pub drop_path: f64,
    /// Pooling before the head: token (class token, final norm) or avg (mean of the patch
    /// tokens, then fc_norm). Default: the --init-from folder's, else token.
    #[arg(long, value_parser = parse_global_pool)]
    pub global_pool: Option<GlobalPool>,
    #[command(flatten)]
    pub common: RunArgs,
}

/// The flags `train` and `finetune` share, with the same defaults.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// AdamW decoupled weight decay (not applied to biases, norms, class token, position embedding).
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f64,
    /// Clip the global L2 norm of all gradients to this value.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Label smoothing of the cross-entropy, in [0, 1).
    #[arg(long, visible_alias = "smoothing", default_value_t = 0.1)]
    pub label_smoothing: f64,
    /// Random shifts: pad each side with this many black pixels, crop back at a random offset (0 = off; 2 takes MNIST from about 97.8% to 98.7% in 5 epochs)
    #[arg(long, default_value_t = 0)]
    pub pad_crop: usize,
    /// Random horizontal flips (off by default: wrong for digits).
    #[arg(long)]
    pub hflip: bool,
    /// Low-label runs: keep K training images per class (seeded, stratified).
    #[arg(long)]
    pub labels_per_class: Option<usize>,
    /// Stop after this many optimizer steps in all (the lr schedule spans them).
    #[arg(long, value_parser = super::at_least_one)]
    pub max_steps: Option<usize>,
    /// Score only the first N test images every epoch (MNIST's test files are not sorted by
    /// class); the whole test set is scored once at the end either way (RUN/final.json).
    #[arg(long, value_parser = super::at_least_one)]
    pub eval_images: Option<usize>,
    #[command(flatten)]
    pub folder: RunFolderArgs,
}

pub const RUN_FILE: &str = ClassifyRun::FILE;

/// Parses `--global-pool` (timm's names).
pub fn parse_global_pool(s: &str) -> Result<GlobalPool, String> {
    GlobalPool::parse(s)
}

/// The settings `train` and `finetune` give different defaults.
pub struct Recipe {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (after any scaling rule).
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_epochs: f64,
    pub layer_decay: Option<f64>,
    pub drop_path: f64,
}

/// The shape of the training data: classes, channels, image size.
pub struct DataShape {
    pub classes: usize,
    pub chans: usize,
    pub img: ImgSize,
}

/// The architecture of a classifier fine-tuned from the model folder `dir` on data of `shape`:
/// the folder's, with the data's class count and `pool` (default: the folder's pooling).
pub fn finetuned_vit(
    dir: &Path,
    pool: Option<GlobalPool>,
    shape: &DataShape,
) -> anyhow::Result<VitConfig> {
    let folder = checkpoint::read_config(dir)?.vit();
    let (chans, img) = (shape.chans, shape.img);
    if (folder.in_chans, folder.img_size) != (chans, img) {
        bail!(
            "{} takes {} images of {} channels, the data has {img} images of {chans} channels",
            dir.display(),
            folder.img_size,
            folder.in_chans
        );
    }
    Ok(VitConfig {
        num_classes: shape.classes,
        global_pool: pool.unwrap_or(folder.global_pool),
        ..folder
    })
}

/// A new classification run of `vit` from the shared flags `c` and the command's `recipe`.
pub fn new_run(
    c: &RunArgs,
    data: &DataArgs,
    recipe: Recipe,
    init_from: Option<PathBuf>,
    vit: VitConfig,
) -> anyhow::Result<ClassifyRun> {
    vit.validate().context("invalid architecture")?;
    let train = TrainConfig {
        run: LoopConfig {
            epochs: recipe.epochs,
            batch_size: recipe.batch_size,
            lr: recipe.lr,
            min_lr: recipe.min_lr,
            warmup_epochs: recipe.warmup_epochs,
            optimizer: AdamWConfig {
                beta1: c.beta1,
                beta2: c.beta2,
                eps: 1e-8,
                weight_decay: c.weight_decay,
                grad_clip: c.grad_clip,
            },
            seed: c.folder.seed,
            workers: c.folder.workers,
            max_steps: c.max_steps,
            stop_after: None,
            replicas: Vec::new(),
        },
        label_smoothing: c.label_smoothing,
        pad_crop: c.pad_crop,
        hflip: c.hflip,
        layer_decay: recipe.layer_decay,
        drop_path: recipe.drop_path,
        eval_images: c.eval_images,
    };
    train.validate()?;
    Ok(ClassifyRun {
        dataset: data.config()?,
        labels_per_class: c.labels_per_class,
        init_from,
        vit,
        train,
    })
}

/// Runs a classification command: reads the run file with `--resume`, else refuses a folder
/// holding a run and builds a new one with `fresh` from the training data's shape; `announce`
/// sees the run before it starts; then trains, writes RUN/model/ and prints the result.
/// `given` names the flags typed on the command line.
pub fn execute(
    c: &RunArgs,
    data: &DataArgs,
    given: &[String],
    fresh: impl FnOnce(&DataShape) -> anyhow::Result<ClassifyRun>,
    announce: impl FnOnce(&ClassifyRun),
) -> anyhow::Result<()> {
    let started = Instant::now();
    let f = &c.folder;
    let fresh = || {
        let train = data.open(Split::Train)?;
        fresh(&DataShape {
            classes: train.num_classes,
            chans: train.channels,
            img: ImgSize::new(train.height, train.width),
        })
    };
    let run: ClassifyRun = f.open(RUN_FILE, given, fresh, |r| &mut r.train.run)?;
    announce(&run);
    let mut bars = Bars::new(f.json);
    let done = run_classification(&run, &f.out, f.resume, &mut bars, &super::device())?;
    let model_dir = f.out.join("model");
    checkpoint::save_model(&done.model, &run.vit, done.mean, done.std, &model_dir)?;
    let last = done.history.last();
    let (test_acc, test_loss, test_images) = match &done.final_metrics {
        Some(f) => (Some(f.test_acc), Some(f.test_loss), Some(f.test_images)),
        None => (last.map(|m| m.test_acc), last.map(|m| m.test_loss), None),
    };
    super::print_result(
        f.json,
        &json!({
            "run": f.out,
            "model": model_dir,
            "epochs_run": done.history.len(),
            "test_acc": test_acc,
            "test_loss": test_loss,
            "test_images": test_images,
            "finished": done.final_metrics.is_some(),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

/// Runs `sweet train`; `given` names the flags typed on the command line.
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    let fresh = |shape: &DataShape| {
        let vit = match &a.init_from {
            Some(dir) => finetuned_vit(dir, a.global_pool, shape)?,
            None => VitConfig {
                img_size: shape.img,
                patch_size: a.patch,
                in_chans: shape.chans,
                embed_dim: a.width,
                depth: a.depth,
                num_heads: a.heads,
                mlp_ratio: a.mlp_ratio,
                num_classes: shape.classes,
                global_pool: a.global_pool.unwrap_or_default(),
            },
        };
        let recipe = Recipe {
            epochs: a.epochs,
            batch_size: a.batch_size,
            lr: a.lr,
            min_lr: a.min_lr,
            warmup_epochs: a.warmup_epochs,
            layer_decay: a.layer_decay,
            drop_path: a.drop_path,
        };
        new_run(&a.common, &a.data, recipe, a.init_from.clone(), vit)
    };
    execute(&a.common, &a.data, given, fresh, |_| {})
}
