//! A dense run as a library call: its run file (`RUN/run.json`), the data it reads, the
//! backbone it starts from, and [`run_dense`], which trains and leaves `RUN/model/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::{DenseSet, Split};
use sweet_train::observer::Observer;
use sweet_train::run::{refuse_existing_run, write_run_file};
use sweet_vit::checkpoint::load_encoder;
use sweet_vit::init::Init;
use sweet_vit::VitConfig;

use crate::center::HEAT_PRIOR_BIAS;
use crate::error::DenseError;
use crate::folder::{self, DenseCard};
use crate::head::{HeadConfig, TokenHead};
use crate::infer::DenseTask;
use crate::model::DenseModel;
use crate::train::{train, DenseEpoch, DenseFinal, DenseTrainConfig, DenseTrained, Splits};

/// Where a dense run's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
pub enum DenseData {
    /// COCO: `DIR/<split>/annotations.json` with `DIR/<split>/images/` and, for segmentation,
    /// `DIR/<split>/semantic/` (the layout `sweet data canvas` writes).
    Coco { dir: PathBuf },
    /// Image and mask-PNG folders: `DIR/<split>/images/`, `DIR/<split>/masks/` (segmentation).
    Masks { dir: PathBuf },
}

impl DenseData {
    pub fn dir(&self) -> &Path {
        match self {
            DenseData::Coco { dir } | DenseData::Masks { dir } => dir,
        }
    }

    /// Reads `split`.
    pub fn open(&self, split: Split) -> Result<Arc<DenseSet>, DenseError> {
        let dir = self.dir();
        let set = match self {
            DenseData::Coco { .. } => sweet_data::open_dense(dir, split),
            DenseData::Masks { .. } => sweet_data::open_mask_folder(dir, split),
        };
        set.map(Arc::new).map_err(|source| DenseError::Data {
            dir: dir.to_path_buf(),
            source: Box::new(source),
        })
    }
}

/// Everything needed to reproduce or resume a dense run, saved as `RUN/run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseRun {
    pub task: DenseTask,
    pub data: DenseData,
    /// Start the backbone from this model folder (any `sweet init`, `pretrain`, `train` or timm
    /// folder; its classifier head is dropped, its patch embedding and position table
    /// resampled to `backbone`'s patch and image size). `None`: random init.
    pub init_from: Option<PathBuf>,
    /// The backbone's architecture as trained (the data's image size, no classifier head).
    pub backbone: VitConfig,
    pub head: HeadConfig,
    pub train: DenseTrainConfig,
}

impl DenseRun {
    /// The run file's name in the run folder.
    pub const FILE: &'static str = "run.json";
    /// The model folder a finished run leaves in its run folder.
    pub const MODEL_DIR: &'static str = "model";
}

/// A fresh head for `task` on `backbone`'s tokens: every Linear trunc-normal .02 (drawn from a
/// stream apart from the backbone's), detection's heatmap biases at CenterNet's prior.
pub fn fresh_head(
    task: DenseTask,
    cfg: &HeadConfig,
    classes: usize,
    seed: u64,
    device: &Device,
) -> TokenHead {
    let head = TokenHead::new(cfg, &mut Init::new(seed ^ HEAD_SEED, device));
    match task {
        DenseTask::Detect => (0..classes).fold(head, |h, k| h.set_channel_bias(k, HEAT_PRIOR_BIAS)),
        DenseTask::Segment => head,
    }
}

/// Salt of the head's init stream.
const HEAD_SEED: u64 = 0x4ead_0de5;

/// What a dense run leaves: the trained model (autodiff device), this call's records and the
/// final evaluation once every step is taken.
pub struct DenseOutcome {
    pub model: DenseModel,
    pub history: Vec<DenseEpoch>,
    pub final_scores: Option<DenseFinal>,
}

/// Trains the dense model `run` describes on `device` in the run folder `out`. A new run
/// refuses a folder holding a run and writes `out/run.json`; with `resume`, everything comes
/// from `out/checkpoint.safetensors`. Once every step is taken the run folder holds
/// `final.json` and the model folder `out/model/` ([`folder`]).
pub fn run_dense(
    run: &DenseRun,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
    device: &Device,
) -> Result<DenseOutcome, DenseError> {
    run.train.validate()?;
    if !resume {
        refuse_existing_run(out)?;
    }
    let train_set = run.data.open(Split::Train)?;
    let test_set = run.data.open(Split::Test)?;
    check_shapes(run, &train_set, &test_set)?;
    let device = device.clone().autodiff();
    let seed = run.train.run.seed;
    let classes = train_set.classes.len();
    let backbone = load_encoder(
        run.init_from.as_deref().filter(|_| !resume),
        &run.backbone,
        seed,
        &device,
    )?;
    let head = fresh_head(run.task, &run.head, classes, seed, &device);
    let model = DenseModel { backbone, head };
    if !resume {
        write_run_file(out, DenseRun::FILE, run)?;
    }
    let cfg = &run.train;
    observer.run_start(&format!(
        "{}: {} train / {} test images of {}x{}, {} classes, {} batches of {} per epoch, peak lr {:e}, {} parameters ({} in the head)",
        run.task.as_str(),
        train_set.len(),
        test_set.len(),
        run.backbone.img_size.h,
        run.backbone.img_size.w,
        classes,
        train_set.len() / cfg.run.batch_size,
        cfg.run.batch_size,
        cfg.run.lr,
        model.num_params(),
        model.head.num_params(),
    ));
    let (mean, std) = (train_set.images.mean.clone(), train_set.images.std.clone());
    let card = DenseCard {
        task: run.task,
        head: run.head.clone(),
        classes: train_set.classes.clone(),
        category_ids: train_set.category_ids.clone(),
    };
    let DenseTrained {
        model,
        history,
        final_scores,
    } = train(
        cfg,
        run.task,
        model,
        Splits {
            train: train_set,
            test: test_set,
        },
        out,
        resume,
        observer,
    )?;
    if final_scores.is_some() {
        folder::save(
            &model.valid(),
            &run.backbone,
            &card,
            mean,
            std,
            &out.join(DenseRun::MODEL_DIR),
        )?;
    }
    Ok(DenseOutcome {
        model,
        history,
        final_scores,
    })
}

/// The data must fit the backbone (image size, channels) and agree between splits (classes).
fn check_shapes(run: &DenseRun, train: &DenseSet, test: &DenseSet) -> Result<(), DenseError> {
    let b = &run.backbone;
    for (name, set) in [("train", train), ("test", test)] {
        let i = &set.images;
        if [i.height, i.width] != [b.img_size.h, b.img_size.w] || i.channels != b.in_chans {
            return Err(DenseError::Invalid(format!(
                "the {name} images of {} are {}x{} with {} channels; the backbone takes {}x{} with {}",
                run.data.dir().display(),
                i.height,
                i.width,
                i.channels,
                b.img_size.h,
                b.img_size.w,
                b.in_chans
            )));
        }
    }
    if train.classes != test.classes {
        return Err(DenseError::Invalid(format!(
            "the train and test splits of {} have different classes ({:?} vs {:?})",
            run.data.dir().display(),
            train.classes,
            test.classes
        )));
    }
    let channels = run.task.channels(train.classes.len());
    if run.head.channels != channels || run.head.width != b.embed_dim {
        return Err(DenseError::Invalid(format!(
            "the head {:?} does not fit: {} needs {channels} channels on width {}",
            run.head,
            run.task.as_str(),
            b.embed_dim
        )));
    }
    Ok(())
}
