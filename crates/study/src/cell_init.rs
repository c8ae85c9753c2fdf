//! How a cell's model folder is made (`cells/<method>/d<L>-w<D>-s<seed>/init/`), one arm per
//! kind of init: SWEET and Kronecker scalers learned from a plan's template, a learngene
//! expanded, a direct pre-training reused, shrunk (weight selection) or grown (LiGO), or mimetic
//! init from nothing; a size the method cannot make is n/a with its reason.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use sweet_baselines::folder::TargetSize;
use sweet_baselines::ligo::{write_ligo, OperatorTraining, OPERATOR_RUN};
use sweet_baselines::mimetic::{write_mimetic, MimeticConfig};
use sweet_baselines::selection::write_selection;
use sweet_baselines::{BaselineError, BaselineRecord};
use sweet_template::kronecker::file::KRONECKER_FILE;
use sweet_template::WidthRule;
use sweet_train::run::{
    run_expansion, run_init, run_init_kronecker, ExpandRun, InitRun, KroneckerInitRun, INIT_FILE,
};
use sweet_train::{Observer, TrainError};
use sweet_vit::{GlobalPool, VitConfig};

use crate::jobs::{data_config, Job, Study};
use crate::plan::InitKind;
use crate::StudyError;

impl Study {
    /// The source a cell's init reads, as its row names it: the template's name, or
    /// `direct-d<L>-w<D>` for a direct pre-training another size's model comes from.
    pub(crate) fn source_name(&self, init: &InitKind, target: [usize; 2]) -> String {
        match (init.template(), init.direct(target)) {
            (Some(t), _) => t.to_string(),
            (None, Some([d, w])) if [d, w] != target => format!("direct-d{d}-w{w}"),
            _ => String::new(),
        }
    }

