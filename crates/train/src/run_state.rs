//! The resumable state of a run, in one atomically written safetensors file
//! (`RUN/checkpoint.safetensors`): the model (`model.<key>`), the AdamW moments
//! (`optim.exp_avg.<key>`, `optim.exp_avg_sq.<key>`) and, in the metadata, the epoch and step
//! counters. One file means a killed process leaves either the old checkpoint or the new one.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::tensor_file::{self, TensorFileError, FORMAT_KEY, VERSION_KEY};

use crate::adamw::AdamW;

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const CHECKPOINT_FORMAT: &str = "sweet.checkpoint";

/// Counters of a run at the end of an epoch.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps completed.
    pub step: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    File(#[from] TensorFileError),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// Writes model, optimizer and progress at once.
pub fn save<M: Module>(
    path: &Path,
    model: &M,
    opt: &AdamW,
    progress: Progress,
) -> Result<(), CheckpointError> {
    let mut tensors: Vec<(String, HostTensor)> = named_tensors(model)
        .into_iter()
        .map(|(k, t)| (format!("model.{k}"), t))
        .collect();
    for (prefix, moments) in [
        ("optim.exp_avg", &opt.exp_avg),
        ("optim.exp_avg_sq", &opt.exp_avg_sq),
    ] {
        for (k, v) in moments {
            tensors.push((
                format!("{prefix}.{k}"),
                HostTensor {
                    shape: vec![v.len()],
                    values: v.clone(),
                },
            ));
        }
    }
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), CHECKPOINT_FORMAT.to_string()),
        (VERSION_KEY.to_string(), "1".to_string()),
        (
            "progress".to_string(),
            serde_json::to_string(&progress).expect("serializable"),
        ),
        ("optimizer_step".to_string(), opt.step.to_string()),
    ]);
    Ok(tensor_file::write(path, &tensors, &meta)?)
}

/// Restores model parameters and optimizer state saved by [`save`]; returns the progress.
pub fn load<M: Module>(
    path: &Path,
    model: M,
    opt: &mut AdamW,
) -> Result<(M, Progress), CheckpointError> {
    let file = tensor_file::read(path)?;
    file.expect_format(path, CHECKPOINT_FORMAT)?;
    let bad = |why: String| CheckpointError::Invalid(path.display().to_string(), why);
    let mut params = BTreeMap::new();
    opt.exp_avg.clear();
    opt.exp_avg_sq.clear();
    for (k, t) in file.tensors {
        if let Some(key) = k.strip_prefix("model.") {
            params.insert(key.to_string(), t);
        } else if let Some(key) = k.strip_prefix("optim.exp_avg_sq.") {
            opt.exp_avg_sq.insert(key.to_string(), t.values);
        } else if let Some(key) = k.strip_prefix("optim.exp_avg.") {
            opt.exp_avg.insert(key.to_string(), t.values);
        } else {
            return Err(bad(format!("unexpected tensor {k}")));
        }
    }
    let model = load_named(model, &params).map_err(|e| bad(e.to_string()))?;
    let progress = file
        .metadata
        .get("progress")
        .ok_or_else(|| bad("no progress in metadata".into()))?;
    let progress: Progress = serde_json::from_str(progress).map_err(|e| bad(e.to_string()))?;
    opt.step = file
        .metadata
        .get("optimizer_step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no optimizer_step in metadata".into()))?;
    Ok((model, progress))
}
