//! LiGO: learned growth operators (Wang et al., ICLR 2023, arXiv 2303.00980; BASELINES.md §5;
//! official code `VITA-Group/LiGO` at 68e657d, `ligo.py`, `run_grow_distributed.py` **[code]**,
//! ViT port `eddiexia98/LeTs` **[3p]**): a larger ViT `(L2, D2)` grown from a smaller
//! pre-trained one `(L1, D1)` by linear operators, learned for a few steps, then materialized.
//!
//! - **Depth** (at the source width, first, [`operator::DepthOperator`]): for every target
//!   layer i and every module separately (q, k, v, proj, norm1, fc1, fc2, norm2),
//!   `W_i = Σ_j w_ij W_j`, with separate coefficients for weight and bias; init
//!   `stackbert_noisy` (row i ~ U(0, 0.03), entry `i mod L1` set to 1, normalized).
//! - **Width** (after depth, [`operator::WidthOperator`], [`grow`]): `[I; C_out] W [I; C_in]ᵀ`,
//!   biases and LayerNorms `[b; C b]`, embeddings `[E, E C_eᵀ]`; init `rand` (rows U(0, 1)
//!   normalized). Tied: one `C_e` for the residual stream; per target layer `C_q`, `C_k`,
//!   `C_v` (proj's in-dim tied to `C_v`) and `C_ffn` (fc1's out-dim = fc2's in-dim). Old units
//!   are kept verbatim, new ones are mixtures; no rescaling, so not function-preserving.
//! - **Operator training** ([`training`]): only the operators learn, on the MAE loss (mask
//!   ratio and decoder shape of the source's pre-training when `--from` is `RUN/encoder` of
//!   `sweet pretrain --dense`, else 0.75 and the default decoder), 100 steps, AdamW lr 2e-4,
//!   betas (0.9, 0.999), eps 1e-6, weight decay 0.1 on every operator matrix, global-norm
//!   clipping 1.0; then the grown model is materialized and written with a fresh head.
//!
//! Stated choices and deviations **[project]**:
//! - fused qkv: each D1 segment is mixed along depth with its own coefficients and grown to D2
//!   separately, then concatenated (new q rows at the end of the q segment; the head dim is
//!   kept, new heads are mixtures of old head dims);
//! - patch embedding out-channels grow like Linear rows (on the `[D1, C p p]` view); the
//!   position table and class token grow with `C_e` (LeTs treats them separately);
//! - **decoder:** the source folder holds no decoder, so a **fresh MAE decoder** (timm's init)
//!   is trained jointly with the operators, at the same lr and decay (BASELINES.md offers this
//!   in place of growing the pre-training decoder's input projection); it is discarded after;
//! - schedule: a **10-step linear warm-up** (the release's `warmup_steps = 10000` is never
//!   reached in 100 steps, so its lr never exceeds 2e-6), then the project loop's
//!   **half-cycle cosine** to 0 in place of LiGO's linear decay (the loop has no linear decay);
//! - growth only (L2 ≥ L1, D2 ≥ D1; the source's image size, channels and patch); the head is
//!   fresh at timm's init, as `fc_norm` with average pooling.

pub mod grow;
pub mod operator;
pub mod training;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sweet_data::{ImageSet, Split};
use sweet_mae::decoder::{DecoderConfig, MaeDecoder};
use sweet_train::adamw::AdamWConfig;
use sweet_train::run::{DataConfig, PretrainRun};
use sweet_train::run_state::CHECKPOINT_FILE;
use sweet_train::{LoopConfig, Observer};
use sweet_vit::checkpoint;
use sweet_vit::VitConfig;

pub use grow::LigoModel;
pub use operator::{DepthOperator, WidthOperator};
pub use training::{evaluate, train_operators, LigoMae, MaeSettings};

use crate::error::BaselineError;
use crate::folder::{describe_source, refuse_existing, target_heads, with_fresh_head, TargetSize};
use crate::{BaselineRecord, Method};

/// The operator-training run's folder inside `OUT` (metrics, checkpoint).
pub const OPERATOR_RUN: &str = "operator-training";

