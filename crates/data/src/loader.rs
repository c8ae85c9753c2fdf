//! Seeded, multi-threaded, in-order batch loader.
//!
//! Epoch `e` visits the samples in a permutation drawn from an RNG seeded by `(seed, e)` (or
//! `0..N` without shuffle); the sample at position `p` of epoch `e` is augmented with an RNG
//! seeded by `(seed, e, p)`. So batches are identical whatever the worker count, and a run
//! resumed at an epoch boundary sees the same data as an uninterrupted one.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::augment::Augment;
use crate::dataset::ImageSet;
use crate::seed::{rng, TAG_AUGMENT, TAG_ORDER};

/// Batches prepared ahead of the consumer, over all workers together (at least one per worker).
pub const PREFETCH: usize = 4;

/// One batch: `images` is `[batch_size, channels, height, width]` normalized `f32`, `labels`
/// and `indices` (positions in the [`ImageSet`]) are `[batch_size]`. `batch_size` is the
/// number of samples in this batch (the last batch of an epoch may be smaller).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    pub indices: Vec<usize>,
    pub batch_size: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Loader settings. `batch_size` and `workers` of 0 are read as 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub shuffle: bool,
    /// Drop a final batch smaller than `batch_size`.
    pub drop_last: bool,
    pub seed: u64,
    /// Number of threads building batches.
    pub workers: usize,
    pub augment: Augment,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            drop_last: false,
            seed: 0,
            workers: 2,
            augment: Augment::none(),
        }
    }
}

/// The RNG that augments the sample at position `position` of epoch `epoch`.
pub fn augment_rng(seed: u64, epoch: usize, position: usize) -> ChaCha8Rng {
    rng(&[TAG_AUGMENT, seed, epoch as u64, position as u64])
}

/// The RNG that draws the sample order of epoch `epoch`.
pub fn order_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    rng(&[TAG_ORDER, seed, epoch as u64])
}

/// Everything a worker needs to build any batch of one epoch.
struct Plan {
    set: Arc<ImageSet>,
    cfg: LoaderConfig,
    epoch: usize,
    order: Vec<usize>,
    pad: Vec<f32>,
}

impl Plan {
    /// Builds batch `b` (positions `b * batch_size ..` of the epoch order).
    fn batch(&self, b: usize) -> Batch {
        let set = &self.set;
        let bs = self.cfg.batch_size;
        let start = (b * bs).min(self.order.len());
        let positions = start..(start + bs).min(self.order.len());
        let n = set.image_len();
        let mut images = vec![0f32; positions.len() * n];
        let mut labels = Vec::with_capacity(positions.len());
        let mut indices = Vec::with_capacity(positions.len());
        for (slot, p) in positions.clone().enumerate() {
            let i = self.order[p];
            let out = &mut images[slot * n..(slot + 1) * n];
            set.image_f32(i, out);
            if !self.cfg.augment.is_identity() {
                let mut r = augment_rng(self.cfg.seed, self.epoch, p);
                self.cfg
                    .augment
                    .apply(out, set.channels, set.height, set.width, &self.pad, &mut r);
            }
            labels.push(set.labels[i]);
            indices.push(i);
        }
        Batch {
            images,
            labels,
            indices,
            batch_size: positions.len(),
            channels: set.channels,
            height: set.height,
            width: set.width,
        }
    }
}

/// Seeded multi-threaded batch loader over a shared [`ImageSet`].
#[derive(Debug, Clone)]
pub struct Loader {
    set: Arc<ImageSet>,
    cfg: LoaderConfig,
}

impl Loader {
    pub fn new(set: Arc<ImageSet>, mut cfg: LoaderConfig) -> Self {
        cfg.batch_size = cfg.batch_size.max(1);
        cfg.workers = cfg.workers.max(1);
        Loader { set, cfg }
    }

    /// Batches per epoch: `ceil(N / B)`, or `floor(N / B)` with `drop_last`.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.set.len, self.cfg.batch_size);
        if self.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    pub fn set(&self) -> &Arc<ImageSet> {
        &self.set
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    /// The sample order of `epoch`: a seeded permutation of `0..N`, or `0..N` without shuffle.
    pub fn epoch_order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.set.len).collect();
        if self.cfg.shuffle {
            order.shuffle(&mut order_rng(self.cfg.seed, epoch));
        }
        order
    }

    fn plan(&self, epoch: usize) -> Plan {
        Plan {
            set: Arc::clone(&self.set),
            cfg: self.cfg.clone(),
            epoch,
            order: self.epoch_order(epoch),
            pad: self.set.pad_value(),
        }
    }

    /// Batch `b` of `epoch`, built on the calling thread (same result as the iterator gives);
    /// `None` when `b >= num_batches()`.
    pub fn batch(&self, epoch: usize, b: usize) -> Option<Batch> {
        (b < self.num_batches()).then(|| self.plan(epoch).batch(b))
    }

    /// The batches of `epoch`, in order, built by `workers` threads with bounded prefetch.
    /// Dropping the iterator early stops and joins the workers.
    pub fn epoch(&self, epoch: usize) -> EpochIter {
        let total = self.num_batches();
        let workers = self.cfg.workers.min(total);
        let plan = Arc::new(self.plan(epoch));
        let capacity = PREFETCH.div_ceil(workers.max(1)).max(1);
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Batch>(capacity);
            let plan = Arc::clone(&plan);
            handles.push(std::thread::spawn(move || {
                for b in (w..total).step_by(workers) {
                    if tx.send(plan.batch(b)).is_err() {
                        return; // consumer gone
                    }
                }
            }));
            receivers.push(rx);
        }
        EpochIter {
            receivers,
            handles,
            next: 0,
            total,
        }
    }
}

/// Iterator over the batches of one epoch (see [`Loader::epoch`]). Batch `b` comes from worker
/// `b % workers`, so delivery is in order.
pub struct EpochIter {
    receivers: Vec<Receiver<Batch>>,
    handles: Vec<JoinHandle<()>>,
    next: usize,
    total: usize,
}

impl EpochIter {
    /// Stops the workers (their next send fails) and waits for them; returns a worker's panic
    /// payload if one panicked.
    fn shutdown(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        self.receivers.clear();
        let mut panic = None;
        for handle in self.handles.drain(..) {
            if let Err(payload) = handle.join() {
                panic = Some(payload);
            }
        }
        panic
    }
}

impl Iterator for EpochIter {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.total || self.receivers.is_empty() {
            return None;
        }
        let w = self.next % self.receivers.len();
        match self.receivers[w].recv() {
            Ok(batch) => {
                self.next += 1;
                Some(batch)
            }
            Err(_) => {
                // A worker hung up before sending all its batches: it panicked. Re-raise it.
                self.next = self.total;
                match self.shutdown() {
                    Some(payload) => std::panic::resume_unwind(payload),
                    None => None,
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for EpochIter {}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.shutdown();
    }
}
