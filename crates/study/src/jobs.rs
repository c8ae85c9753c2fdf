//! The jobs of a study and how each one runs, resumably, in its own folder under `RUNS`:
//!
//! - `templates/<name>/`: MAE pre-training of a template (`template.safetensors` when done);
//! - `direct/d<L>-w<D>/`: MAE pre-training of a dense encoder of that size (`encoder/`), one
//!   per size, shared by that size's seeds, as one template is shared by every size and seed;
//! - `cells/<method>/d<L>-w<D>-s<seed>/`: `init/` (a SWEET model folder), `finetune/` (the
//!   classification run, `final.json` when done) and `result.json` (its row of results), or
//!   `na.txt` when the method cannot produce that size (the reason).
//!
//! Every job resumes from its checkpoint, so a `kill -9` loses at most one epoch.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use sweet_data::Split;
use sweet_mae::decoder::DecoderConfig;
use sweet_report::{CellResult, Metric};
use sweet_template::{GeneratorConfig, KroneckerConfig, Orientation, TemplateConfig};
use sweet_train::adamw::AdamWConfig;
use sweet_train::classify::{EpochMetrics, FinalMetrics, TrainConfig, FINAL_FILE};
use sweet_train::metrics::read_jsonl;
use sweet_train::pretrain::PretrainConfig;
use sweet_train::run::{
    pretrain_output, run_classification, run_pretraining, write_pretrain_output, ClassifyRun,
    DataConfig, PretrainRun,
};
use sweet_train::run_state::CHECKPOINT_FILE;
use sweet_train::schedule::scaled_lr;
use sweet_train::{LoopConfig, Observer, METRICS_FILE};
use sweet_vit::{checkpoint, GlobalPool, ImgSize, VitConfig};

use sweet_dense::DenseData;

use crate::cell_init::CellError::{Failed, Unavailable};
use crate::plan::{MethodPlan, Plan, TemplateKind, TemplatePlan};
use crate::StudyError;

/// One unit of work.
#[derive(Clone, Debug, PartialEq)]
pub enum Job {
    Template(usize),
    Direct([usize; 2]),
    /// (method index, [depth, width], seed)
    Cell(usize, [usize; 2], u64),
}

/// The plan, its folders and the data shapes, shared by every job.
pub struct Study {
    pub plan: Plan,
    pub runs: PathBuf,
    /// (channels, image size) of the pre-training and downstream data.
    pub pretrain_shape: (usize, ImgSize),
    /// The shape every cell's init is made at: the downstream data's for classification; for
    /// a dense task the pre-training data's (its backbone then adapts to the dense data).
    pub downstream_shape: (usize, ImgSize),
    pub classes: usize,
    /// A dense task's data and its image size.
    pub dense: Option<(DenseData, ImgSize)>,
}

pub(crate) fn data_config(data: &str, dir: &Path) -> DataConfig {
    DataConfig {
        data: data.to_string(),
        data_dir: dir.to_path_buf(),
        data_img_size: None,
        data_channels: None,
    }
}

