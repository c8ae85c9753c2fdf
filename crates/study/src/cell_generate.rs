//! A cell of a generation study: the cell's init (made at the downstream data's size, as for
//! classification) becomes the encoder of a class-conditional diffusion run on the downstream
//! images (`RUN/cells/<method>/d<L>-w<D>-s<seed>/generate/`) with the plan's `[generate]`
//! recipe and `[finetune]` loop; the row's per-epoch and final numbers are Fréchet distances
//! of the judge's features (lower is better), the conditional accuracy its second number.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use sweet_generate::dit::DitConfig;
use sweet_generate::run::{run_generate, GenerateRun};
use sweet_generate::sampler::SamplerConfig;
use sweet_generate::train::{
    EvalConfig, GenerateEpoch, GenerateFinal, GenerateTrainConfig, FINAL_FILE,
};
use sweet_train::run_state::CHECKPOINT_FILE;
use sweet_train::Observer;
use sweet_vit::checkpoint::{self, encoder_config};

use crate::jobs::{data_config, per_epoch, read_json, Cell, Study, Tuned};
use crate::plan::MethodPlan;
use crate::StudyError;

impl Study {
    /// The diffusion run of one cell (resumed when its folder holds a checkpoint).
    pub(crate) fn run_generate_cell(
        &self,
        m: &MethodPlan,
        c: &Cell,
        dir: &Path,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<Tuned, StudyError> {
        let g = self.plan.generate.as_ref().expect("checked by the plan");
        let folder = match &c.init_from {
            Some(f) => checkpoint::read_config(f)?.vit(),
            None => self.target_vit(c.size, c.heads),
        };
        let (_, img) = self.downstream_shape;
        let encoder = encoder_config(&folder, img, self.plan.pretrain.patch);
        let f = &self.plan.finetune;
        let run = GenerateRun {
            dataset: data_config(&self.plan.downstream.data, &self.plan.downstream.data_dir),
            train_images: g.train_images,
            init_from: c.init_from.clone(),
            dit: DitConfig {
                encoder,
                classes: self.classes,
            },
            judge: g.judge.clone(),
            train: GenerateTrainConfig {
                run: f.loop_config(m.finetune_epochs.unwrap_or(f.epochs), c.seed),
                schedule: g.schedule,
                timesteps: g.timesteps,
                label_dropout: g.label_dropout,
                ema_decay: g.ema_decay,
                sampler: SamplerConfig {
                    steps: g.sample_steps,
                    eta: g.eta,
                    guidance: g.guidance,
                },
                eval: EvalConfig {
                    samples: g.eval_samples,
                    final_samples: g.final_samples,
                    reference_images: g.reference_images,
                    batch: g.sample_batch,
                },
            },
        };
        let out = dir.join("generate");
        let resume = out.join(CHECKPOINT_FILE).exists();
        let done = run_generate(&run, &out, resume, log, device)?;
        let fin: GenerateFinal = match done.final_scores {
            Some(f) => f,
            None => read_json(&out.join(FINAL_FILE))?,
        };
        Ok(Tuned {
            heads: run.dit.encoder.num_heads,
            params: done.ema.num_params() as u64,
            finetune_s: fin.train_seconds + fin.sample_seconds,
            per_epoch: per_epoch::<GenerateEpoch>(&out, |e| {
                e.scores.as_ref().map_or(f64::NAN, |s| s.frechet)
            })?,
            final_score: fin.scores.frechet,
            secondary: Some(fin.scores.class_accuracy),
        })
    }
}
