//! The one error type of training runs: what stopped a run, naming the file or setting to fix.

use std::path::PathBuf;

use sweet_data::{DataError, DatasetKind, Split};
use sweet_vit::tensor_file::TensorFileError;

use crate::run_state::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("non-finite loss ({loss}) at epoch {epoch}, step {step}; the last good checkpoint is kept in {checkpoint} (lower --lr or set --grad-clip)")]
    NonFinite {
        loss: f64,
        epoch: usize,
        step: usize,
        checkpoint: PathBuf,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A data set that could not be read.
    #[error("reading the {split:?} split of {kind} from {}", dir.display())]
    Data {
        split: Split,
        kind: DatasetKind,
        dir: PathBuf,
        source: DataError,
    },
    /// A model folder that could not be loaded (a run's `init_from`).
    #[error(transparent)]
    Model(#[from] sweet_vit::checkpoint::CheckpointError),
    /// A run file that could not be written.
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        source: TensorFileError,
    },
    #[error("{0}")]
    Invalid(String),
}