impl Study {
    /// Opens the plan's data sets once to learn their shapes.
    pub fn new(mut plan: Plan, runs: PathBuf) -> Result<Study, StudyError> {
        // Data (and judge) folders as absolute paths, so run files name them the same from
        // any directory.
        let judge = plan.generate.as_mut().map(|g| &mut g.judge);
        for dir in [&mut plan.pretrain.data_dir, &mut plan.downstream.data_dir]
            .into_iter()
            .chain(judge)
        {
            *dir = std::fs::canonicalize(&*dir).map_err(|source| StudyError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let shape = |d: &DataConfig| -> Result<(usize, ImgSize, usize), StudyError> {
            let s = d.open(Split::Train)?;
            Ok((s.channels, ImgSize::new(s.height, s.width), s.num_classes))
        };
        let (pc, pimg, _) = shape(&data_config(&plan.pretrain.data, &plan.pretrain.data_dir))?;
        if plan.task.dense().is_some() {
            let dir = plan.downstream.data_dir.clone();
            let data = match plan.downstream.data.as_str() {
                "masks" => DenseData::Masks { dir },
                _ => DenseData::Coco { dir },
            };
            let set = data.open(Split::Train)?;
            let img = ImgSize::new(set.images.height, set.images.width);
            return Ok(Study {
                plan,
                runs,
                pretrain_shape: (pc, pimg),
                downstream_shape: (pc, pimg),
                classes: set.classes.len(),
                dense: Some((data, img)),
            });
        }
        let (dc, dimg, classes) = shape(&data_config(
            &plan.downstream.data,
            &plan.downstream.data_dir,
        ))?;
        Ok(Study {
            plan,
            runs,
            pretrain_shape: (pc, pimg),
            downstream_shape: (dc, dimg),
            classes,
            dense: None,
        })
    }

    /// Every job in priority order: method by method in plan order, the pre-training a method
    /// needs (its template, or the direct pre-trainings of its sizes or of its source) just
    /// before its first cell, then its cells seed-major (every size of the first seed before
    /// the second seed); templates no method names come last.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = Vec::new();
        let push = |jobs: &mut Vec<Job>, j: Job| {
            if !jobs.contains(&j) {
                jobs.push(j);
            }
        };
        for (mi, m) in self.plan.methods.iter().enumerate() {
            let (sizes, seeds) = self.plan.cells_of(m);
            let init = m.init().expect("checked by the plan");
            if let Some(t) = init.template() {
                let ti = self.plan.templates.iter().position(|x| x.name == t);
                push(&mut jobs, Job::Template(ti.expect("checked by the plan")));
            }
            for s in sizes {
                if let Some(d) = init.direct(*s) {
                    push(&mut jobs, Job::Direct(d));
                }
            }
            for seed in seeds {
                for s in sizes {
                    jobs.push(Job::Cell(mi, *s, *seed));
                }
            }
        }
        for ti in 0..self.plan.templates.len() {
            push(&mut jobs, Job::Template(ti));
        }
        jobs
    }

    /// The job `job` waits for.
    pub fn dependency(&self, job: &Job) -> Option<Job> {
        let Job::Cell(mi, size, _) = job else {
            return None;
        };
        let init = self.plan.methods[*mi].init().expect("checked by the plan");
        if let Some(d) = init.direct(*size) {
            return Some(Job::Direct(d));
        }
        let template = init.template()?;
        self.plan
            .templates
            .iter()
            .position(|t| t.name == template)
            .map(Job::Template)
    }

    pub fn name(&self, job: &Job) -> String {
        match job {
            Job::Template(i) => format!("template {}", self.plan.templates[*i].name),
            Job::Direct([d, w]) => format!("direct pre-training d{d} w{w}"),
            Job::Cell(mi, [d, w], s) => {
                format!("{} d{d} w{w} seed {s}", self.plan.methods[*mi].name)
            }
        }
    }

    pub fn folder(&self, job: &Job) -> PathBuf {
        match job {
            Job::Template(i) => self
                .runs
                .join("templates")
                .join(&self.plan.templates[*i].name),
            Job::Direct([d, w]) => self.runs.join("direct").join(format!("d{d}-w{w}")),
            Job::Cell(mi, [d, w], s) => self
                .runs
                .join("cells")
                .join(&self.plan.methods[*mi].name)
                .join(format!("d{d}-w{w}-s{s}")),
        }
    }

    /// Whether `job` has finished (its result is on disk).
    pub fn is_done(&self, job: &Job) -> bool {
        let dir = self.folder(job);
        match job {
            Job::Template(_) | Job::Direct(_) => {
                let run = self.pretrain_run(job);
                let out = pretrain_output(&run, &dir);
                if matches!(job, Job::Direct(_)) {
                    out.join(checkpoint::CONFIG_FILE).exists()
                } else {
                    out.exists()
                }
            }
            Job::Cell(..) => dir.join(RESULT_FILE).exists() || dir.join(NA_FILE).exists(),
        }
    }

    /// The pre-training run of a template or direct job (as `sweet pretrain` builds it).
    pub fn pretrain_run(&self, job: &Job) -> PretrainRun {
        let p = &self.plan.pretrain;
        let (chans, img) = self.pretrain_shape;
        let encoder = |depth: usize, width: usize, heads: usize| VitConfig {
            img_size: img,
            patch_size: p.patch,
            in_chans: chans,
            embed_dim: width,
            depth,
            num_heads: heads,
            mlp_ratio: 4.0,
            num_classes: 0,
            global_pool: GlobalPool::default(),
        };
        let (vit, generator) = match job {
            Job::Template(i) => {
                let t: &TemplatePlan = &self.plan.templates[*i];
                let vit = encoder(t.depth, t.width, t.heads);
                let g = match (t.generator, t.tucker()) {
                    (TemplateKind::Tucker, Some((ranks, sws))) => {
                        GeneratorConfig::Tucker(TemplateConfig {
                            vit: vit.clone(),
                            ranks,
                            orientation: Orientation::Residual,
                            sws,
                        })
                    }
                    (TemplateKind::LinearExpansion, _) => GeneratorConfig::LinearExpansion,
                    (TemplateKind::Kronecker, _) => {
                        GeneratorConfig::Kronecker(KroneckerConfig::with_defaults(vit.clone()))
                    }
                    (TemplateKind::Tucker, None) => unreachable!("checked by the plan"),
                };
                (vit, g)
            }
            Job::Direct([d, w]) => (
                encoder(*d, *w, w / self.plan.head_dim),
                GeneratorConfig::Dense,
            ),
            Job::Cell(..) => unreachable!("cells are not pre-trainings"),
        };
        PretrainRun {
            dataset: data_config(&p.data, &p.data_dir),
            train_images: p.train_images,
            pretrain: PretrainConfig {
                vit,
                generator,
                decoder: DecoderConfig {
                    width: p.decoder_width,
                    depth: p.decoder_depth,
                    heads: p.decoder_heads,
                    mlp_ratio: 4.0,
                },
                mask_ratio: p.mask_ratio,
                run: LoopConfig {
                    epochs: p.epochs,
                    batch_size: p.batch_size,
                    lr: scaled_lr(p.base_lr, p.batch_size),
                    min_lr: p.min_lr,
                    warmup_epochs: p.warmup_epochs,
                    optimizer: AdamWConfig {
                        beta1: 0.9,
                        beta2: 0.95,
                        eps: 1e-8,
                        weight_decay: p.weight_decay,
                        grad_clip: None,
                    },
                    seed: p.seed,
                    workers: 1,
                    max_steps: None,
                    stop_after: None,
                    replicas: Vec::new(),
                },
                eval_images: p.eval_images,
            },
        }
    }

    /// Runs `job` to completion (resuming what a killed run left) on `device`.
    pub fn run(
        &self,
        job: &Job,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<(), StudyError> {
        match job {
            Job::Template(_) | Job::Direct(_) => self.run_pretraining(job, log, device),
            Job::Cell(mi, size, seed) => {
                self.run_cell(&self.plan.methods[*mi], *size, *seed, job, log, device)
            }
        }
    }

    fn run_pretraining(
        &self,
        job: &Job,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<(), StudyError> {
        let dir = self.folder(job);
        let run = self.pretrain_run(job);
        let resume = dir.join(CHECKPOINT_FILE).exists();
        if resume {
            // A folder started by hand (`sweet pretrain`) is adopted if it runs the same recipe.
            let stored: PretrainRun = read_json(&dir.join(PretrainRun::FILE))?;
            let mut a = stored.clone();
            a.pretrain.run.workers = 1;
            if let Ok(d) = std::fs::canonicalize(&a.dataset.data_dir) {
                a.dataset.data_dir = d;
            }
            if a != run {
                return Err(StudyError::Plan {
                    path: dir.join(PretrainRun::FILE),
                    reason: format!(
                        "this pre-training runs other settings than the plan asks for:\n  folder: {}\n  plan:   {}",
                        serde_json::to_string(&stored).unwrap_or_default(),
                        serde_json::to_string(&run).unwrap_or_default()
                    ),
                });
            }
        }
        let done = run_pretraining(&run, &dir, resume, log, device)?;
        write_pretrain_output(&run, &dir, &done)?;
        Ok(())
    }

    fn run_cell(
        &self,
        m: &MethodPlan,
        [depth, width]: [usize; 2],
        seed: u64,
        job: &Job,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<(), StudyError> {
        let dir = self.folder(job);
        std::fs::create_dir_all(&dir).map_err(|source| StudyError::Io {
            path: dir.clone(),
            source,
        })?;
        let heads = width / self.plan.head_dim;
        let init = m.init().expect("checked by the plan");
        let made = match self.init_cell(&init, [depth, width], heads, seed, &dir, log, device) {
            Ok(made) => made,
            Err(Unavailable(reason)) => return write_text(&dir.join(NA_FILE), &reason),
            Err(Failed(e)) => return Err(e),
        };
        let (init_from, source, pretrain_s, init_s) = match made {
            Some(m) => (Some(m.folder), m.source, m.pretrain_s, m.init_s),
            None => (None, String::new(), 0.0, 0.0),
        };
        let cell = Cell {
            size: [depth, width],
            heads,
            seed,
            init_from,
            source,
            pretrain_s,
            init_s,
        };
        let tuned = if self.dense.is_some() {
            self.run_dense_cell(m, &cell, &dir, log, device)?
        } else if self.plan.task == crate::plan::StudyTask::Generate {
            self.run_generate_cell(m, &cell, &dir, log, device)?
        } else {
            self.run_classification_cell(m, &cell, &dir, log, device)?
        };
        write_row(m, cell, tuned, &self.plan.task.metric(), &dir)
    }

    /// The classification fine-tuning of one cell (resumed when its folder holds a checkpoint).
    fn run_classification_cell(
        &self,
        m: &MethodPlan,
        c: &Cell,
        dir: &Path,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<Tuned, StudyError> {
        let f = &self.plan.finetune;
        let vit = match &c.init_from {
            Some(folder) => VitConfig {
                num_classes: self.classes,
                global_pool: GlobalPool::Token,
                ..checkpoint::read_config(folder)?.vit()
            },
            None => self.target_vit(c.size, c.heads),
        };
        let run = ClassifyRun {
            dataset: data_config(&self.plan.downstream.data, &self.plan.downstream.data_dir),
            labels_per_class: self.plan.downstream.labels_per_class,
            init_from: c.init_from.clone(),
            vit: vit.clone(),
            train: TrainConfig {
                run: f.loop_config(m.finetune_epochs.unwrap_or(f.epochs), c.seed),
                label_smoothing: f.smoothing,
                pad_crop: f.pad_crop,
                hflip: false,
                layer_decay: m.layer_decay.then_some(f.layer_decay),
                drop_path: f.drop_path,
                eval_images: self.plan.downstream.eval_images,
            },
        };
        let ft = dir.join("finetune");
        let resume = ft.join(CHECKPOINT_FILE).exists();
        let done = run_classification(&run, &ft, resume, log, device)?;
        let fin: FinalMetrics = match done.final_metrics {
            Some(f) => f,
            None => read_json(&ft.join(FINAL_FILE))?,
        };
        Ok(Tuned {
            heads: vit.num_heads,
            params: done.model.num_params() as u64,
            finetune_s: fin.train_seconds,
            per_epoch: per_epoch::<EpochMetrics>(&ft, |e| e.test_acc)?,
            final_score: fin.test_acc,
            secondary: None,
        })
    }

    /// The row of a finished cell job (a result or an n/a), `None` while it is unfinished.
    pub fn row(&self, job: &Job) -> Result<Option<CellResult>, StudyError> {
        let Job::Cell(mi, [depth, width], seed) = job else {
            return Ok(None);
        };
        let dir = self.folder(job);
        if dir.join(RESULT_FILE).exists() {
            return Ok(Some(read_json(&dir.join(RESULT_FILE))?));
        }
        if dir.join(NA_FILE).exists() {
            let reason = std::fs::read_to_string(dir.join(NA_FILE)).unwrap_or_default();
            let m = &self.plan.methods[*mi];
            let init = m.init().expect("checked by the plan");
            let template = self.source_name(&init, [*depth, *width]);
            let heads = width / self.plan.head_dim;
            return Ok(Some(CellResult::na(
                m.name.clone(),
                template,
                (*depth, *width, heads),
                *seed,
                reason.trim(),
            )));
        }
        Ok(None)
    }
}

/// A cell's init, as its fine-tuning starts from it.
pub(crate) struct Cell {
    pub size: [usize; 2],
    pub heads: usize,
    pub seed: u64,
    /// The init's model folder (`None`: random init).
    pub init_from: Option<PathBuf>,
    /// The template or source model, as the row names it.
    pub source: String,
    pub pretrain_s: f64,
    pub init_s: f64,
}

/// What a cell's fine-tuning measured: its row's numbers (accuracy, AP or mIoU in `[0, 1]`;
/// generation: Fréchet distances).
pub(crate) struct Tuned {
    pub heads: usize,
    pub params: u64,
    pub finetune_s: f64,
    /// The score on the fixed test subset after every epoch.
    pub per_epoch: Vec<f64>,
    /// The score on the whole test set at the end.
    pub final_score: f64,
    /// The task's second number at the end, if it has one (generation: class accuracy).
    pub secondary: Option<f64>,
}

/// The per-epoch score `score` of every line of `run`'s metrics file.
pub(crate) fn per_epoch<T: serde::de::DeserializeOwned>(
    run: &Path,
    score: impl Fn(&T) -> f64,
) -> Result<Vec<f64>, StudyError> {
    let path = run.join(METRICS_FILE);
    let lines = read_jsonl::<T>(&path).map_err(|source| StudyError::Io { path, source })?;
    Ok(lines.iter().map(score).collect())
}

/// Writes a finished cell's row; its best epoch is the best under `metric`.
fn write_row(
    m: &MethodPlan,
    c: Cell,
    t: Tuned,
    metric: &Metric,
    dir: &Path,
) -> Result<(), StudyError> {
    let [depth, width] = c.size;
    let row = CellResult {
        method: m.name.clone(),
        template: c.source,
        depth,
        width,
        heads: t.heads,
        params: Some(t.params),
        seed: c.seed,
        pretrain_s: Some(c.pretrain_s),
        init_s: Some(c.init_s),
        finetune_s: Some(t.finetune_s),
        best_acc: CellResult::best_of(&t.per_epoch, metric),
        acc_epochs: t.per_epoch,
        final_acc: Some(t.final_score),
        secondary: t.secondary,
        note: String::new(),
    };
    let text = serde_json::to_string_pretty(&row).expect("rows serialize");
    write_text(&dir.join(RESULT_FILE), &text)
}

/// A finished cell's row of results.
pub const RESULT_FILE: &str = "result.json";
/// A cell its method cannot produce: the reason.
pub const NA_FILE: &str = "na.txt";

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StudyError> {
    let text = std::fs::read_to_string(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StudyError::Plan {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), StudyError> {
    sweet_vit::tensor_file::atomic_write(path, text.as_bytes()).map_err(|e| StudyError::Plan {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
