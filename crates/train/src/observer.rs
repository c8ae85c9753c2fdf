//! Progress reporting of a training run. The CLI implements it with progress bars (they live
//! only in the binary); a study runner passes [`Silent`].

use crate::classify::EpochMetrics;
use crate::pretrain::PretrainMetrics;

/// What a run reports as it goes, in this order: `run_start` once, then per epoch
/// `epoch_start`, `step` per optimizer step, `evaluating`, and the epoch's record.
pub trait Observer {
    /// A one-line account of the run about to start (data, batches, lr, size).
    fn run_start(&mut self, _summary: &str) {}
    /// Epoch `epoch` (0-based) of `epochs` begins; it will take `batches` steps.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// One optimizer step done: its loss and the epoch's throughput so far.
    fn step(&mut self, _loss: f64, _images_per_s: f64) {}
    fn evaluating(&mut self) {}
    fn epoch_end(&mut self, _metrics: &EpochMetrics) {}
    fn pretrain_epoch_end(&mut self, _metrics: &PretrainMetrics) {}
    /// The end of an epoch of any other task (detection, segmentation, ...), as the one line
    /// its record reads as.
    fn epoch_line(&mut self, _line: &str) {}
}

/// No reporting.
pub struct Silent;
impl Observer for Silent {}
