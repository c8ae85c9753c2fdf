//! Dataset flags shared by every command that reads data.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sweet_data::{DatasetKind, ImageSet, Split};
use sweet_train::run::DataConfig;

#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Dataset format: mnist, fashion-mnist (IDX, raw or .gz), cifar10 (binary batches), or
    /// imagefolder (DIR/train/<class>/*.png|jpg and DIR/test/<class>/...).
    #[arg(long)]
    pub data: Option<DatasetKind>,
    /// Folder with the dataset's files (e.g. data/mnist after scripts/fetch-data.sh).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// imagefolder only: resize every image to this side (default: the first image's size).
    #[arg(long)]
    pub data_img_size: Option<usize>,
    /// imagefolder only: 1 (grayscale) or 3 (RGB) channels.
    #[arg(long)]
    pub data_channels: Option<usize>,
}

impl DataArgs {
    /// The dataset kind and folder, or an error saying which flag is missing.
    pub fn source(&self) -> anyhow::Result<(DatasetKind, PathBuf)> {
        let kind = self
            .data
            .context("--data is required (mnist, fashion-mnist, cifar10 or imagefolder)")?;
        let dir = self
            .data_dir
            .clone()
            .context("--data-dir is required (the folder holding the dataset files)")?;
        Ok((kind, dir))
    }

    /// The data set these flags name, as a run file holds it.
    pub fn config(&self) -> anyhow::Result<DataConfig> {
        let (kind, dir) = self.source()?;
        Ok(DataConfig {
            data: kind.name().to_string(),
            data_dir: dir,
            data_img_size: self.data_img_size,
            data_channels: self.data_channels,
        })
    }

    pub fn open(&self, split: Split) -> anyhow::Result<Arc<ImageSet>> {
        Ok(self.config()?.open(split)?)
    }
}
