//! `sweet init`: write a freshly initialized model folder, by timm's init, from a template or
//! from a learngene.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use sweet_template::WidthRule;
use sweet_train::run::{
    run_expansion, run_init, run_init_kronecker, ExpandRun, InitRecord, InitRun, KroneckerInitRun,
    ScalerLearning, INIT_FILE,
};
use sweet_vit::{checkpoint, Vit, VitConfig};

use crate::data_args::DataArgs;
use crate::progress::Bars;

#[derive(clap::Subcommand, Debug)]
pub enum Init {
    /// timm's default init (trunc-normal .02 Linear weights, zero biases, unit LayerNorms).
    ///
    /// Example: sweet init random --img-size 28 --in-chans 1 --patch 4 --depth 6 --width 128 --heads 4 --classes 10 --seed 0 --out models/random
    Random(RandomArgs),
    /// SWEET: a ViT of any depth and width from a pre-trained template (METHOD.md section 5).
    ///
    /// New scalers are mapped from the template's (X interpolated along relative depth, U and V
    /// cut by --width-rule or extended with random rows at the trained std), the ViT parts follow
    /// the same rules, then the scalers (and those parts) learn for --scaler-steps steps of the MAE
    /// loss on --scaler-images unlabeled images with G frozen, SWS off and no weight decay on the
    /// scalers, reusing the template's decoder. The result is composed once and written as an
    /// ordinary timm model folder (model.safetensors, config.json with the template's mean/std,
    /// a fresh head for --classes) with init.json saying how it was made. It can produce any depth
    /// >= 1 and any width that is a multiple of 4 (the sin-cos position table) and of the head dim.
    ///
    /// Example (a template from `sweet pretrain ... --out runs/template`; 12 layers of width 192):
    ///   sweet init sweet --template runs/template/template.safetensors --depth 12 --width 192 --classes 10 --data fashion-mnist --data-dir data/fashion-mnist --out models/sweet-d12-w192
    ///
    /// --scaler-steps 0 is the zero-shot mode (no data needed). A killed run continues with the
    /// same command and --resume.
    Sweet(SweetArgs),
    /// WAVE (Kronecker weight templates, BASELINES.md section 4): a ViT of any depth and of a
    /// width that is a multiple of 32 from the templates of `sweet pretrain --generator kronecker`.
    ///
    /// Every attention and MLP matrix is sum_t S_t (x) T_t: the 32x32 templates T (16 per weight
    /// type) stay frozen; the target's scalers S start from the aux net's (interpolated along
    /// relative depth per weight type and template; in width, tiles cut or extended per segment:
    /// q|k|v for qkv, the hidden channels for fc1/fc2; new tiles at the trained std), then learn
    /// for --scaler-steps steps of the MAE loss exactly as `sweet init sweet` learns SWEET's
    /// (same defaults, decoder reuse and data). Biases, norms and embeddings follow SWEET's rules;
    /// the head is fresh. The result is an ordinary timm model folder (model.safetensors,
    /// config.json with the aux's mean/std) with init.json saying how it was made. It cannot
    /// produce widths that are not multiples of 32.
    ///
    /// Example (templates from `sweet pretrain --generator kronecker ... --out runs/kronecker`):
    ///   sweet init kronecker --templates runs/kronecker/kronecker.safetensors --depth 12 --width 192 --classes 10 --data fashion-mnist --data-dir data/fashion-mnist --out models/wave-d12-w192
    ///
    /// --scaler-steps 0 is the zero-shot mode (no data needed). A killed run continues with the
    /// same command and --resume.
    Kronecker(KroneckerArgs),
    /// TLEG (linear expansion of learngenes, Xia et al., AAAI 2024): a ViT of any depth >= 1 at the learngene's width.
    ///
    /// Every block parameter of layer i (qkv, proj, fc1, fc2 weights and biases, both
    /// LayerNorms) is p_i = base + (i / depth) * slope, from the learngene of an auxiliary model
    /// pre-trained by MAE (`sweet pretrain --generator linear-expansion`, which writes
    /// RUN/learngene.safetensors); patch embedding, class token, position embedding and final
    /// norm are the auxiliary model's; the head is fresh (timm's init, from --seed). There is no
    /// per-target training step and no data is read. It cannot change the width: another width
    /// needs its own auxiliary model. The result is an ordinary timm model folder
    /// (model.safetensors, config.json with the learngene's mean/std) with init.json saying how
    /// it was made.
    ///
    /// Example (a learngene from `sweet pretrain --generator linear-expansion ... --out runs/learngene`; 12 layers):
    ///   sweet init linear-expansion --learngene runs/learngene/learngene.safetensors --depth 12 --classes 10 --out models/tleg-d12
    LinearExpansion(LinearExpansionArgs),
    /// Mimetic init (Trockman & Kolter 2023; BASELINES.md §1): data-free attention weights.
    ///
    /// Example: sweet init mimetic --img-size 28 --in-chans 1 --patch 4 --depth 12 --width 192 --heads 6 --classes 10 --seed 0 --out models/mimetic-d12-w192
    ///
    /// Per layer and head, W_q W_kᵀ is the best rank-(head dim) part of α1 Z + β1 I, and per layer
    /// W_v W_proj = α2 Z' − β2 I exactly (Z uniform, variance 1/width; factors from an f64 SVD),
    /// in the orientation that realises these products in timm's layout. Every other tensor, the
    /// biases and the head included, is timm's default init (as `sweet init random`). Any depth
    /// and width with a whole head dim; needs no data and no pre-trained model. Writes
    /// model.safetensors, config.json and init.json.
    Mimetic(super::baselines::MimeticArgs),
    /// Weight selection (Xu et al. 2024; BASELINES.md §2): a smaller model from a larger one.
    ///
    /// Example: sweet init weight-selection --from runs/dense-d12-w192/encoder --depth 6 --width 128 --classes 10 --out models/ws-d6-w128
    ///
    /// --from is any model folder with timm keys (model.safetensors + config.json), e.g. the
    /// encoder/ of `sweet pretrain --dense`. The target keeps the teacher's first --depth layers
    /// and, in every tensor, evenly spaced entries of each axis that shrinks (every k-th when the
    /// width divides, else rounded linspace); q, k and v are selected separately; nothing is
    /// rescaled; the head is fresh for --classes. The target keeps the teacher's image size,
    /// channels and patch (so its token count). It can only shrink: a deeper or wider target is
    /// an error (grow with `sweet init ligo`). Heads default to --width / the teacher's head dim.
    /// Writes model.safetensors, config.json (the teacher's mean/std) and init.json.
    WeightSelection(super::baselines::SelectionArgs),
    /// LiGO (Wang et al. 2023; BASELINES.md §5): a larger model grown from a smaller one by
    /// learned linear operators.
    ///
    /// Example: sweet init ligo --from runs/dense-d4-w64/encoder --depth 12 --width 192 --classes 10 --data mnist --data-dir data/mnist --out models/ligo-d12-w192
    ///
    /// --from is any model folder with timm keys (e.g. the encoder/ of `sweet pretrain --dense`).
    /// Depth: every target layer is a learned mixture of the source layers, per module (q, k, v,
    /// proj, norms, fc1, fc2; weights and biases apart), starting near layer i mod L
    /// (stackbert_noisy). Width: old units are kept, new units are learned mixtures of old ones
    /// (one operator for the residual stream, per layer one for q, k, v and the MLP). Only the
    /// operators (and a fresh MAE decoder, trained jointly: the source folder has none) learn, for
    /// --steps steps of the MAE loss on --images unlabeled images (AdamW, 10-step warm-up then
    /// cosine decay, weight decay 0.1, clipping 1.0); the source stays frozen. Then the grown model
    /// is written with a fresh head: model.safetensors, config.json (the source's mean/std),
    /// init.json (MAE loss before and after), operator-training/ (metrics, checkpoint). The target
    /// keeps the source's image size, channels and patch. It can only grow: a shallower or narrower
    /// target is an error (shrink with `sweet init weight-selection`). Heads default to --width /
    /// the source's head dim. Without --data, the data set of the source's pre-training run
    /// (RUN/pretrain.json beside RUN/encoder) is used; --steps 0 (the operators as initialized)
    /// needs no data. A killed run continues with the same command and --resume.
    Ligo(super::baselines::LigoArgs),
}

