//! `sweet train`: supervised classification, from random init or an existing model folder.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use sweet_data::Split;
use sweet_train::adamw::AdamWConfig;
use sweet_train::classify::TrainConfig;
use sweet_train::run::{refuse_existing_run, run_classification, ClassifyRun};
use sweet_train::LoopConfig;
use sweet_vit::{checkpoint, VitConfig};

use crate::data_args::DataArgs;
use crate::progress::Bars;

/// Train a classifier and write RUN/{run.json, metrics.jsonl, checkpoint.safetensors, model/}.
///
/// Example (MNIST, measured 98.74% after 5 epochs; docs/RESULTS.md):
///   sweet train --data mnist --data-dir data/mnist --depth 6 --width 128 --heads 4 --patch 4 --epochs 5 --batch-size 32 --lr 1e-3 --warmup-epochs 0.5 --grad-clip 1.0 --pad-crop 2 --out runs/mnist
///
/// A killed run continues where its last epoch checkpoint left off with
///   sweet train --resume --out runs/mnist
/// and ends with exactly the weights of an uninterrupted run.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// Start from this model folder (timm keys) instead of random init; its architecture is used.
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
    #[arg(long, default_value_t = 0.1)]
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
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Run folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (every other flag but --workers and --json comes from RUN/run.json).
    #[arg(long)]
    pub resume: bool,
    /// Print the final result as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many epochs of this invocation, as if killed (for testing --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

pub const RUN_FILE: &str = ClassifyRun::FILE;

fn fresh_config(
    a: &Args,
    classes: usize,
    chans: usize,
    img: sweet_vit::ImgSize,
) -> anyhow::Result<ClassifyRun> {
    let dataset = a.data.config()?;
    let vit = match &a.init_from {
        Some(dir) => checkpoint::read_config(dir)?.vit(),
        None => VitConfig {
            img_size: img,
            patch_size: a.patch,
            in_chans: chans,
            embed_dim: a.width,
            depth: a.depth,
            num_heads: a.heads,
            mlp_ratio: a.mlp_ratio,
            num_classes: classes,
            global_pool: Default::default(),
        },
    };
    vit.validate().context("invalid architecture")?;
    if (vit.in_chans, vit.img_size, vit.num_classes) != (chans, img, classes) {
        bail!(
            "the model takes {} images of {} channels and has {} classes, the data has {img} images of {chans} channels and {classes} classes",
            vit.img_size, vit.in_chans, vit.num_classes
        );
    }
    let train = TrainConfig {
        run: LoopConfig {
            epochs: a.epochs,
            batch_size: a.batch_size,
            lr: a.lr,
            min_lr: a.min_lr,
            warmup_epochs: a.warmup_epochs,
            optimizer: AdamWConfig {
                beta1: a.beta1,
                beta2: a.beta2,
                eps: 1e-8,
                weight_decay: a.weight_decay,
                grad_clip: a.grad_clip,
            },
            seed: a.seed,
            workers: a.workers,
            max_steps: None,
            stop_after: None,
        },
        label_smoothing: a.label_smoothing,
        pad_crop: a.pad_crop,
        hflip: a.hflip,
    };
    Ok(ClassifyRun {
        dataset,
        labels_per_class: a.labels_per_class,
        init_from: a.init_from.clone(),
        vit,
        train,
    })
}

/// Runs `sweet train`; `given` names the flags typed on the command line.
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut run: ClassifyRun = if a.resume {
        super::refuse_flags_ignored_on_resume(given, &a.out.join(RUN_FILE))?;
        let r = super::read_run(&a.out, RUN_FILE)?;
        eprintln!(
            "resuming {} (settings from {})",
            a.out.display(),
            a.out.join(RUN_FILE).display()
        );
        r
    } else {
        refuse_existing_run(&a.out)?;
        let train = a.data.open(Split::Train)?;
        fresh_config(
            &a,
            train.num_classes,
            train.channels,
            sweet_vit::ImgSize::new(train.height, train.width),
        )?
    };
    super::apply_invocation_flags(&mut run.train.run, a.stop_after, a.workers, given);
    let mut bars = Bars::new(a.json);
    let done = run_classification(&run, &a.out, a.resume, &mut bars, &super::device())?;
    let model_dir = a.out.join("model");
    checkpoint::save_model(&done.model, &run.vit, done.mean, done.std, &model_dir)?;
    let last = done.history.last();
    super::print_result(
        a.json,
        &json!({
            "run": a.out,
            "model": model_dir,
            "epochs_run": done.history.len(),
            "test_acc": last.map(|m| m.test_acc),
            "test_loss": last.map(|m| m.test_loss),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}
