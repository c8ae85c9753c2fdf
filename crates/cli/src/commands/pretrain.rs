//! `sweet pretrain`: MAE pre-training of a weight template (or of a dense ViT with `--dense`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::module::Module;
use serde_json::json;
use sweet_data::Split;
use sweet_mae::decoder::DecoderConfig;
use sweet_template::{file, Orientation, SwsMode, TemplateConfig};
use sweet_train::adamw::AdamWConfig;
use sweet_train::pretrain::{pretrain, DenseMae, PretrainConfig, PretrainMetrics, TemplatedMae};
use sweet_train::schedule::scaled_lr;
use sweet_train::LoopConfig;
use sweet_vit::{checkpoint, VitConfig};

use crate::data_args::DataArgs;
use crate::progress::Bars;

/// Pre-train once, without labels: a Tucker-factorized template G shared by every model size,
/// with the pre-training scalers, learned by masked autoencoding of a ViT whose attention and
/// MLP weights are composed from (G, X, U, V) at every step. Labels are never read.
///
/// Writes RUN/{pretrain.json, metrics.jsonl, checkpoint.safetensors, reconstructions/epoch_NNN.png}
/// and at the end RUN/template.safetensors (or RUN/encoder/, a timm model folder, with --dense).
///
/// Example (Fashion-MNIST):
///   sweet pretrain --data fashion-mnist --data-dir data/fashion-mnist --depth 8 --width 128 --heads 4 --patch 4 --rank1 48 --rank2 128 --rank3 128 --sws nested --epochs 20 --out runs/template
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 8)]
    pub depth: usize,
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 4)]
    pub patch: usize,
    /// Template rank along the depth mode (r1).
    #[arg(long, default_value_t = 48)]
    pub rank1: usize,
    /// Template rank along the inner-width mode (r2; default: the width).
    #[arg(long)]
    pub rank2: Option<usize>,
    /// Template rank along the residual-width mode (r3; default: the width).
    #[arg(long)]
    pub rank3: Option<usize>,
    /// Block orientation in the template: residual (o and fc2 transposed) or raw (timm's).
    #[arg(long, default_value = "residual", value_parser = ["residual", "raw"])]
    pub orientation: String,
    /// Width-wise stochastic scaling: nested, fibre, channels or off.
    #[arg(long, default_value = "nested")]
    pub sws: SwsMode,
    /// Pre-train an ordinary dense ViT with the same MAE recipe instead of a template.
    #[arg(long)]
    pub dense: bool,
    /// Fraction of patches removed from the encoder's input.
    #[arg(long, default_value_t = 0.75)]
    pub mask_ratio: f64,
    #[arg(long, default_value_t = 128)]
    pub decoder_width: usize,
    #[arg(long, default_value_t = 2)]
    pub decoder_depth: usize,
    #[arg(long, default_value_t = 4)]
    pub decoder_heads: usize,
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Learning rate per 256 images: lr = base_lr * batch_size / 256.
    #[arg(long, default_value_t = 1.5e-4)]
    pub base_lr: f64,
    #[arg(long, default_value_t = 0.0)]
    pub min_lr: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    /// Use only the first N training images (quick studies and tests).
    #[arg(long)]
    pub train_images: Option<usize>,
    /// Test images scored (with fixed masks) every epoch.
    #[arg(long, default_value_t = 1000)]
    pub eval_images: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (settings from RUN/pretrain.json).
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

pub const RUN_FILE: &str = "pretrain.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Run {
    data: String,
    data_dir: PathBuf,
    data_img_size: Option<usize>,
    data_channels: Option<usize>,
    train_images: Option<usize>,
    pretrain: PretrainConfig,
}

