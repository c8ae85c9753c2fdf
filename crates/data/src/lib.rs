//! Image datasets for sweet, as plain buffers (no burn dependency).
//!
//! - [`open`] reads MNIST / Fashion-MNIST (IDX, raw or `.gz`), CIFAR-10 (binary batches) or an
//!   image folder into an [`ImageSet`]: `u8` pixels `[N, C, H, W]` plus `u32` labels.
//! - [`Loader`] turns an [`ImageSet`] into seeded, in-order [`Batch`]es of normalized `f32`
//!   `[B, C, H, W]`, built by worker threads, with optional [`Augment`]ation.
//! - [`labels_per_class`] draws a seeded, stratified subset; [`synthetic()`] makes a learnable toy
//!   set; [`write_idx`] writes IDX files (for end-to-end tests).
//!
//! - [`DenseSet`] holds a dense task's images with their [`Object`]s and semantic maps;
//!   [`open_coco`] reads COCO JSON with its images, [`open_dense`] a split folder in the
//!   layout of [`coco`], [`open_mask_folder`] images with class-index masks.
//! - [`canvas`] makes MNIST-canvas detection / segmentation data; [`write_canvas`] writes a
//!   set of it (COCO JSON, PNG images and semantic maps) atomically.
//!
//! Every problem with input files is a [`DataError`] naming the file; nothing panics on bad input.

pub mod augment;
pub mod canvas;
pub mod cifar;
pub mod coco;
pub mod dataset;
pub mod dense;
mod dense_files;
pub mod error;
pub mod idx;
pub mod image_folder;
pub mod loader;
pub mod mask_folder;
pub mod seed;
mod staging;
pub mod subset;
pub mod synthetic;

pub use augment::Augment;
pub use canvas::{Canvas, CanvasConfig, CanvasMaker, CanvasObject};
pub use coco::{open_coco, open_dense, write_canvas, CanvasInfo};
pub use dataset::{open, DatasetKind, ImageSet, OpenOptions, ParseKindError, Split};
pub use dense::{DenseSet, Object};
pub use error::DataError;
pub use idx::write_idx;
pub use loader::{Batch, EpochIter, Loader, LoaderConfig};
pub use mask_folder::open_mask_folder;
pub use subset::labels_per_class;
pub use synthetic::synthetic;
