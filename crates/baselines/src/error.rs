//! What can go wrong making a baseline model, with what to change.

use std::path::PathBuf;

use sweet_train::TrainError;
use sweet_vit::checkpoint::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// Settings or sizes the method cannot produce.
    #[error("{0}")]
    Invalid(String),
    /// The source model folder, or writing the output folder.
    #[error(transparent)]
    Checkpoint(Box<CheckpointError>),
    #[error(transparent)]
    Train(Box<TrainError>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<CheckpointError> for BaselineError {
    fn from(e: CheckpointError) -> Self {
        BaselineError::Checkpoint(Box::new(e))
    }
}

impl From<TrainError> for BaselineError {
    fn from(e: TrainError) -> Self {
        BaselineError::Train(Box::new(e))
    }
}