fn fresh(a: &Args, chans: usize, img: usize) -> anyhow::Result<Run> {
    let (kind, dir) = a.data.source()?;
    let vit = VitConfig {
        img_size: img,
        patch_size: a.patch,
        in_chans: chans,
        embed_dim: a.width,
        depth: a.depth,
        num_heads: a.heads,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: sweet_vit::GlobalPool::Token,
    };
    vit.validate().context("invalid architecture")?;
    let template = (!a.dense).then(|| TemplateConfig {
        vit: vit.clone(),
        ranks: [
            a.rank1,
            a.rank2.unwrap_or(a.width),
            a.rank3.unwrap_or(a.width),
        ],
        orientation: if a.orientation == "raw" {
            Orientation::Raw
        } else {
            Orientation::Residual
        },
        sws: a.sws,
    });
    if let Some(t) = &template {
        t.validate().context("invalid template")?;
    }
    let decoder = DecoderConfig {
        width: a.decoder_width,
        depth: a.decoder_depth,
        heads: a.decoder_heads,
        mlp_ratio: 4.0,
    };
    decoder.validate().context("invalid decoder")?;
    if !(0.0..1.0).contains(&a.mask_ratio) {
        bail!("--mask-ratio must be in [0, 1), got {}", a.mask_ratio);
    }
    let pretrain = PretrainConfig {
        vit,
        template,
        decoder,
        mask_ratio: a.mask_ratio,
        run: LoopConfig {
            epochs: a.epochs,
            batch_size: a.batch_size,
            lr: scaled_lr(a.base_lr, a.batch_size),
            min_lr: a.min_lr,
            warmup_epochs: a.warmup_epochs,
            optimizer: AdamWConfig {
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: a.weight_decay,
                grad_clip: None,
            },
            seed: a.seed,
            workers: a.workers,
            stop_after: None,
        },
        eval_images: a.eval_images,
    };
    Ok(Run {
        data: kind.name().into(),
        data_dir: dir,
        data_img_size: a.data.data_img_size,
        data_channels: a.data.data_channels,
        train_images: a.train_images,
        pretrain,
    })
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let run = if a.resume {
        super::read_run(&a.out, RUN_FILE)?
    } else {
        if a.out.join(sweet_train::run_state::CHECKPOINT_FILE).exists() {
            bail!(
                "{} already holds a run: pass --resume to continue it, or choose another --out",
                a.out.display()
            );
        }
        let train = a.data.open(Split::Train)?;
        fresh(&a, train.channels, train.height)?
    };
    let data = DataArgs {
        data: Some(run.data.parse()?),
        data_dir: Some(run.data_dir.clone()),
        data_img_size: run.data_img_size,
        data_channels: run.data_channels,
    };
    let mut train_set = data.open(Split::Train)?;
    if let Some(n) = run.train_images {
        train_set = Arc::new(train_set.take(n.min(train_set.len)));
    }
    let test_set = data.open(Split::Test)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    if !a.resume {
        super::write_json(&a.out.join(RUN_FILE), &run)?;
    }
    let mut cfg = run.pretrain.clone();
    cfg.run.stop_after = a.stop_after;
    eprintln!(
        "{} {} images (labels unused), {} per batch, lr {:e} ({}), mask ratio {}",
        if cfg.template.is_some() {
            "template pre-training on"
        } else {
            "dense MAE pre-training on"
        },
        train_set.len,
        cfg.run.batch_size,
        cfg.run.lr,
        cfg.template
            .as_ref()
            .map_or("dense".to_string(), |t| format!(
                "ranks {:?}, sws {}",
                t.ranks, t.sws
            )),
        cfg.mask_ratio
    );
    let device = super::device().autodiff();
    let mut bars = Bars::new(a.json);
    let (history, output): (Vec<PretrainMetrics>, PathBuf) = match &cfg.template {
        Some(tcfg) => {
            let model = TemplatedMae::new(&cfg, tcfg, &device)?;
            let (model, h) = pretrain(
                &cfg,
                model,
                train_set.clone(),
                test_set,
                &a.out,
                a.resume,
                &mut bars,
            )?;
            let path = a.out.join(file::TEMPLATE_FILE);
            file::save(&path, &model.encoder.valid(), tcfg)?;
            (h, path)
        }
        None => {
            let model = DenseMae::new(&cfg, &device);
            let (model, h) = pretrain(
                &cfg,
                model,
                train_set.clone(),
                test_set,
                &a.out,
                a.resume,
                &mut bars,
            )?;
            let path = a.out.join("encoder");
            checkpoint::save_model(
                &model.encoder.valid(),
                &cfg.vit,
                train_set.mean.clone(),
                train_set.std.clone(),
                &path,
            )?;
            (h, path)
        }
    };
    super::print_result(
        a.json,
        &json!({
            "output": output,
            "epochs_run": history.len(),
            "first_test_loss": history.first().map(|m| m.test_loss),
            "last_test_loss": history.last().map(|m| m.test_loss),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}