/// Stream tag of the operators' initial draws.
const OPERATOR_STREAM: u64 = 0x0000_6c69_676f_0000;

/// How the operators are trained (BASELINES.md §5, project choices).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorTraining {
    pub steps: usize,
    /// Unlabeled images: the first N of the training split.
    pub images: usize,
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    pub warmup_steps: usize,
    pub weight_decay: f64,
    /// Max global gradient norm.
    pub grad_clip: f64,
    /// Test images on which the MAE loss is reported before and after.
    pub eval_images: usize,
    pub seed: u64,
    pub workers: usize,
    /// Continue a killed operator training in `OUT/operator-training` (a setting of one
    /// invocation, so never part of a record).
    #[serde(skip)]
    pub resume: bool,
}

impl Default for OperatorTraining {
    fn default() -> Self {
        OperatorTraining {
            steps: 100,
            images: 4000,
            batch_size: 64,
            lr: 2e-4,
            warmup_steps: 10,
            weight_decay: 0.1,
            grad_clip: 1.0,
            eval_images: 500,
            seed: 0,
            workers: 1,
            resume: false,
        }
    }
}

/// Everything a LiGO initialization was made with (the record of `init.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LigoConfig {
    pub depth: usize,
    pub width: usize,
    pub heads: usize,
    pub classes: usize,
    /// `stackbert_noisy` (depth) and `rand` (width).
    pub operator_init: String,
    pub training: OperatorTraining,
    pub optimizer: AdamWConfig,
    /// The fresh decoder trained jointly.
    pub decoder: DecoderConfig,
    pub mask_ratio: f64,
    /// Where decoder shape and mask ratio come from: the source's pre-training run file, or
    /// the defaults.
    pub recipe_from: String,
    /// The operator-training images (`None`: 0 steps and no data given).
    pub data: Option<DataConfig>,
}

