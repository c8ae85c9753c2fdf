//! Training a [`Dit`] as a [`Task`] of the shared epoch loop: DDPM's epsilon-prediction loss
//! with label dropout ([`crate::diffusion`]), an EMA of the weights after every step
//! ([`crate::ema`], saved beside every checkpoint so a resumed run averages on exactly), and
//! after every epoch the EMA model's samples scored by the judge (Fréchet distance and
//! conditional accuracy, `eval.samples` of them); once at the end `eval.final_samples` of
//! them (`RUN/final.json`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::ImageSet;
use sweet_train::epochs::LoopConfig;
use sweet_train::error::TrainError;
use sweet_train::metrics::{self, METRICS_FILE};
use sweet_train::observer::Observer;
use sweet_train::run_state::Progress;
use sweet_train::step_seed::{replica_tag, step_rng, TAG_DIFFUSION};
use sweet_train::task::{EpochRecord, EpochTotals, StepOutput, Task};
use sweet_vit::names::named_tensors;
use sweet_vit::tensor_file;

use crate::diffusion::{loss, noise_batch};
use crate::dit::{Dit, DitConfig};
use crate::ema::Ema;
use crate::error::GenerateError;
use crate::evaluate::Draw;
use crate::folder::{self, FORMAT, FORMAT_VERSION};
use crate::frechet::FeatureStats;
use crate::judge::{Judge, Scores};
use crate::sampler::SamplerConfig;
use crate::schedule::{BetaSchedule, NoiseSchedule};

/// How samples are scored during and after training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Samples scored after every epoch (0: none).
    pub samples: usize,
    /// Samples scored once at the end.
    pub final_samples: usize,
    /// Real test images (the first N) whose judge features are the reference moments.
    pub reference_images: usize,
    /// Samples per sampling forward.
    pub batch: usize,
}

/// The settings of a generation run besides data and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateTrainConfig {
    #[serde(flatten)]
    pub run: LoopConfig,
    pub schedule: BetaSchedule,
    /// Diffusion timesteps T.
    pub timesteps: usize,
    /// Probability of training a sample as "no class" (classifier-free guidance), `[0, 1)`.
    pub label_dropout: f64,
    /// The EMA's decay in `[0, 1)` (after its warm-up, [`crate::ema`]).
    pub ema_decay: f64,
    pub sampler: SamplerConfig,
    pub eval: EvalConfig,
}

impl GenerateTrainConfig {
    /// Checks the settings that have a valid range (the error names the flag).
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |m: String| Err(GenerateError::Invalid(m));
        if self.timesteps < 2 {
            return bad(format!("--timesteps {} must be at least 2", self.timesteps));
        }
        if !(0.0..1.0).contains(&self.label_dropout) {
            return bad(format!(
                "--label-dropout {} must be in [0, 1)",
                self.label_dropout
            ));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return bad(format!("--ema-decay {} must be in [0, 1)", self.ema_decay));
        }
        if self.sampler.guidance != 1.0 && self.label_dropout == 0.0 {
            return bad(format!(
                "--guidance {} needs an unconditional model: train with --label-dropout > 0 (or sample with --guidance 1)",
                self.sampler.guidance
            ));
        }
        let e = &self.eval;
        if e.batch == 0 {
            return bad("--sample-batch must be positive".into());
        }
        if e.final_samples < 2 || e.samples == 1 || e.reference_images < 2 {
            return bad(format!(
                "a Fréchet distance needs at least 2 images on each side (--eval-samples {}, --final-samples {}, --reference-images {})",
                e.samples, e.final_samples, e.reference_images
            ));
        }
        self.sampler
            .validate(self.timesteps)
            .map_err(GenerateError::Invalid)
    }

    pub fn noise_schedule(&self) -> NoiseSchedule {
        NoiseSchedule::new(self.schedule, self.timesteps)
    }
}

/// One epoch's line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateEpoch {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    /// Mean epsilon-prediction loss of the epoch.
    pub train_loss: f64,
    /// The EMA model's samples scored (absent with `eval.samples = 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<Scores>,
    pub sample_seconds: f64,
    pub epoch_seconds: f64,
    pub images_per_s: f64,
}

