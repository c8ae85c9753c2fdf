//! A generation run as a library call: its run file (`RUN/run.json`), the data it learns
//! from, the encoder its DiT starts from, and [`run_generate`], which trains and leaves
//! `RUN/model/` and a sample grid `RUN/samples.png`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{ImageSet, Split};
use sweet_train::observer::Observer;
use sweet_train::run::{refuse_existing_run, write_run_file, DataConfig};
use sweet_vit::checkpoint::load_encoder;

use crate::dit::{Dit, DitConfig};
use crate::error::GenerateError;
use crate::folder::{self, DitCard};
use crate::judge::{reference_stats, Judge};
use crate::sampler::sample;
use crate::train::{train, GenerateEpoch, GenerateFinal, GenerateTrainConfig, Judging};

/// Everything needed to reproduce or resume a generation run, saved as `RUN/run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateRun {
    #[serde(flatten)]
    pub dataset: DataConfig,
    /// Learn from the first N training images only (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_images: Option<usize>,
    /// The DiT's encoder parts come from this model folder (any `sweet init`, `pretrain`,
    /// `train`, baseline or timm folder; its class token, head and position table are dropped,
    /// its patch embedding resampled to `dit.encoder`'s patch). `None`: random.
    pub init_from: Option<PathBuf>,
    pub dit: DitConfig,
    /// The classifier model folder whose features and predictions score the samples.
    pub judge: PathBuf,
    pub train: GenerateTrainConfig,
}

impl GenerateRun {
    /// The run file's name in the run folder.
    pub const FILE: &'static str = "run.json";
    /// The model folder a finished run leaves in its run folder.
    pub const MODEL_DIR: &'static str = "model";
    /// The sample grid a finished run leaves in its run folder.
    pub const GRID_FILE: &'static str = "samples.png";
}

/// Samples per class in the grid a run leaves.
pub const GRID_PER_CLASS: usize = 10;

/// What a generation run leaves: the EMA model (inference device), this call's records and
/// the final scoring once every step is taken.
pub struct GenerateOutcome {
    pub ema: Dit,
    pub history: Vec<GenerateEpoch>,
    pub final_scores: Option<GenerateFinal>,
}

/// Trains the DiT `run` describes on `device` in the run folder `out`. A new run refuses a
/// folder holding a run and writes `out/run.json`; with `resume`, everything comes from
/// `out/checkpoint.safetensors` and the EMA snapshot beside it. Once every step is taken the
/// run folder holds `final.json`, `samples.png` and the model folder `out/model/`
/// ([`folder`]).
pub fn run_generate(
    run: &GenerateRun,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<GenerateOutcome, GenerateError> {
    run.train.validate()?;
    if !resume {
        refuse_existing_run(out)?;
    }
    let train_set = run.dataset.open(Split::Train)?;
    let train_set = match run.train_images {
        Some(n) if n < train_set.len => Arc::new(train_set.take(n)),
        _ => train_set,
    };
    let test_set = run.dataset.open(Split::Test)?;
    check_shapes(run, &train_set)?;
    let judge = Judge::open(&run.judge, device)?;
    let eval = &run.train.eval;
    let reference = reference_stats(
        &judge,
        &test_set,
        eval.reference_images.min(test_set.len),
        eval.batch,
    )?;
    let judging = Judging { judge, reference };
    let ad = device.clone().autodiff();
    let seed = run.train.run.seed;
    let encoder = load_encoder(
        run.init_from.as_deref().filter(|_| !resume),
        &run.dit.encoder,
        seed,
        &ad,
    )?;
    let model = Dit::from_encoder(encoder, &run.dit, seed);
    if !resume {
        write_run_file(out, GenerateRun::FILE, run)?;
    }
    let cfg = &run.train;
    observer.run_start(&format!(
        "generate: {} train images of {}x{}, {} classes, {} batches of {} per epoch, peak lr {:e}, {} parameters, T = {} ({:?}), scored by {} against {} test images",
        train_set.len,
        train_set.height,
        train_set.width,
        run.dit.classes,
        train_set.len / cfg.run.batch_size,
        cfg.run.batch_size,
        cfg.run.lr,
        model.num_params(),
        cfg.timesteps,
        cfg.schedule,
        run.judge.display(),
        judging.reference.count,
    ));
    let trained = train(
        cfg,
        &run.dit,
        model,
        Arc::clone(&train_set),
        &judging,
        out,
        resume,
        observer,
    )?;
    if trained.final_scores.is_some() {
        let card = DitCard {
            dit: run.dit.clone(),
            schedule: cfg.schedule,
            timesteps: cfg.timesteps,
            sampler: cfg.sampler.clone(),
            class_names: train_set.class_names.clone(),
        };
        folder::save(&trained.ema, &card, &out.join(GenerateRun::MODEL_DIR))?;
        write_class_grid(
            &trained.ema,
            &card,
            &card.sampler,
            GRID_PER_CLASS,
            seed,
            &out.join(GenerateRun::GRID_FILE),
        )?;
    }
    Ok(GenerateOutcome {
        ema: trained.ema,
        history: trained.history,
        final_scores: trained.final_scores,
    })
}

/// Samples `per_class` images of every class with `model` and writes them as a PNG grid, one
/// row per class.
pub fn write_class_grid(
    model: &Dit,
    card: &DitCard,
    sampler: &crate::sampler::SamplerConfig,
    per_class: usize,
    seed: u64,
    path: &Path,
) -> Result<(), GenerateError> {
    let classes = card.dit.classes;
    let labels: Vec<usize> = (0..classes)
        .flat_map(|k| std::iter::repeat_n(k, per_class))
        .collect();
    let images = sample(
        model,
        &card.noise_schedule(),
        sampler,
        &labels,
        classes,
        seed,
    );
    let [_, c, h, w] = images.dims();
    let values = images
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 samples");
    crate::grid::write_grid(path, &values, [classes, per_class], [c, h, w])
        .map_err(GenerateError::Invalid)
}

/// The data must fit the DiT (image size, channels, classes).
fn check_shapes(run: &GenerateRun, set: &ImageSet) -> Result<(), GenerateError> {
    let e = &run.dit.encoder;
    if [set.height, set.width] != [e.img_size.h, e.img_size.w] || set.channels != e.in_chans {
        return Err(GenerateError::Invalid(format!(
            "the images of {} are {}x{} with {} channels; the model generates {}x{} with {}",
            run.dataset.data_dir.display(),
            set.height,
            set.width,
            set.channels,
            e.img_size.h,
            e.img_size.w,
            e.in_chans
        )));
    }
    if set.num_classes != run.dit.classes {
        return Err(GenerateError::Invalid(format!(
            "the data has {} classes, the model is conditioned on {}",
            set.num_classes, run.dit.classes
        )));
    }
    Ok(())
}
