//! `sweet bench`: timings that print figures (medians of repeated runs), never pass/fail.

use std::time::Instant;

use anyhow::Context;
use burn::prelude::*;
use serde_json::json;
use sweet_train::adamw::{AdamW, AdamWConfig};
use sweet_train::loss::cross_entropy;
use sweet_vit::{Vit, VitConfig};

#[derive(clap::Subcommand, Debug)]
pub enum Bench {
    /// One classification training step (forward, backward, AdamW) on random data, as
    /// ../shared/bench/torch_vit_step.py --task classify times it in PyTorch.
    ///
    /// Example: sweet bench step --depth 6 --width 192 --heads 3 --img-size 32 --patch 4 --in-chans 3 --batch-size 64
    Step(StepArgs),
    /// Composing every block weight of a templated ViT from (G, X, U, V), full ranks r2 = r3 = D
    /// (METHOD.md: well under a second for ViT-S on a laptop CPU).
    ///
    /// Example (ViT-S): sweet bench compose --depth 12 --width 384 --heads 6 --rank1 48
    Compose(ComposeArgs),
    /// One templated MAE pre-training step (compose, encoder on the visible patches, decoder,
    /// backward, AdamW), as ../shared/bench/torch_vit_step.py --task mae times a dense MAE.
    ///
    /// Example: sweet bench mae-step --depth 8 --width 128 --heads 4 --img-size 28 --patch 4 --in-chans 1 --batch-size 64 --rank1 48
    MaeStep(MaeStepArgs),
    /// Initialization from a template without scaler learning (the zero-shot path of `sweet init
    /// sweet`): mapping the scalers and parts to each target, composing every block, and the
    /// dense model, on a fresh template (224 px, patch 16). Scaler learning adds
    /// `--scaler-steps` MAE steps at the target's size (`sweet bench mae-step`).
    ///
    /// Example: sweet bench init --depth 12 --width 384 --heads 6 --targets 12x192,12x384
    Init(InitArgs),
    /// Inference throughput of a dense ViT (forward only, no autodiff).
    ///
    /// Example: sweet bench predict --depth 6 --width 192 --heads 3 --img-size 32 --batch-size 256
    Predict(StepArgs),
}

#[derive(clap::Args, Debug)]
pub struct ComposeArgs {
    #[arg(long, default_value_t = 12)]
    pub depth: usize,
    #[arg(long, default_value_t = 384)]
    pub width: usize,
    #[arg(long, default_value_t = 6)]
    pub heads: usize,
    #[arg(long, default_value_t = 48)]
    pub rank1: usize,
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    #[arg(long, default_value_t = 10, value_parser = super::at_least_one)]
    pub steps: usize,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// The template's depth, width and heads (ranks 48, width, width).
    #[arg(long, default_value_t = 12)]
    pub depth: usize,
    #[arg(long, default_value_t = 384)]
    pub width: usize,
    #[arg(long, default_value_t = 6)]
    pub heads: usize,
    /// Targets as DEPTHxWIDTH, comma-separated (heads: width / the template's head dim).
    #[arg(long, value_delimiter = ',', default_value = "12x192,12x384")]
    pub targets: Vec<String>,
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    #[arg(long, default_value_t = 5, value_parser = super::at_least_one)]
    pub steps: usize,
}

/// The headless 224 px, patch 16, RGB encoder of the composition benchmarks.
fn encoder_224(depth: usize, width: usize, heads: usize) -> VitConfig {
    VitConfig {
        img_size: 224.into(),
        patch_size: 16,
        in_chans: 3,
        embed_dim: width,
        depth,
        num_heads: heads,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    }
}

