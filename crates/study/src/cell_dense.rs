//! A cell of a detection or segmentation study: the cell's init (made at the pre-training
//! data's size, as for classification) becomes the backbone of a dense run on the plan's
//! dense data (`RUN/cells/<method>/d<L>-w<D>-s<seed>/dense/`), with the plan's fine-tuning
//! recipe; the row's per-epoch and final numbers are AP@[.5:.95] or mIoU.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use sweet_dense::head::HeadConfig;
use sweet_dense::run::{backbone_config, run_dense, DenseRun};
use sweet_dense::train::{DenseEpoch, DenseFinal, DenseTrainConfig, FINAL_FILE};
use sweet_report::CellResult;
use sweet_train::adamw::AdamWConfig;
use sweet_train::metrics::read_jsonl;
use sweet_train::run_state::CHECKPOINT_FILE;
use sweet_train::{LoopConfig, Observer, METRICS_FILE};
use sweet_vit::checkpoint;

use crate::jobs::{read_json, write_text, Study, RESULT_FILE};
use crate::plan::MethodPlan;
use crate::StudyError;

/// What the cell's init left for its dense run.
pub(crate) struct DenseCell {
    pub size: [usize; 2],
    pub heads: usize,
    pub seed: u64,
    /// The init's model folder (`None`: random init).
    pub init_from: Option<PathBuf>,
    pub source: String,
    pub pretrain_s: f64,
    pub init_s: f64,
}

impl Study {
    /// The dense run of one cell (resumed when its folder holds a checkpoint), then its row.
    pub(crate) fn run_dense_cell(
        &self,
        m: &MethodPlan,
        c: DenseCell,
        dir: &Path,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<(), StudyError> {
        let (data, img) = self.dense.clone().expect("a dense study");
        let task = self.plan.task.dense().expect("a dense study");
        let plan = self.plan.dense.as_ref().expect("checked by the plan");
        let folder = match &c.init_from {
            Some(f) => checkpoint::read_config(f)?.vit(),
            None => self.target_vit(c.size, c.heads),
        };
        let backbone = backbone_config(&folder, img, plan.patch);
        let f = &self.plan.finetune;
        let run = DenseRun {
            task,
            data,
            init_from: c.init_from,
            head: HeadConfig {
                width: backbone.embed_dim,
                hidden: plan.head_hidden.unwrap_or(backbone.embed_dim),
                sub: match task {
                    sweet_dense::DenseTask::Detect => (plan.patch / 4).max(1),
                    sweet_dense::DenseTask::Segment => plan.patch,
                },
                channels: task.channels(self.classes),
            },
            backbone,
            train: DenseTrainConfig {
                run: LoopConfig {
                    epochs: m.finetune_epochs.unwrap_or(f.epochs),
                    batch_size: f.batch_size,
                    lr: f.lr,
                    min_lr: f.min_lr,
                    warmup_epochs: f.warmup_epochs,
                    optimizer: AdamWConfig {
                        weight_decay: f.weight_decay,
                        grad_clip: f.grad_clip,
                        ..AdamWConfig::default()
                    },
                    seed: c.seed,
                    workers: 1,
                    max_steps: None,
                    stop_after: None,
                },
                layer_decay: m.layer_decay.then_some(f.layer_decay),
                drop_path: f.drop_path,
                eval_images: self.plan.downstream.eval_images,
            },
        };
        let out = dir.join("dense");
        let resume = out.join(CHECKPOINT_FILE).exists();
        let done = run_dense(&run, &out, resume, log, device)?;
        let fin: DenseFinal = match done.final_scores {
            Some(f) => f,
            None => read_json(&out.join(FINAL_FILE))?,
        };
        let scores: Vec<f64> = read_jsonl::<DenseEpoch>(&out.join(METRICS_FILE))
            .map_err(|source| StudyError::Io {
                path: out.join(METRICS_FILE),
                source,
            })?
            .iter()
            .map(|e| e.test_score)
            .collect();
        let [depth, width] = c.size;
        let row = CellResult {
            method: m.name.clone(),
            template: c.source,
            depth,
            width,
            heads: run.backbone.num_heads,
            params: Some(done.model.backbone.num_params() as u64),
            seed: c.seed,
            pretrain_s: Some(c.pretrain_s),
            init_s: Some(c.init_s),
            finetune_s: Some(fin.train_seconds),
            best_acc: CellResult::best_of(&scores),
            acc_epochs: scores,
            final_acc: Some(fin.test_score),
            note: String::new(),
        };
        let text = serde_json::to_string_pretty(&row).expect("rows serialize");
        write_text(&dir.join(RESULT_FILE), &text)
    }
}
