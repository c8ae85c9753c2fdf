//! `sweet pretrain`: MAE pre-training of a weight template (or of a dense ViT with `--generator
//! dense`, of TLEG's learngene with `--generator linear-expansion`, or of WAVE's Kronecker
//! templates with `--generator kronecker`).

use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::json;
use sweet_data::Split;
use sweet_mae::decoder::DecoderConfig;
use sweet_template::{GeneratorConfig, KroneckerConfig, Orientation, SwsMode, TemplateConfig};
use sweet_train::adamw::AdamWConfig;
use sweet_train::pretrain::PretrainConfig;
use sweet_train::run::{run_pretraining, write_pretrain_output, PretrainRun};
use sweet_train::schedule::scaled_lr;
use sweet_train::LoopConfig;
use sweet_vit::VitConfig;

use crate::data_args::DataArgs;
use crate::progress::Bars;
use crate::run_folder::RunFolderArgs;

/// Pre-train once, without labels: a Tucker-factorized template G shared by every model size,
/// with the pre-training scalers, learned by masked autoencoding of a ViT whose attention and
/// MLP weights are composed from (G, X, U, V) at every step. Labels are never read.
///
/// Writes RUN/{pretrain.json, metrics.jsonl, checkpoint.safetensors, reconstructions/epoch_NNN.png}
/// and at the end RUN/template.safetensors (RUN/encoder/, a timm model folder, with --generator
/// dense; RUN/learngene.safetensors with --generator linear-expansion, for `sweet init
/// linear-expansion`; RUN/kronecker.safetensors with --generator kronecker, for `sweet init
/// kronecker`).
///
/// Example (Fashion-MNIST):
///   sweet pretrain --data fashion-mnist --data-dir data/fashion-mnist --depth 8 --width 128 --heads 4 --patch 4 --rank1 48 --rank2 128 --rank3 128 --sws nested --epochs 20 --out runs/template
///
/// TLEG's auxiliary model (same recipe and data, every block linearly expanded from a learngene):
///   sweet pretrain --generator linear-expansion --data fashion-mnist --data-dir data/fashion-mnist --depth 8 --width 128 --heads 4 --patch 4 --epochs 20 --out runs/learngene
/// The WAVE baseline's aux net (16 Kronecker templates of 32x32 per weight type, same MAE recipe):
///   sweet pretrain --generator kronecker --data fashion-mnist --data-dir data/fashion-mnist --depth 8 --width 128 --heads 4 --patch 4 --epochs 20 --out runs/kronecker
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
    /// What makes the encoder's block weights: `tucker` (SWEET's template, the default),
    /// `dense` (an ordinary ViT, the direct pre-training baseline), `linear-expansion`
    /// (TLEG's learngene: every block parameter p_i = base + (i / depth) * slope; the template
    /// flags do not apply) or `kronecker` (WAVE's Kronecker templates, sum_t S_t (x) T_t with
    /// 32x32 templates: the width must be a multiple of 32; --rank*, --orientation and --sws
    /// are refused).
    #[arg(long, value_enum)]
    pub generator: Option<GeneratorKind>,
    /// The same as --generator dense.
    #[arg(long, conflicts_with = "generator")]
    pub dense: bool,
    /// Kronecker templates per weight type (qkv, proj, fc1, fc2), with --generator kronecker.
    #[arg(long, default_value_t = sweet_template::kronecker::DEFAULT_TEMPLATES, value_parser = super::at_least_one)]
    pub templates: usize,
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
    #[arg(long, default_value_t = 256, value_parser = super::at_least_one)]
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
    #[command(flatten)]
    pub folder: RunFolderArgs,
}

pub const RUN_FILE: &str = PretrainRun::FILE;

/// The `--generator` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GeneratorKind {
    Tucker,
    Dense,
    LinearExpansion,
    Kronecker,
}

impl GeneratorKind {
    /// The generator asked for by `--generator` and `--dense` (an alias of `--generator
    /// dense`); default `tucker`.
    pub fn from_flags(generator: Option<GeneratorKind>, dense: bool) -> Self {
        if dense {
            GeneratorKind::Dense
        } else {
            generator.unwrap_or(GeneratorKind::Tucker)
        }
    }