#[derive(clap::Args, Debug)]
pub struct LinearExpansionArgs {
    /// The learngene file of a `sweet pretrain --generator linear-expansion` run
    /// (RUN/learngene.safetensors).
    #[arg(long)]
    pub learngene: PathBuf,
    /// Layers of the new model (any depth >= 1).
    #[arg(long)]
    pub depth: usize,
    /// Width of the new model: only the learngene's own (the default) can be made.
    #[arg(long)]
    pub width: Option<usize>,
    /// Classifier outputs of the fresh head (0 = none).
    #[arg(long)]
    pub classes: usize,
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
pub struct KroneckerArgs {
    /// The Kronecker template file of a `sweet pretrain --generator kronecker` run
    /// (RUN/kronecker.safetensors).
    #[arg(long)]
    pub templates: PathBuf,
    #[arg(long)]
    pub depth: usize,
    /// A multiple of 32 (the template size).
    #[arg(long)]
    pub width: usize,
    /// Heads (default: width / the aux net's head dim).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Classifier outputs of the fresh head (0 = none).
    #[arg(long)]
    pub classes: usize,
    #[command(flatten)]
    pub learning: LearningArgs,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a killed scaler learning in --out.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub json: bool,
}

/// Scaler learning's flags (the same for every template).
#[derive(clap::Args, Debug)]
pub struct LearningArgs {
    /// Steps of scaler learning (0 = zero-shot).
    #[arg(long, default_value_t = ScalerLearning::default().steps)]
    pub scaler_steps: usize,
    /// Unlabeled images for scaler learning: the first M of the training split.
    #[arg(long, default_value_t = ScalerLearning::default().images)]
    pub scaler_images: usize,
    #[arg(long, default_value_t = ScalerLearning::default().batch_size, value_parser = super::at_least_one)]
    pub scaler_batch_size: usize,
    /// Peak learning rate of scaler learning (warm-up, then cosine to 0).
    #[arg(long, default_value_t = ScalerLearning::default().lr)]
    pub scaler_lr: f64,
    #[arg(long, default_value_t = ScalerLearning::default().warmup_steps)]
    pub scaler_warmup_steps: usize,
    /// Test images on which the MAE loss is reported before and after.
    #[arg(long, default_value_t = ScalerLearning::default().eval_images)]
    pub eval_images: usize,
    /// Unlabeled data for scaler learning (default: the template's pre-training data set, with
    /// --data-dir). Its labels are never read.
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

#[derive(clap::Args, Debug)]
pub struct SweetArgs {
    /// The template file of a `sweet pretrain` run (RUN/template.safetensors).
    #[arg(long)]
    pub template: PathBuf,
    #[arg(long)]
    pub depth: usize,
    #[arg(long)]
    pub width: usize,
    /// Heads (default: width / the template's head dim; needed for widths it does not divide).
    #[arg(long)]
    pub heads: Option<usize>,
    /// Classifier outputs of the fresh head (0 = none).
    #[arg(long)]
    pub classes: usize,
    /// For widths below the template's: `rows` (the first rows of U and V, what --sws channels
    /// trains) or `ranks` (also the leading fibres of G, what --sws nested trains). Default: the
    /// rule matching the template's SWS mode.
    #[arg(long)]
    pub width_rule: Option<WidthRule>,
    #[command(flatten)]
    pub learning: LearningArgs,
    /// Output model folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue a killed scaler learning in --out.
    #[arg(long)]
    pub resume: bool,
    #[arg(long)]
    pub json: bool,
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
    let a = match cmd {
        Init::Random(a) => a,
        Init::Sweet(a) => return sweet(a),
        Init::Kronecker(a) => return kronecker(a),
        Init::LinearExpansion(a) => return linear_expansion(a),
        Init::Mimetic(a) => return super::baselines::mimetic(a),
        Init::WeightSelection(a) => return super::baselines::weight_selection(a),
        Init::Ligo(a) => return super::baselines::ligo(a),
    };
    let (cfg, mean, std) = random_config(&a)?;
    let model = Vit::new(&cfg, a.seed, &super::device());
    checkpoint::save_model(&model, &cfg, mean, std, &a.out)?;
    let params = burn::module::Module::num_params(&model);
    super::print_result(a.json, &json!({ "model": a.out, "parameters": params }));
    Ok(())
}

/// The architecture and the normalization (mean, std per channel) these flags give.
pub fn random_config(a: &RandomArgs) -> anyhow::Result<(VitConfig, Vec<f32>, Vec<f32>)> {
    let cfg = VitConfig {
        img_size: a.img_size.into(),
        patch_size: a.patch,
        in_chans: a.in_chans,
        embed_dim: a.width,
        depth: a.depth,
        num_heads: a.heads,
        mlp_ratio: a.mlp_ratio,
        num_classes: a.classes,
        global_pool: Default::default(),
    };
    cfg.validate().context("invalid architecture")?;
    let mean = a.mean.clone().unwrap_or_else(|| vec![0.5; a.in_chans]);
    let std = a.std.clone().unwrap_or_else(|| vec![0.5; a.in_chans]);
    anyhow::ensure!(
        mean.len() == a.in_chans && std.len() == a.in_chans,
        "--mean and --std need one value per channel ({})",
        a.in_chans
    );
    Ok((cfg, mean, std))
}

/// Refuses an output folder that already holds an initialized model.
fn refuse_finished(out: &Path) -> anyhow::Result<()> {
    if out.join(INIT_FILE).exists() {
        anyhow::bail!(
            "{} already holds an initialized model ({INIT_FILE}): choose another --out",
            out.display()
        );
    }
    Ok(())
}

fn linear_expansion(a: LinearExpansionArgs) -> anyhow::Result<()> {
    refuse_finished(&a.out)?;
    let run = ExpandRun {
        learngene: a.learngene.clone(),
        depth: a.depth,
        width: a.width,
        classes: a.classes,
        seed: a.seed,
    };
    let record = run_expansion(&run, &a.out, &super::device())?;
    super::print_result(
        a.json,
        &json!({
            "model": a.out,
            "depth": record.vit.depth,
            "width": record.vit.embed_dim,
            "heads": record.vit.num_heads,
            "parameters": record.parameters,
            "learngene_sha256": record.method.learngene_sha256,
            "seconds": record.seconds,
        }),
    );
    Ok(())
}

impl LearningArgs {
    fn scalers(&self) -> ScalerLearning {
        ScalerLearning {
            steps: self.scaler_steps,
            images: self.scaler_images,
            batch_size: self.scaler_batch_size,
            lr: self.scaler_lr,
            warmup_steps: self.scaler_warmup_steps,
            eval_images: self.eval_images,
            workers: self.workers,
        }
    }

