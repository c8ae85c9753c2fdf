//! Where the training loop's batches come from: [`BatchSource`], with the seeded image
//! [`Loader`] as one implementation, and the loaders of training and evaluation.

use std::sync::Arc;

use sweet_data::{Augment, Batch, ImageSet, Loader, LoaderConfig};

use crate::epochs::LoopConfig;

/// The batches of each epoch of a run, as [`crate::epochs::run_epochs`] consumes them. Epoch
/// `e` must give the same batches in the same order every time it is asked for (a resumed run
/// asks again for the epochs after its checkpoint).
pub trait BatchSource {
    /// What one step consumes (the caller's choice: images with labels, images with boxes, ...).
    type Batch;
    /// Samples (images) an epoch draws from, for messages.
    fn samples(&self) -> usize;
    /// Batches in every epoch.
    fn batches_per_epoch(&self) -> usize;
    /// The batches of epoch `epoch` (0-based), in order.
    fn epoch(&self, epoch: usize) -> impl Iterator<Item = Self::Batch>;
}

impl BatchSource for Loader {
    type Batch = Batch;

    fn samples(&self) -> usize {
        self.set().len
    }

    fn batches_per_epoch(&self) -> usize {
        self.num_batches()
    }

    fn epoch(&self, epoch: usize) -> impl Iterator<Item = Batch> {
        Loader::epoch(self, epoch)
    }
}

/// The training loader of a run: a permutation per epoch seeded by `cfg.seed`, full batches of
/// `cfg.batch_size` only, `cfg.workers` threads, `augment` applied.
pub fn training_loader(set: Arc<ImageSet>, cfg: &LoopConfig, augment: Augment) -> Loader {
    Loader::new(
        set,
        LoaderConfig {
            batch_size: cfg.batch_size,
            shuffle: true,
            drop_last: true,
            seed: cfg.seed,
            workers: cfg.workers,
            augment,
        },
    )
}

/// An evaluation loader: every image of `set` once, in order, unaugmented.
pub fn evaluation_loader(set: Arc<ImageSet>, batch_size: usize, workers: usize) -> Loader {
    Loader::new(
        set,
        LoaderConfig {
            batch_size,
            shuffle: false,
            drop_last: false,
            seed: 0,
            workers,
            augment: Augment::none(),
        },
    )
}
