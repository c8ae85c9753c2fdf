//! What can go wrong in a generation run, sampling or evaluation, each naming what to look at.

use std::path::PathBuf;

/// An error of a generation run, of sampling or of scoring (the large errors of other crates
/// boxed, so every `Result` here stays small).
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Train(Box<sweet_train::TrainError>),
    /// A model folder that could not be read or written.
    #[error(transparent)]
    Model(Box<sweet_vit::checkpoint::CheckpointError>),
    #[error(transparent)]
    Judge(Box<crate::judge::JudgeError>),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl From<sweet_train::TrainError> for GenerateError {
    fn from(e: sweet_train::TrainError) -> Self {
        GenerateError::Train(Box::new(e))
    }
}

impl From<sweet_vit::checkpoint::CheckpointError> for GenerateError {
    fn from(e: sweet_vit::checkpoint::CheckpointError) -> Self {
        GenerateError::Model(Box::new(e))
    }
}

impl From<crate::judge::JudgeError> for GenerateError {
    fn from(e: crate::judge::JudgeError) -> Self {
        GenerateError::Judge(Box::new(e))
    }
}