    /// Makes the model folder `dir/init` a cell fine-tunes (a finished one is reused, a
    /// killed scaler or operator training resumes); `None` for random init, which
    /// fine-tuning draws itself.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn init_cell(
        &self,
        init: &InitKind,
        [depth, width]: [usize; 2],
        heads: usize,
        seed: u64,
        dir: &Path,
        log: &mut dyn Observer,
        device: &Device,
    ) -> Result<Option<MadeInit>, CellError> {
        let out = dir.join("init");
        let p = &self.plan.pretrain;
        let source = self.source_name(init, [depth, width]);
        let target = TargetSize {
            depth,
            width,
            heads: Some(heads),
            classes: self.classes,
        };
        let direct_s = |size: [usize; 2]| -> Result<(PathBuf, f64), CellError> {
            let pre = self.folder(&Job::Direct(size));
            let seconds = sweet_train::pretrain::run_totals(&pre)
                .map_err(StudyError::from)?
                .0;
            Ok((pre.join("encoder"), seconds))
        };
        let template_dir = |name: &str| {
            let ti = self
                .plan
                .templates
                .iter()
                .position(|t| t.name == name)
                .expect("checked by the plan");
            (ti, self.folder(&Job::Template(ti)))
        };
        let baseline = |made: Result<BaselineRecord, BaselineError>| match made {
            Ok(r) => Ok(r),
            Err(BaselineError::Invalid(reason)) => Err(Unavailable(reason)),
            Err(e) => Err(Failed(StudyError::Baseline(Box::new(e)))),
        };
        let (pretrain_s, init_s) = match init {
            InitKind::Random => return Ok(None),
            InitKind::Direct => {
                // the target's own dense MAE encoder, fine-tuned as it is
                let (encoder, pretrain_s) = direct_s([depth, width])?;
                return Ok(Some(MadeInit {
                    folder: encoder,
                    source,
                    pretrain_s,
                    init_s: 0.0,
                }));
            }
            InitKind::Sweet {
                template,
                width_rule,
                scalers,
            } => {
                let (ti, tdir) = template_dir(template);
                let (_, sws) = self.plan.templates[ti]
                    .tucker()
                    .expect("sweet methods name tucker templates");
                let run = InitRun {
                    template: tdir.join(sweet_template::file::TEMPLATE_FILE),
                    depth,
                    width,
                    heads: Some(heads),
                    classes: self.classes,
                    width_rule: width_rule.unwrap_or_else(|| WidthRule::matching(sws)),
                    scalers: scalers.clone(),
                    data: Some(data_config(&p.data, &p.data_dir)),
                    seed,
                };
                let record = run_init(&run, &out, log, device).map_err(train_error)?;
                (record.provenance.pretrain_seconds, record.seconds)
            }
            InitKind::Kronecker { template, scalers } => {
                let (_, tdir) = template_dir(template);
                let run = KroneckerInitRun {
                    templates: tdir.join(KRONECKER_FILE),
                    depth,
                    width,
                    heads: Some(heads),
                    classes: self.classes,
                    scalers: scalers.clone(),
                    data: Some(data_config(&p.data, &p.data_dir)),
                    seed,
                };
                let record = run_init_kronecker(&run, &out, log, device).map_err(train_error)?;
                (record.provenance.pretrain_seconds, record.seconds)
            }
            InitKind::LinearExpansion { template } => {
                let (_, tdir) = template_dir(template);
                let run = ExpandRun {
                    learngene: tdir.join(sweet_template::learngene::LEARNGENE_FILE),
                    depth,
                    width: Some(width),
                    classes: self.classes,
                    seed,
                };
                let record = run_expansion(&run, &out, device).map_err(train_error)?;
                (record.provenance.pretrain_seconds, record.seconds)
            }
            InitKind::Mimetic => {
                let record = if out.join(INIT_FILE).exists() {
                    BaselineRecord::read(&out)
                } else {
                    let chans = self.downstream_shape.0;
                    let vit = self.target_vit([depth, width], heads);
                    write_mimetic(
                        &vit,
                        &MimeticConfig::default(),
                        seed,
                        vec![0.5; chans],
                        vec![0.5; chans],
                        &out,
                        device,
                    )
                };
                (0.0, baseline(record)?.seconds)
            }
            InitKind::WeightSelection { from } => {
                let (teacher, seconds) = direct_s(*from)?;
                let record = if out.join(INIT_FILE).exists() {
                    BaselineRecord::read(&out)
                } else {
                    write_selection(&teacher, &target, seed, &out, device)
                };
                (seconds, baseline(record)?.seconds)
            }
            InitKind::Ligo {
                from,
                steps,
                images,
            } => {
                let (small, seconds) = direct_s(*from)?;
                let record = if out.join(INIT_FILE).exists() {
                    BaselineRecord::read(&out)
                } else {
                    let training = OperatorTraining {
                        steps: *steps,
                        images: *images,
                        seed,
                        workers: 1,
                        resume: out.join(OPERATOR_RUN).exists(),
                        ..OperatorTraining::default()
                    };
                    let data = Some(data_config(&p.data, &p.data_dir));
                    write_ligo(&small, &target, &training, data, &out, log, device)
                };
                (seconds, baseline(record)?.seconds)
            }
        };
        Ok(Some(MadeInit {
            folder: out,
            source,
            pretrain_s,
            init_s,
        }))
    }

    /// The architecture of a fresh target for the downstream data (random and data-free
    /// inits).
    pub(crate) fn target_vit(&self, [depth, width]: [usize; 2], heads: usize) -> VitConfig {
        let (chans, img) = self.downstream_shape;
        VitConfig {
            img_size: img,
            patch_size: self.plan.pretrain.patch,
            in_chans: chans,
            embed_dim: width,
            depth,
            num_heads: heads,
            mlp_ratio: 4.0,
            num_classes: self.classes,
            global_pool: GlobalPool::Token,
        }
    }
}

/// The model folder a cell's init made, and what it cost.
pub(crate) struct MadeInit {
    pub folder: PathBuf,
    /// The template or source model, as the row names it.
    pub source: String,
    pub pretrain_s: f64,
    pub init_s: f64,
}

/// Why a cell has no init: its method cannot make that size (the cell is n/a), or a failure.
pub(crate) enum CellError {
    Unavailable(String),
    Failed(StudyError),
}
pub(crate) use CellError::{Failed, Unavailable};

impl From<StudyError> for CellError {
    fn from(e: StudyError) -> Self {
        Failed(e)
    }
}

/// A size a method cannot make (an invalid setting) is n/a; any other error fails the cell.
fn train_error(e: TrainError) -> CellError {
    match e {
        TrainError::Invalid(reason) => Unavailable(reason),
        e => Failed(e.into()),
    }
}
