//! Training runs as library calls: the run configs saved in a run folder (`RUN/run.json` for
//! classification, `RUN/pretrain.json` for MAE pre-training), and per task one function that,
//! given such a config, opens the data, builds or loads the model and trains, resuming a killed
//! run on request. The CLI parses flags into these configs; a study runner builds them itself.

mod classification;
mod data;
mod expansion;
mod initialization;
mod pretraining;
mod scaler_learning;

use std::path::Path;

use serde::Serialize;

pub use classification::{run_classification, ClassifyOutcome, ClassifyRun};
pub use data::DataConfig;
pub use expansion::{run_expansion, ExpandRun, ExpansionInit};
pub use initialization::{
    finished_init, run_init, run_init_kronecker, InitRecord, InitRun, KroneckerInit,
    KroneckerInitRecord, KroneckerInitRun, ScalerLearning, SweetInit, INIT_FILE, SCALER_RUN,
};
pub use pretraining::{
    pretrain_output, run_pretraining, write_pretrain_output, PretrainOutcome, PretrainRun,
};

use crate::error::TrainError;
use crate::run_state::CHECKPOINT_FILE;

/// Refuses to start a new run in `out` when it already holds one (a checkpoint).
pub fn refuse_existing_run(out: &Path) -> Result<(), TrainError> {
    if out.join(CHECKPOINT_FILE).exists() {
        return Err(TrainError::Invalid(format!(
            "{} already holds a run: pass --resume to continue it, or choose another --out",
            out.display()
        )));
    }
    Ok(())
}

/// Creates the run folder `out` and writes `run` into it as `file` (pretty JSON, atomically).
pub fn write_run_file<T: Serialize>(out: &Path, file: &str, run: &T) -> Result<(), TrainError> {
    std::fs::create_dir_all(out).map_err(|source| TrainError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let path = out.join(file);
    let text = serde_json::to_string_pretty(run).expect("run configs serialize");
    sweet_vit::tensor_file::atomic_write(&path, text.as_bytes())
        .map_err(|source| TrainError::Write { path, source })
}
