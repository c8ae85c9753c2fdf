//! A cell of a detection or segmentation study: the cell's init (made at the pre-training
//! data's size, as for classification) becomes the backbone of a dense run on the plan's
//! dense data (`RUN/cells/<method>/d<L>-w<D>-s<seed>/dense/`), with the plan's fine-tuning
//! recipe; the row's per-epoch and final numbers are AP@[.5:.95] or mIoU.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use sweet_dense::run::{run_dense, DenseRun};
use sweet_dense::train::{DenseEpoch, DenseFinal, DenseTrainConfig, FINAL_FILE};
use sweet_train::run_state::CHECKPOINT_FILE;
use sweet_train::Observer;
use sweet_vit::checkpoint;
use sweet_vit::checkpoint::encoder_config;

use crate::jobs::{per_epoch, read_json, Cell, Study, Tuned};
use crate::plan::MethodPlan;
use crate::StudyError;

impl Study {
    /// The dense run of one cell (resumed when its folder holds a checkpoint).
    pub(crate) fn run_dense_cell(
        &self,
        m: &MethodPlan,
        c: &Cell,
        dir: &Path,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<Tuned, StudyError> {
        let (data, img) = self.dense.clone().expect("a dense study");
        let task = self.plan.task.dense().expect("a dense study");
        let plan = self.plan.dense.as_ref().expect("checked by the plan");
        let folder = match &c.init_from {
            Some(f) => checkpoint::read_config(f)?.vit(),
            None => self.target_vit(c.size, c.heads),
        };
        let backbone = encoder_config(&folder, img, plan.patch);
        let f = &self.plan.finetune;
        let run = DenseRun {
            task,
            data,
            init_from: c.init_from.clone(),
            head: task.head(
                backbone.embed_dim,
                plan.head_hidden,
                plan.patch,
                self.classes,
            ),
            backbone,
            train: DenseTrainConfig {
                run: f.loop_config(m.finetune_epochs.unwrap_or(f.epochs), c.seed),
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
        Ok(Tuned {
            heads: run.backbone.num_heads,
            params: done.model.backbone.num_params() as u64,
            finetune_s: fin.train_seconds,
            per_epoch: per_epoch::<DenseEpoch>(&out, |e| e.test_score)?,
            final_score: fin.test_score,
            secondary: None,
        })
    }
}