fn init(a: InitArgs) -> anyhow::Result<()> {
    let vit = encoder_224(a.depth, a.width, a.heads);
    let cfg = sweet_template::TemplateConfig::with_default_ranks(vit);
    let device = super::device();
    let template = sweet_template::templated_vit(&cfg, 0, &device)?.with_sincos_pos_embed();
    for t in &a.targets {
        let (d, w) = t
            .split_once('x')
            .and_then(|(d, w)| Some((d.parse::<usize>().ok()?, w.parse::<usize>().ok()?)))
            .with_context(|| format!("target {t:?} is not DEPTHxWIDTH (e.g. 12x192)"))?;
        let heads = sweet_template::target_heads(&cfg.vit, w, None)?;
        let target = sweet_template::target_config(&cfg, d, w, heads, 1000);
        let mut times = Vec::new();
        for i in 0..a.warmup + a.steps {
            let start = Instant::now();
            let model = sweet_template::init_from_template(
                &template,
                &target,
                sweet_template::WidthRule::Ranks,
                0,
                &device,
            )?;
            let dense = model.to_dense();
            let _ = dense.blocks[0].norm1.weight.val().into_data();
            let _ = dense.generator.blocks[d - 1]
                .mlp
                .fc2
                .weight
                .val()
                .into_data();
            if i >= a.warmup {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let (med, min, max) = summarize(&mut times);
        println!(
            "RESULT task=init template=({}, {}) target=({d}, {w}) heads={heads} median_ms={med:.1} min_ms={min:.1} max_ms={max:.1} peak_rss_mib={:.0}",
            a.depth, a.width, peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

fn compose(a: ComposeArgs) -> anyhow::Result<()> {
    let vit = encoder_224(a.depth, a.width, a.heads);
    let cfg = sweet_template::TemplateConfig {
        ranks: [a.rank1, a.width, a.width],
        ..sweet_template::TemplateConfig::with_default_ranks(vit)
    };
    let model = sweet_template::templated_vit(&cfg, 0, &super::device())?;
    let mut times = Vec::new();
    for i in 0..a.warmup + a.steps {
        let t = Instant::now();
        let layers =
            sweet_vit::BlockGenerator::layers(&model.generator, &sweet_template::SwsDraw::Full);
        for l in layers {
            let _ = l.fc2.into_data();
        }
        if i >= a.warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (med, min, max) = summarize(&mut times);
    println!(
        "RESULT task=compose depth={} width={} ranks=[{}, {}, {}] median_ms={med:.1} min_ms={min:.1} max_ms={max:.1} peak_rss_mib={:.0}",
        a.depth, a.width, a.rank1, a.width, a.width, peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct StepArgs {
    #[arg(long, default_value_t = 6)]
    pub depth: usize,
    #[arg(long, default_value_t = 192)]
    pub width: usize,
    #[arg(long, default_value_t = 3)]
    pub heads: usize,
    #[arg(long, default_value_t = 32)]
    pub img_size: usize,
    #[arg(long, default_value_t = 4)]
    pub patch: usize,
    #[arg(long, default_value_t = 3)]
    pub in_chans: usize,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 10, value_parser = super::at_least_one)]
    pub classes: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20, value_parser = super::at_least_one)]
    pub steps: usize,
    #[arg(long)]
    pub json: bool,
}

/// Peak resident memory of this process in MiB (VmHWM), where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Median, min and max of `times` (ms).
pub fn summarize(times: &mut [f64]) -> (f64, f64, f64) {
    times.sort_by(|a, b| a.total_cmp(b));
    let n = times.len();
    let med = if n % 2 == 1 {
        times[n / 2]
    } else {
        0.5 * (times[n / 2 - 1] + times[n / 2])
    };
    (med, times[0], times[n - 1])
}

/// Runs `f` `warmup + steps` times and returns the timed milliseconds of the last `steps`.
fn time_runs(warmup: usize, steps: usize, mut f: impl FnMut()) -> Vec<f64> {
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t = Instant::now();
        f();
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Prints one `RESULT task=... median_ms=...` line (or one JSON line with `--json`).
fn report(task: &str, params: usize, batch: usize, mut times: Vec<f64>, json_out: bool) {
    let (med, min, max) = summarize(&mut times);
    let threads = threads();
    let img_per_s = batch as f64 * 1e3 / med;
    let rss = peak_rss_mib();
    if json_out {
        println!(
            "{}",
            json!({ "task": task, "params": params, "threads": threads, "median_ms": med, "min_ms": min, "max_ms": max, "img_per_s": img_per_s, "peak_rss_mib": rss })
        );
    } else {
        println!(
            "RESULT task={task} sweet params={params} threads={threads} median_ms={med:.1} min_ms={min:.1} max_ms={max:.1} img_per_s={img_per_s:.1} peak_rss_mib={:.0}",
            rss.unwrap_or(f64::NAN)
        );
    }
}

#[derive(clap::Args, Debug)]
pub struct MaeStepArgs {
    #[arg(long, default_value_t = 8)]
    pub depth: usize,
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    #[arg(long, default_value_t = 28)]
    pub img_size: usize,
    #[arg(long, default_value_t = 4)]
    pub patch: usize,
    #[arg(long, default_value_t = 1)]
    pub in_chans: usize,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 48)]
    pub rank1: usize,
    /// Default: the width.
    #[arg(long)]
    pub rank2: Option<usize>,
    /// Default: the width.
    #[arg(long)]
    pub rank3: Option<usize>,
    /// Width-wise stochastic scaling mode of the timed steps.
    #[arg(long, default_value = "nested")]
    pub sws: sweet_template::SwsMode,
    /// Time a dense (unconstrained) MAE instead, as `sweet pretrain --dense` trains.
    #[arg(long)]
    pub dense: bool,
    /// The generator timed, as `sweet pretrain --generator` (default tucker).
    #[arg(long, value_enum, conflicts_with = "dense")]
    pub generator: Option<super::pretrain::GeneratorKind>,
    #[arg(long, default_value_t = 0.75)]
    pub mask_ratio: f64,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    #[arg(long, default_value_t = 20, value_parser = super::at_least_one)]
    pub steps: usize,
    #[arg(long)]
    pub json: bool,
}

fn mae_step(a: MaeStepArgs) -> anyhow::Result<()> {
    use rand::SeedableRng;
    use sweet_train::pretrain::{Mae, PretrainConfig};
    use sweet_train::LoopConfig;
    let vit = VitConfig {
        img_size: a.img_size.into(),
        patch_size: a.patch,
        in_chans: a.in_chans,
        embed_dim: a.width,
        depth: a.depth,
        num_heads: a.heads,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    sweet_train::pretrain::check_encoder_width(a.width, a.heads)?;
    vit.validate().context("invalid architecture")?;
    let tcfg = sweet_template::TemplateConfig {
        ranks: [
            a.rank1,
            a.rank2.unwrap_or(a.width),
            a.rank3.unwrap_or(a.width),
        ],
        sws: a.sws,
        ..sweet_template::TemplateConfig::with_default_ranks(vit.clone())
    };
    tcfg.validate().context("invalid template")?;
    let kind = super::pretrain::GeneratorKind::from_flags(a.generator, a.dense);
    let optimizer = AdamWConfig {
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.05,
        grad_clip: None,
    };
    let cfg = PretrainConfig {
        vit,
        generator: kind.config(tcfg.clone()),
        decoder: Default::default(),
        mask_ratio: a.mask_ratio,
        run: LoopConfig {
            epochs: 1,
            batch_size: a.batch_size,
            lr: 1e-4,
            min_lr: 0.0,
            warmup_epochs: 0.0,
            optimizer: optimizer.clone(),
            seed: 0,
            workers: 1,
            max_steps: None,
            stop_after: None,
            replicas: Vec::new(),
        },
        eval_images: 0,
    };
    let device = super::device().autodiff();
    let x = Tensor::<4>::random(
        [a.batch_size, a.in_chans, a.img_size, a.img_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let n = cfg.vit.num_patches();
    let mut opt = AdamW::new(optimizer);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut step_count = 0u64;
    let mut slot = Some(Mae::new(&cfg, &device)?);
    let times = time_runs(a.warmup, a.steps, || {
        let model = slot.take().expect("model is put back every step");
        step_count += 1;
        let plan = sweet_mae::masking::random_masking(a.batch_size, n, a.mask_ratio, step_count);
        let draw = cfg.generator.draw(&mut rng);
        let (loss, _) = model.step_loss(x.clone(), &plan, &draw);
        let grads = loss.backward();
        slot = Some(opt.step(model, &grads, 1e-4).0);
        let _ = loss.into_scalar::<f32>();
    });
    let params = burn::module::Module::num_params(slot.as_ref().expect("model"));
    report(
        match kind {
            super::pretrain::GeneratorKind::Tucker => "mae",
            super::pretrain::GeneratorKind::Dense => "mae-dense",
            super::pretrain::GeneratorKind::LinearExpansion => "mae-linear-expansion",
            super::pretrain::GeneratorKind::Kronecker => "mae-kronecker",
        },
        params,
        a.batch_size,
        times,
        a.json,
    );
    Ok(())
}

impl StepArgs {
    /// The benchmarked ViT (checked).
    fn vit(&self) -> anyhow::Result<VitConfig> {
        let cfg = VitConfig {
            img_size: self.img_size.into(),
            patch_size: self.patch,
            in_chans: self.in_chans,
            embed_dim: self.width,
            depth: self.depth,
            num_heads: self.heads,
            mlp_ratio: 4.0,
            num_classes: self.classes,
            global_pool: Default::default(),
        };
        cfg.validate().context("invalid architecture")?;
        Ok(cfg)
    }
}

fn predict(a: StepArgs) -> anyhow::Result<()> {
    let cfg = a.vit()?;
    let device = super::device();
    let model = Vit::new(&cfg, 0, &device);
    let x = Tensor::<4>::random(
        [a.batch_size, a.in_chans, a.img_size, a.img_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let times = time_runs(a.warmup, a.steps, || {
        let _ = model.forward(x.clone()).into_data();
    });
    report(
        "predict",
        burn::module::Module::num_params(&model),
        a.batch_size,
        times,
        a.json,
    );
    Ok(())
}

fn step(a: StepArgs) -> anyhow::Result<()> {
    let cfg = a.vit()?;
    let device = super::device().autodiff();
    let mut opt = AdamW::new(AdamWConfig {
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.05,
        grad_clip: None,
    });
    let x = Tensor::<4>::random(
        [a.batch_size, a.in_chans, a.img_size, a.img_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let y: Vec<i64> = (0..a.batch_size as i64)
        .map(|i| i % a.classes as i64)
        .collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [a.batch_size]), &device);
    let mut slot = Some(Vit::new(&cfg, 0, &device));
    let times = time_runs(a.warmup, a.steps, || {
        let model = slot.take().expect("model is put back every step");
        let loss = cross_entropy(model.forward(x.clone()), y.clone(), 0.0);
        let grads = loss.backward();
        slot = Some(opt.step(model, &grads, 1e-4).0);
        let _ = loss.into_scalar::<f32>();
    });
    report(
        "classify",
        burn::module::Module::num_params(slot.as_ref().expect("model")),
        a.batch_size,
        times,
        a.json,
    );
    Ok(())
}

pub fn run(cmd: Bench) -> anyhow::Result<()> {
    match cmd {
        Bench::Step(a) => step(a),
        Bench::Compose(a) => compose(a),
        Bench::Init(a) => init(a),
        Bench::MaeStep(a) => mae_step(a),
        Bench::Predict(a) => predict(a),
    }
}
