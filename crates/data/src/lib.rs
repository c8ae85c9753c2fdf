//! Image datasets for sweet, as plain buffers (no burn dependency).
//!
//! - [`open`] reads MNIST / Fashion-MNIST (IDX, raw or `.gz`), CIFAR-10 (binary batches) or an
//!   image folder into an [`ImageSet`]: `u8` pixels `[N, C, H, W]` plus `u32` labels.
//! - [`Loader`] turns an [`ImageSet`] into seeded, in-order [`Batch`]es of normalized `f32`
//!   `[B, C, H, W]`, built by worker threads, with optional [`Augment`]ation.
//! - [`labels_per_class`] draws a seeded, stratified subset; [`synthetic()`] makes a learnable toy
//!   set; [`write_idx`] writes IDX files (for end-to-end tests).
//!
//! - [`DenseSet`] holds a dense task's images with their [`Object`]s and semantic maps.
//!
//! Every problem with input files is a [`DataError`] naming the file; nothing panics on bad input.

pub mod augment;
pub mod cifar;
pub mod dataset;
pub mod dense;
pub mod error;
pub mod idx;
pub mod image_folder;
pub mod loader;
pub mod seed;
pub mod subset;
pub mod synthetic;

pub use augment::Augment;
pub use dense::{DenseSet, Object};
pub use dataset::{open, DatasetKind, ImageSet, OpenOptions, ParseKindError, Split};
pub use error::DataError;
pub use idx::write_idx;
pub use loader::{Batch, EpochIter, Loader, LoaderConfig};
pub use subset::labels_per_class;
pub use synthetic::synthetic;