impl EpochRecord for GenerateEpoch {
    fn report(&self, observer: &mut dyn Observer) {
        let scores = self.scores.as_ref().map_or(String::new(), |s| {
            format!(
                "  FD {:.3}  class acc {:.2}% ({} samples, {:.1}s)",
                s.frechet,
                100.0 * s.class_accuracy,
                s.samples,
                self.sample_seconds
            )
        });
        observer.epoch_line(&format!(
            "epoch {:>3}  train loss {:.4}{scores}  {:.1}s  {:.0} img/s",
            self.epoch, self.train_loss, self.epoch_seconds, self.images_per_s
        ));
    }
}

/// The final scoring of a finished run (`RUN/final.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateFinal {
    pub scores: Scores,
    pub reference_images: usize,
    pub epochs: usize,
    pub steps: usize,
    /// The sum of the epochs' `epoch_seconds` (training and per-epoch scoring).
    pub train_seconds: f64,
    /// Seconds the final samples took to draw and score.
    pub sample_seconds: f64,
}

/// The file of a finished run's final scoring, in the run folder.
pub const FINAL_FILE: &str = "final.json";

/// The EMA weights after epoch `epoch`, in the run folder.
pub fn ema_file(out: &Path, epoch: usize) -> PathBuf {
    out.join(format!("ema-{epoch}.safetensors"))
}

/// What the scoring compares with.
pub struct Judging {
    pub judge: Judge,
    /// The judge's moments of the reference images.
    pub reference: FeatureStats,
}

/// What [`train`] leaves: the EMA model (inference device), this call's records and, once
/// every step is taken, the final scoring.
pub struct GenerateTrained {
    pub ema: Dit,
    pub history: Vec<GenerateEpoch>,
    pub final_scores: Option<GenerateFinal>,
}

/// Trains `model` (on an autodiff device) on `set` (pixels mapped to [-1, 1] here) in the run
/// folder `out` (resuming it with `resume`). `cfg` is valid: [`crate::run::run_generate`],
/// the one caller, checks it before any data is read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train(
    cfg: &GenerateTrainConfig,
    dit: &DitConfig,
    model: Dit,
    set: Arc<ImageSet>,
    judging: &Judging,
    out: &Path,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<GenerateTrained, GenerateError> {
    let final_path = out.join(FINAL_FILE);
    if !resume && final_path.exists() {
        std::fs::remove_file(&final_path).map_err(|source| GenerateError::Io {
            path: final_path.clone(),
            source,
        })?;
    }
    let loader = sweet_train::source::training_loader(
        Arc::new(unit_range(&set)),
        &cfg.run,
        sweet_data::Augment::none(),
    );
    let mut fit = Fit {
        cfg,
        dit,
        schedule: cfg.noise_schedule(),
        device: model.pos_embed.device(),
        rank: 0,
        judging,
        out: out.to_path_buf(),
        ema: None,
        final_scores: None,
    };
    let (_, history) =
        sweet_train::run_epochs(&cfg.run, &loader, model, out, resume, observer, &mut fit)?;
    let ema = fit.ema.expect("begin_run made it").model;
    Ok(GenerateTrained {
        ema,
        history,
        final_scores: fit.final_scores,
    })
}

/// The same images normalized to [-1, 1] (`x / 255 * 2 - 1`: mean and std 0.5).
fn unit_range(set: &ImageSet) -> ImageSet {
    ImageSet {
        mean: vec![0.5; set.channels],
        std: vec![0.5; set.channels],
        ..set.clone()
    }
}

struct Fit<'a> {
    cfg: &'a GenerateTrainConfig,
    dit: &'a DitConfig,
    schedule: NoiseSchedule,
    device: Device,
    /// The data-parallel replica [`Task::step`] is for (0 on one device).
    rank: usize,
    judging: &'a Judging,
    out: PathBuf,
    ema: Option<Ema<Dit>>,
    final_scores: Option<GenerateFinal>,
}