    /// The scaler-learning data (`None` at 0 steps); by default the set the template was
    /// pre-trained on (`pretrained`).
    fn data(&self, pretrained: &str) -> anyhow::Result<Option<sweet_train::run::DataConfig>> {
        if self.scaler_steps == 0 {
            return Ok(None);
        }
        let mut d = self.data.clone();
        if d.data.is_none() {
            d.data = Some(
                pretrained
                    .parse()
                    .map_err(|e| anyhow::anyhow!("the template's data set {pretrained:?}: {e}"))?,
            );
        }
        Ok(Some(d.config().context(
            "scaler learning reads unlabeled images: give --data-dir (and --data for another set than the template's), or --scaler-steps 0",
        )?))
    }
}

/// Refuses an `out` that holds a finished initialization, or a scaler-learning run without
/// `--resume`.
fn check_out(out: &Path, resume: bool) -> anyhow::Result<()> {
    refuse_finished(out)?;
    let scaler_dir = out.join(sweet_train::run::SCALER_RUN);
    if scaler_dir.exists() && !resume {
        anyhow::bail!(
            "{} holds a scaler-learning run: pass --resume to continue it, or choose another --out",
            out.display()
        );
    }
    Ok(())
}

/// Says what an initialization with scaler learning did (unless `json`), then prints its
/// result: the model folder `out`, the record's size and measurements, and the method's
/// `extra` entries.
fn report<S>(
    json: bool,
    out: &Path,
    steps: usize,
    record: &InitRecord<S>,
    extra: &[(&str, serde_json::Value)],
) {
    if !json {
        match (record.mae_loss_before, record.mae_loss_after) {
            (Some(b), Some(f)) => eprintln!(
                "MAE loss {b:.4} -> {f:.4} after {steps} steps of scaler learning ({:.1} s)",
                record.scaler_seconds
            ),
            _ => eprintln!("zero-shot: composed from the mapped scalers"),
        }
    }
    let mut v = json!({
        "model": out,
        "depth": record.vit.depth,
        "width": record.vit.embed_dim,
        "heads": record.vit.num_heads,
        "parameters": record.parameters,
        "mae_loss_before": record.mae_loss_before,
        "mae_loss_after": record.mae_loss_after,
        "scaler_seconds": record.scaler_seconds,
        "seconds": record.seconds,
    });
    for (k, x) in extra {
        v[*k] = x.clone();
    }
    super::print_result(json, &v);
}

fn sweet(a: SweetArgs) -> anyhow::Result<()> {
    check_out(&a.out, a.resume)?;
    let device = super::device();
    let t = sweet_template::file::load(&a.template, &device)?;
    let run = InitRun {
        template: a.template.clone(),
        depth: a.depth,
        width: a.width,
        heads: a.heads,
        classes: a.classes,
        width_rule: a
            .width_rule
            .unwrap_or_else(|| WidthRule::matching(t.cfg.sws)),
        scalers: a.learning.scalers(),
        data: a.learning.data(&t.provenance.data)?,
        seed: a.learning.seed,
    };
    drop(t);
    let mut bars = Bars::new(a.json);
    let record = run_init(&run, &a.out, &mut bars, &device)?;
    report(
        a.json,
        &a.out,
        run.scalers.steps,
        &record,
        &[("width_rule", json!(run.width_rule))],
    );
    Ok(())
}

fn kronecker(a: KroneckerArgs) -> anyhow::Result<()> {
    check_out(&a.out, a.resume)?;
    let device = super::device();
    let t = sweet_template::kronecker::file::load(&a.templates, &device)?;
    let run = KroneckerInitRun {
        templates: a.templates.clone(),
        depth: a.depth,
        width: a.width,
        heads: a.heads,
        classes: a.classes,
        scalers: a.learning.scalers(),
        data: a.learning.data(&t.provenance.data)?,
        seed: a.learning.seed,
    };
    drop(t);
    let mut bars = Bars::new(a.json);
    let record = run_init_kronecker(&run, &a.out, &mut bars, &device)?;
    report(
        a.json,
        &a.out,
        run.scalers.steps,
        &record,
        &[("templates_sha256", json!(record.method.templates_sha256))],
    );
    Ok(())
}
