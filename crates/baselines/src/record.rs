//! `OUT/init.json` of a baseline: how the model folder was made. The sibling of SWEET's
//! `sweet_train::run::InitRecord` (which describes a template, its scalers and their learning);
//! one type, [`BaselineRecord`], for every baseline, with the method and its settings as a
//! tagged enum ([`Method`]), so a reader can tell the methods apart by `method.name`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sweet_vit::VitConfig;

use crate::error::BaselineError;
use crate::ligo::LigoConfig;
use crate::mimetic::MimeticConfig;
use crate::selection::SelectionConfig;

/// The file name, shared with SWEET's record: its presence means the folder is finished.
pub const RECORD_FILE: &str = "init.json";

/// The method and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Method {
    /// BASELINES.md §1.
    Mimetic(MimeticConfig),
    /// BASELINES.md §2.
    WeightSelection(SelectionConfig),
    /// BASELINES.md §5 (boxed: its settings outweigh the others').
    Ligo(Box<LigoConfig>),
}

impl Method {
    /// The `sweet init` subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Mimetic(_) => "mimetic",
            Method::WeightSelection(_) => "weight-selection",
            Method::Ligo(_) => "ligo",
        }
    }
}

/// The model folder a method started from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceModel {
    /// The folder as given.
    pub path: PathBuf,
    /// SHA-256 of its `model.safetensors`.
    pub sha256: String,
    /// Its architecture (`config.json`).
    pub vit: VitConfig,
}

/// `OUT/init.json` of a baseline initialization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRecord {
    pub method: Method,
    /// The source model (none for data-free methods).
    pub source: Option<SourceModel>,
    /// The architecture written to `config.json`.
    pub vit: VitConfig,
    pub parameters: usize,
    /// Seeds every random draw (timm's init of what the method does not set, the method's own
    /// draws, the fresh head).
    pub seed: u64,
    /// MAE loss (norm-pix, masked patches, fixed masks) on the evaluation images before and
    /// after a method's training on data (LiGO's operator); `None` for data-free methods.
    #[serde(default)]
    pub mae_loss_before: Option<f64>,
    #[serde(default)]
    pub mae_loss_after: Option<f64>,
    /// Wall seconds of the whole initialization (reading, computing, training, writing).
    pub seconds: f64,
}

impl BaselineRecord {
    /// Writes the record as `dir/init.json` (pretty JSON, atomically).
    pub fn write(&self, dir: &Path) -> Result<(), BaselineError> {
        let text = serde_json::to_string_pretty(self).expect("records serialize");
        let path = dir.join(RECORD_FILE);
        sweet_vit::tensor_file::atomic_write(&path, text.as_bytes())
            .map_err(|e| sweet_vit::checkpoint::CheckpointError::from(e).into())
    }

    /// Reads `dir/init.json`.
    pub fn read(dir: &Path) -> Result<Self, BaselineError> {
        let path = dir.join(RECORD_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| BaselineError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| BaselineError::Invalid(format!("{}: {e}", path.display())))
    }
}
