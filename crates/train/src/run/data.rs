//! The data set of a run, as its run file names it.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sweet_data::{open, DatasetKind, ImageSet, OpenOptions, Split};

use crate::error::TrainError;

/// Which data set a run reads: flattened into the run files as their first four fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// The [`DatasetKind`] name: mnist, fashion-mnist, cifar10 or imagefolder.
    pub data: String,
    /// The folder holding the data set's files.
    pub data_dir: PathBuf,
    /// imagefolder only: resize every image to this side.
    pub data_img_size: Option<usize>,
    /// imagefolder only: 1 (grayscale) or 3 (RGB) channels.
    pub data_channels: Option<usize>,
}

impl DataConfig {
    /// Reads `split` of the data set: pixels `[N, C, H, W]` and labels `[N]`.
    pub fn open(&self, split: Split) -> Result<Arc<ImageSet>, TrainError> {
        let kind: DatasetKind = self
            .data
            .parse()
            .map_err(|e: sweet_data::ParseKindError| TrainError::Invalid(e.to_string()))?;
        let opts = OpenOptions {
            img_size: self.data_img_size,
            channels: self.data_channels,
        };
        let set = open(kind, &self.data_dir, split, &opts).map_err(|source| TrainError::Data {
            split,
            kind,
            dir: self.data_dir.clone(),
            source,
        })?;
        Ok(Arc::new(set))
    }
}
