//! Studies (METHOD.md section 8): a [`plan::Plan`] of (method x size x seed) cells on one
//! downstream task with one fine-tuning budget, each cell its own resumable run folder
//! ([`jobs`]), run `--jobs` at a time with one thread each ([`schedule`]), and the report:
//! `results.csv` (one row per finished cell) and `README.md` with tables and plots drawn by
//! sweet-report.

mod cell_dense;
mod cell_generate;
mod cell_init;
pub mod jobs;
pub mod plan;
pub mod schedule;

use std::path::PathBuf;

pub use jobs::{Job, Study};
pub use plan::Plan;
pub use schedule::{default_runs, run_study, write_report, StudyOptions};

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Plan { path: PathBuf, reason: String },
    // Boxed: these errors are large and travel through every job's Result.
    #[error(transparent)]
    Train(Box<sweet_train::TrainError>),
    #[error(transparent)]
    Model(Box<sweet_vit::checkpoint::CheckpointError>),
    #[error(transparent)]
    Report(Box<sweet_report::ReportError>),
    #[error(transparent)]
    Baseline(Box<sweet_baselines::BaselineError>),
    #[error(transparent)]
    Dense(Box<sweet_dense::DenseError>),
    #[error(transparent)]
    Generate(Box<sweet_generate::GenerateError>),
    #[error("{failed} of the study's jobs failed (the others finished): {first}")]
    Jobs { failed: usize, first: String },
}

impl From<sweet_train::TrainError> for StudyError {
    fn from(e: sweet_train::TrainError) -> Self {
        StudyError::Train(Box::new(e))
    }
}

impl From<sweet_vit::checkpoint::CheckpointError> for StudyError {
    fn from(e: sweet_vit::checkpoint::CheckpointError) -> Self {
        StudyError::Model(Box::new(e))
    }
}

impl From<sweet_dense::DenseError> for StudyError {
    fn from(e: sweet_dense::DenseError) -> Self {
        StudyError::Dense(Box::new(e))
    }
}

impl From<sweet_generate::GenerateError> for StudyError {
    fn from(e: sweet_generate::GenerateError) -> Self {
        StudyError::Generate(Box::new(e))
    }
}

impl From<sweet_report::ReportError> for StudyError {
    fn from(e: sweet_report::ReportError) -> Self {
        StudyError::Report(Box::new(e))
    }
}