/// The pre-training run of a source folder `RUN/encoder`, if `RUN/pretrain.json` reads.
fn source_run(from: &Path) -> Option<(PretrainRun, String)> {
    let path = from.parent()?.join(PretrainRun::FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let run = serde_json::from_str(&text).ok()?;
    Some((run, path.display().to_string()))
}

/// Refuses targets LiGO cannot reach: it only grows.
fn check_growth(source: &VitConfig, target: &TargetSize) -> Result<(), BaselineError> {
    if target.depth < source.depth || target.width < source.embed_dim {
        return Err(BaselineError::Invalid(format!(
            "LiGO only grows a model: the target ({} layers, width {}) is smaller than the \
             source ({} layers, width {}) in depth or width; shrink a larger model with \
             `sweet init weight-selection` instead",
            target.depth, target.width, source.depth, source.embed_dim
        )));
    }
    Ok(())
}

/// `set` normalized with `mean`/`std` (the source's), as the source was trained.
fn normalized(set: Arc<ImageSet>, mean: &[f32], std: &[f32]) -> Arc<ImageSet> {
    let mut s = (*set).clone();
    s.mean = mean.to_vec();
    s.std = std.to_vec();
    Arc::new(s)
}

/// The operator-training images (the first `images` of the training split) and the test
/// split of `data`, normalized with the source's `mean`/`std`; their size must be `vit`'s.
pub fn operator_sets(
    data: &DataConfig,
    mean: &[f32],
    std: &[f32],
    images: usize,
    vit: &VitConfig,
) -> Result<(Arc<ImageSet>, Arc<ImageSet>), BaselineError> {
    let train = normalized(data.open(Split::Train)?, mean, std);
    let train = Arc::new(train.take(images));
    let test = normalized(data.open(Split::Test)?, mean, std);
    if train.channels != vit.in_chans
        || [train.height, train.width] != [vit.img_size.h, vit.img_size.w]
    {
        return Err(BaselineError::Invalid(format!(
            "the operator-training images are {}x{}x{}, the source takes {}x{}x{}",
            train.channels, train.height, train.width, vit.in_chans, vit.img_size.h, vit.img_size.w
        )));
    }
    Ok((train, test))
}

/// A LiGO before operator training: the grown model (operators at their init, the frozen
/// source, a fresh decoder, on an autodiff device) and what the record needs.
pub struct Prepared {
    pub mae: LigoMae,
    /// The grown encoder's architecture (no head).
    pub vit: VitConfig,
    pub source: VitConfig,
    /// The source's normalization.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub decoder: DecoderConfig,
    pub mask_ratio: f64,
    pub recipe_from: String,
    /// The operator-training images (given, or the source's pre-training data set).
    pub data: Option<DataConfig>,
}

impl Prepared {
    /// The MAE settings of the operator training.
    pub fn settings(&self, eval_images: usize) -> MaeSettings {
        MaeSettings {
            mask_ratio: self.mask_ratio,
            num_patches: self.vit.num_patches(),
            eval_images,
        }
    }
}

/// The grown model of `from` at `target` with the operators at their init (drawn from
/// `training.seed`, the same for the same settings), the decoder shape and mask ratio of the
/// source's pre-training run (or the defaults), and the data set to train on (`data`, or the
/// source run's).
pub fn prepare(
    from: &Path,
    target: &TargetSize,
    training: &OperatorTraining,
    data: Option<DataConfig>,
    device: &Device,
) -> Result<Prepared, BaselineError> {
    let ad = device.clone().autodiff();
    let (source, tcfg) = checkpoint::load_model(from, &ad)?;
    let s = tcfg.vit();
    check_growth(&s, target)?;
    let heads = target_heads(&s, target.width, target.heads)?;
    let vit = VitConfig {
        depth: target.depth,
        embed_dim: target.width,
        num_heads: heads,
        num_classes: 0,
        ..s.clone()
    };
    vit.validate()
        .map_err(|e| BaselineError::Invalid(format!("the target architecture: {e}")))?;
    let run = source_run(from);
    let (decoder, mask_ratio, recipe_from) = match &run {
        Some((r, path)) => (
            r.pretrain.decoder.clone(),
            r.pretrain.mask_ratio,
            path.clone(),
        ),
        None => (DecoderConfig::default(), 0.75, "defaults".to_string()),
    };
    let data = data.or_else(|| run.map(|(r, _)| r.dataset));
    // operators, then the fresh decoder
    let mut rng = ChaCha8Rng::seed_from_u64(training.seed ^ OPERATOR_STREAM);
    let depth = DepthOperator::stackbert_noisy(vit.depth, s.depth, &mut rng, &ad);
    let width = WidthOperator::rand(
        vit.depth,
        s.embed_dim,
        vit.embed_dim,
        s.mlp_hidden(),
        vit.mlp_hidden(),
        &mut rng,
        &ad,
    );
    let grown = LigoModel {
        source: source.no_grad(),
        depth,
        width,
        num_heads: heads,
    };
    let fresh_decoder = MaeDecoder::new(
        &decoder,
        vit.embed_dim,
        vit.grid(),
        vit.patch_size,
        vit.in_chans,
        training.seed ^ 0xdec0,
        &ad,
    );
    Ok(Prepared {
        mae: LigoMae {
            grown,
            decoder: fresh_decoder,
        },
        vit,
        source: s,
        mean: tcfg.pretrained_cfg.mean.clone(),
        std: tcfg.pretrained_cfg.std.clone(),
        decoder,
        mask_ratio,
        recipe_from,
        data,
    })
}

/// LiGO's optimizer: AdamW betas (0.9, 0.999), eps 1e-6, `t`'s weight decay and clipping.
pub fn optimizer(t: &OperatorTraining) -> AdamWConfig {
    AdamWConfig {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-6,
        weight_decay: t.weight_decay,
        grad_clip: Some(t.grad_clip),
    }
}

/// Grows the model folder `from` to `target` (module doc), training the operators on `data`
/// (default: the source's pre-training data set; none needed with 0 steps, then no MAE loss
/// is reported), and writes the model folder `out` with the source's mean/std and `init.json`
/// last. The operator training's run folder is `out/operator-training`; with
/// `training.resume`, a killed one continues from its checkpoint (the same result as an
/// uninterrupted run).
pub fn write_ligo(
    from: &Path,
    target: &TargetSize,
    training: &OperatorTraining,
    data: Option<DataConfig>,
    out: &Path,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<BaselineRecord, BaselineError> {
    let resume = training.resume;
    let started = Instant::now();
    refuse_existing(out)?;
    let run_dir = out.join(OPERATOR_RUN);
    if run_dir.exists() && !resume {
        return Err(BaselineError::Invalid(format!(
            "{} holds the operator training of an unfinished LiGO: pass --resume to continue it, \
             or choose another --out",
            run_dir.display()
        )));
    }
    let p = prepare(from, target, training, data, device)?;
    if training.steps > 0 && p.data.is_none() {
        return Err(BaselineError::Invalid(
            "LiGO trains its operators on unlabeled images: give --data and --data-dir (or \
             --steps 0 for the operators as initialized)"
                .into(),
        ));
    }
    let settings = p.settings(training.eval_images);
    let (vit, s) = (&p.vit, &p.source);
    let mut mae = p.mae;
    let (mut before, mut after) = (None, None);
    if let Some(data) = &p.data {
        let (train, test) = operator_sets(data, &p.mean, &p.std, training.images, vit)?;
        let eval = |m: &LigoMae| {
            let (seed, workers) = (training.seed, training.workers);
            evaluate(&m.valid(), &test, &settings, seed, workers, device)
        };
        let loss = eval(&mae);
        before = Some(loss);
        if training.steps > 0 {
            observer.run_start(&format!(
                "LiGO: growing ({}, {}) to ({}, {}), {} operator steps on {} images; MAE loss \
                 before {loss:.4}",
                s.depth, s.embed_dim, vit.depth, vit.embed_dim, training.steps, train.len
            ));
            let cfg = loop_config(training, optimizer(training), train.len);
            let resume = resume && run_dir.join(CHECKPOINT_FILE).exists();
            let sets = (train, test.clone());
            mae = train_operators(&cfg, &settings, mae, sets, &run_dir, resume, observer)?;
        }
        after = Some(eval(&mae));
    }
    let tensors: BTreeMap<_, _> = mae.grown.valid().grown_tensors().into_iter().collect();
    let export = VitConfig {
        num_classes: target.classes,
        ..vit.clone()
    };
    let model = with_fresh_head(&tensors, &export, training.seed, device)?;
    let record = BaselineRecord {
        method: Method::Ligo(Box::new(LigoConfig {
            depth: vit.depth,
            width: vit.embed_dim,
            heads: vit.num_heads,
            classes: target.classes,
            operator_init: "depth stackbert_noisy, width rand".into(),
            training: training.clone(),
            optimizer: optimizer(training),
            decoder: p.decoder.clone(),
            mask_ratio: p.mask_ratio,
            recipe_from: p.recipe_from.clone(),
            data: p.data.clone(),
        })),
        source: Some(describe_source(from, s.clone())?),
        vit: export.clone(),
        parameters: 0,
        seed: training.seed,
        mae_loss_before: before,
        mae_loss_after: after,
        seconds: 0.0,
    };
    let (mean, std) = (p.mean.clone(), p.std.clone());
    crate::folder::write_folder(&model, &export, mean, std, out, record, started)
}

/// The epoch loop's settings for `t` on `images` training images: `t.steps` steps of batch
/// `t.batch_size`, `t.warmup_steps` of linear warm-up, then half-cycle cosine to 0.
pub fn loop_config(t: &OperatorTraining, optimizer: AdamWConfig, images: usize) -> LoopConfig {
    let batches = (images / t.batch_size.max(1)).max(1);
    LoopConfig {
        epochs: t.steps.div_ceil(batches).max(1),
        batch_size: t.batch_size,
        lr: t.lr,
        min_lr: 0.0,
        warmup_epochs: t.warmup_steps as f64 / batches as f64,
        optimizer,
        seed: t.seed,
        workers: t.workers,
        max_steps: Some(t.steps),
        stop_after: None,
        replicas: Vec::new(),
    }
}
