//! The resumable state of a run, in one atomically written safetensors file
//! (`RUN/checkpoint.safetensors`): the model (`model.<key>`), the AdamW moments
//! (`optim.exp_avg.<key>`, `optim.exp_avg_sq.<key>`, flattened `[numel]`) and, in the metadata,
//! the format version, the epoch and step counters and `optimizer_step`. One file means a killed
//! process leaves either the old checkpoint or the new one. The moments live on the device
//! during training; only [`save`] and [`load`] copy them to and from the host.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::{Module, Param};
use burn::prelude::*;
use sweet_vit::names::{load_named, named_tensors, visit_params, HostTensor, NamedVisit};
use sweet_vit::tensor_file::{self, TensorFileError, FORMAT_KEY, VERSION_KEY};

use crate::adamw::AdamW;

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const CHECKPOINT_FORMAT: &str = "sweet.checkpoint";
/// The format version [`save`] writes.
pub const CHECKPOINT_VERSION: &str = "1";
/// The format versions [`load`] understands.
pub const CHECKPOINT_VERSIONS: &[&str] = &[CHECKPOINT_VERSION];

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
            tensors.push((format!("{prefix}.{k}"), HostTensor::from_tensor(v)));
        }
    }
    let meta = BTreeMap::from([
        (FORMAT_KEY.to_string(), CHECKPOINT_FORMAT.to_string()),
        (VERSION_KEY.to_string(), CHECKPOINT_VERSION.to_string()),
        (
            "progress".to_string(),
            serde_json::to_string(&progress).expect("serializable"),
        ),
        ("optimizer_step".to_string(), opt.step.to_string()),
    ]);
    Ok(tensor_file::write(path, &tensors, &meta)?)
}

/// Restores model parameters and optimizer state saved by [`save`]; returns the progress.
/// Fails, leaving `opt` as it was, on an unknown format version, on a moment of a key the
/// model does not have, on a moment whose length is not its parameter's element count, and on
/// a first moment without its second (or the reverse).
pub fn load<M: Module>(
    path: &Path,
    model: M,
    opt: &mut AdamW,
) -> Result<(M, Progress), CheckpointError> {
    let file = tensor_file::read(path)?;
    file.expect_format_version(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSIONS)?;
    let bad = |why: String| CheckpointError::Invalid(path.display().to_string(), why);
    let mut params = BTreeMap::new();
    let mut exp_avg = BTreeMap::new();
    let mut exp_avg_sq = BTreeMap::new();
    for (k, t) in file.tensors {
        if let Some(key) = k.strip_prefix("model.") {
            params.insert(key.to_string(), t);
        } else if let Some(key) = k.strip_prefix("optim.exp_avg_sq.") {
            exp_avg_sq.insert(key.to_string(), t.values);
        } else if let Some(key) = k.strip_prefix("optim.exp_avg.") {
            exp_avg.insert(key.to_string(), t.values);
        } else {
            return Err(bad(format!("unexpected tensor {k}")));
        }
    }
    let model = load_named(model, &params).map_err(|e| bad(e.to_string()))?;
    let slots = param_slots(&model);
    let mut moments = Vec::new();
    for (name, these, other, other_name) in [
        ("exp_avg", &exp_avg, &exp_avg_sq, "exp_avg_sq"),
        ("exp_avg_sq", &exp_avg_sq, &exp_avg, "exp_avg"),
    ] {
        let mut on_device = BTreeMap::new();
        for (key, values) in these {
            let Some((numel, device)) = slots.get(key) else {
                return Err(bad(format!(
                    "optim.{name}.{key}: the model has no parameter {key}"
                )));
            };
            if values.len() != *numel {
                return Err(bad(format!(
                    "optim.{name}.{key} has {} values, but parameter {key} has {numel} elements",
                    values.len()
                )));
            }
            if !other.contains_key(key) {
                return Err(bad(format!(
                    "optim.{name}.{key} has no optim.{other_name}.{key}"
                )));
            }
            let host = TensorData::new(values.clone(), [*numel]);
            on_device.insert(key.clone(), Tensor::<1>::from_data(host, device));
        }
        moments.push(on_device);
    }
    let progress = file
        .metadata
        .get("progress")
        .ok_or_else(|| bad("no progress in metadata".into()))?;
    let progress: Progress = serde_json::from_str(progress).map_err(|e| bad(e.to_string()))?;
    let step = file
        .metadata
        .get("optimizer_step")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no optimizer_step in metadata".into()))?;
    opt.exp_avg_sq = moments.pop().expect("two maps");
    opt.exp_avg = moments.pop().expect("two maps");
    opt.step = step;
    Ok((model, progress))
}

/// Every float parameter's key with its element count and its device without autodiff (where
/// the optimizer keeps its moments).
fn param_slots<M: Module>(model: &M) -> BTreeMap<String, (usize, Device)> {
    struct Slots {
        out: BTreeMap<String, (usize, Device)>,
    }
    impl NamedVisit for Slots {
        fn visit<const D: usize>(&mut self, key: &str, param: &Param<Tensor<D>>) {
            let t = param.val();
            let slot = (t.shape().num_elements(), t.device().inner());
            self.out.insert(key.to_string(), slot);
        }
    }
    let mut v = Slots {
        out: BTreeMap::new(),
    };
    visit_params(model, &mut v);
    v.out
}
