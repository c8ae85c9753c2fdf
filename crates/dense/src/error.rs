//! What can go wrong in a dense run, each naming what to look at.

use std::path::PathBuf;

/// An error of a dense run, evaluation or prediction.
#[derive(Debug, thiserror::Error)]
pub enum DenseError {
    #[error(transparent)]
    Train(#[from] sweet_train::TrainError),
    /// Data that could not be read.
    #[error("reading {}", dir.display())]
    Data {
        dir: PathBuf,
        source: sweet_data::DataError,
    },
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// A model folder that could not be read or written.
    #[error(transparent)]
    Model(#[from] sweet_vit::checkpoint::CheckpointError),
    /// A backbone that cannot take the data's image size or the chosen patch.
    #[error(transparent)]
    Arch(#[from] sweet_vit::ConfigError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}