    /// The generator's config; `template` is used by `tucker` only (and its architecture by
    /// `kronecker`, with the default 16 templates of 32 x 32 per type).
    pub fn config(self, template: TemplateConfig) -> GeneratorConfig {
        match self {
            GeneratorKind::Tucker => GeneratorConfig::Tucker(template),
            GeneratorKind::Dense => GeneratorConfig::Dense,
            GeneratorKind::LinearExpansion => GeneratorConfig::LinearExpansion,
            GeneratorKind::Kronecker => {
                GeneratorConfig::Kronecker(KroneckerConfig::with_defaults(template.vit))
            }
        }
    }
}

impl Args {
    fn generator_kind(&self) -> GeneratorKind {
        GeneratorKind::from_flags(self.generator, self.dense)
    }
}

fn fresh(a: &Args, chans: usize, img: sweet_vit::ImgSize) -> anyhow::Result<PretrainRun> {
    let dataset = a.data.config()?;
    let vit = VitConfig {
        img_size: img,
        patch_size: a.patch,
        in_chans: chans,
        embed_dim: a.width,
        depth: a.depth,
        num_heads: a.heads,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    vit.validate().context("invalid architecture")?;
    let kind = a.generator_kind();
    let template = (kind == GeneratorKind::Tucker).then(|| TemplateConfig {
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
    let kronecker = (kind == GeneratorKind::Kronecker).then(|| KroneckerConfig {
        templates: a.templates,
        ..KroneckerConfig::with_defaults(vit.clone())
    });
    if let Some(k) = &kronecker {
        k.validate().context("invalid Kronecker templates")?;
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
        generator: match (kind, template, kronecker) {
            (GeneratorKind::LinearExpansion, _, _) => GeneratorConfig::LinearExpansion,
            (_, _, Some(k)) => GeneratorConfig::Kronecker(k),
            (_, Some(t), _) => GeneratorConfig::Tucker(t),
            (_, None, None) => GeneratorConfig::Dense,
        },
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
            seed: a.folder.seed,
            workers: a.folder.workers,
            max_steps: None,
            stop_after: None,
            replicas: Vec::new(),
        },
        eval_images: a.eval_images,
    };
    Ok(PretrainRun {
        dataset,
        train_images: a.train_images,
        pretrain,
    })
}

/// A template flag with `--generator linear-expansion` or `kronecker` is an error (it would be
/// ignored).
fn refuse_template_flags(a: &Args, given: &[String]) -> anyhow::Result<()> {
    let name = match a.generator_kind() {
        GeneratorKind::LinearExpansion => "linear-expansion",
        GeneratorKind::Kronecker => "kronecker",
        _ => return Ok(()),
    };
    let template = ["--rank1", "--rank2", "--rank3", "--orientation", "--sws"];
    let typed: Vec<&str> = template
        .into_iter()
        .filter(|f| given.iter().any(|g| g == f))
        .collect();
    if !typed.is_empty() {
        bail!(
            "{} set(s) the Tucker template, which --generator {name} does not use: drop it",
            typed.join(", ")
        );
    }
    Ok(())
}

/// Runs `sweet pretrain`; `given` names the flags typed on the command line.
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let f = &a.folder;
    let new = || {
        refuse_template_flags(&a, given)?;
        sweet_train::pretrain::check_encoder_width(a.width, a.heads)?;
        let train = a.data.open(Split::Train)?;
        fresh(
            &a,
            train.channels,
            sweet_vit::ImgSize::new(train.height, train.width),
        )
    };
    let run: PretrainRun = f.open(RUN_FILE, given, new, |r| &mut r.pretrain.run)?;
    let mut bars = Bars::new(f.json);
    let done = run_pretraining(&run, &f.out, f.resume, &mut bars, &super::device())?;
    let output = write_pretrain_output(&run, &f.out, &done)?;
    super::print_result(
        f.json,
        &json!({
            "output": output,
            "epochs_run": done.history.len(),
            "first_test_loss": done.history.first().map(|m| m.test_loss),
            "last_test_loss": done.history.last().map(|m| m.test_loss),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}
