//! What can go wrong in a dense run, each naming what to look at.

use std::path::PathBuf;

/// An error of a dense run, evaluation or prediction (the large errors of other crates boxed,
/// so every `Result` here stays small).
#[derive(Debug, thiserror::Error)]
pub enum DenseError {
    #[error(transparent)]
    Train(Box<sweet_train::TrainError>),
    /// Data that could not be read.
    #[error("reading {}", dir.display())]
    Data {
        dir: PathBuf,
        source: Box<sweet_data::DataError>,
    },
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// A model folder that could not be read or written.
    #[error(transparent)]
    Model(Box<sweet_vit::checkpoint::CheckpointError>),
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

impl From<sweet_train::TrainError> for DenseError {
    fn from(e: sweet_train::TrainError) -> Self {
        DenseError::Train(Box::new(e))
    }
}

impl From<sweet_vit::checkpoint::CheckpointError> for DenseError {
    fn from(e: sweet_vit::checkpoint::CheckpointError) -> Self {
        DenseError::Model(Box::new(e))
    }
}