impl Fit<'_> {
    fn ema(&self) -> &Dit {
        &self.ema.as_ref().expect("begin_run made it").model
    }

    /// `samples` of the EMA model scored, with the seconds it took.
    fn score(&self, samples: usize) -> Result<(Scores, f64), Box<TrainError>> {
        let start = Instant::now();
        let draw = Draw {
            schedule: &self.schedule,
            sampler: &self.cfg.sampler,
            classes: self.dit.classes,
            samples,
            batch: self.cfg.eval.batch,
            // The run's seed (every epoch the same noise; `sweet generate eval --seed S` draws
            // the same samples as a run seeded S).
            seed: self.cfg.run.seed,
        };
        let scores = draw
            .score(self.ema(), &self.judging.judge, &self.judging.reference)
            .map_err(|e| Box::new(TrainError::Invalid(format!("scoring samples: {e}"))))?;
        Ok((scores, start.elapsed().as_secs_f64()))
    }

    fn write_ema(&self, epoch: usize) -> Result<(), Box<TrainError>> {
        let path = ema_file(&self.out, epoch);
        let metadata = std::collections::BTreeMap::from([
            (tensor_file::FORMAT_KEY.to_string(), FORMAT.to_string()),
            (
                tensor_file::VERSION_KEY.to_string(),
                FORMAT_VERSION.to_string(),
            ),
        ]);
        tensor_file::write(&path, &named_tensors(self.ema()), &metadata)
            .map_err(|source| Box::new(TrainError::Write { path, source }))?;
        // Keep this epoch's and the one before (the checkpoint may still be the older one).
        if epoch >= 2 {
            let _ = std::fs::remove_file(ema_file(&self.out, epoch - 2));
        }
        Ok(())
    }
}

impl Task for Fit<'_> {
    type Model = Dit;
    type Batch = sweet_data::Batch;
    type Record = GenerateEpoch;

    fn begin_run(&mut self, model: &Dit, progress: Progress) -> Result<(), TrainError> {
        let decay = self.cfg.ema_decay;
        self.ema = Some(if progress.epoch == 0 {
            Ema::new(model, decay)
        } else {
            let path = ema_file(&self.out, progress.epoch);
            let model = folder::load_weights(&path, self.dit, &self.device.clone().inner())
                .map_err(|e| TrainError::Invalid(format!("resuming the EMA: {e}")))?;
            Ema { model, decay }
        });
        Ok(())
    }

    fn step(&mut self, model: &Dit, b: sweet_data::Batch, step: usize) -> StepOutput {
        let x0 = Tensor::<4>::from_data(
            TensorData::new(b.images, [b.batch_size, b.channels, b.height, b.width]),
            &self.device,
        );
        let mut rng = step_rng(
            self.cfg.run.seed,
            step,
            replica_tag(TAG_DIFFUSION, self.rank),
        );
        let noised = noise_batch(
            x0,
            &b.labels,
            &self.schedule,
            self.dit.classes,
            self.cfg.label_dropout,
            &mut rng,
        );
        StepOutput {
            loss: loss(model, noised),
            samples: b.batch_size,
            counters: Default::default(),
        }
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn after_step(&mut self, model: &Dit, step: usize) {
        self.ema
            .as_mut()
            .expect("begin_run made it")
            .update(model, step);
    }

    fn end_epoch(&mut self, _model: &Dit, t: EpochTotals) -> Result<GenerateEpoch, TrainError> {
        self.write_ema(t.epoch).map_err(|e| *e)?;
        let (scores, sample_seconds) = match self.cfg.eval.samples {
            0 => (None, 0.0),
            n => {
                let (s, secs) = self.score(n).map_err(|e| *e)?;
                (Some(s), secs)
            }
        };
        Ok(GenerateEpoch {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            train_loss: t.train_loss,
            scores,
            sample_seconds,
            epoch_seconds: t.start.elapsed().as_secs_f64(),
            images_per_s: t.images_per_s,
        })
    }

    fn end_run(&mut self, _model: &Dit, progress: Progress) -> Result<(), TrainError> {
        let path = self.out.join(FINAL_FILE);
        let done_at = |f: &GenerateFinal| (f.epochs, f.steps);
        if let Some(done) = metrics::finished(&path, done_at, progress.epoch, progress.step) {
            self.final_scores = Some(done);
            return Ok(());
        }
        let (scores, sample_seconds) = self.score(self.cfg.eval.final_samples).map_err(|e| *e)?;
        let fin = GenerateFinal {
            scores,
            reference_images: self.judging.reference.count,
            epochs: progress.epoch,
            steps: progress.step,
            train_seconds: metrics::train_seconds(&self.out.join(METRICS_FILE))?,
            sample_seconds,
        };
        metrics::write_final(&path, &fin)?;
        self.final_scores = Some(fin);
        Ok(())
    }
}
