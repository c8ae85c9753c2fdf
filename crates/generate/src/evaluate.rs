//! Scoring a generator: class-balanced samples drawn with a fixed seed, judged against the
//! moments of real images ([`crate::judge`]): the Fréchet distance of the judge's features and
//! the judge's accuracy on the labels the samples were conditioned on.

use burn::prelude::*;
use sweet_train::step_seed::step_seed;

use crate::dit::Dit;
use crate::error::GenerateError;
use crate::frechet::FeatureStats;
use crate::judge::{score, Judge, Scores};
use crate::sampler::{sample, SamplerConfig};
use crate::schedule::NoiseSchedule;

/// `n` labels cycling through `0..classes` (`0, 1, ..., K-1, 0, 1, ...`): every class as often
/// as `n` allows.
pub fn balanced_labels(n: usize, classes: usize) -> Vec<usize> {
    (0..n).map(|i| i % classes).collect()
}

/// How a scoring draws its samples.
#[derive(Clone, Debug)]
pub struct Draw<'a> {
    pub schedule: &'a NoiseSchedule,
    pub sampler: &'a SamplerConfig,
    pub classes: usize,
    /// Samples in all.
    pub samples: usize,
    /// Samples per sampling forward (twice as many rows with guidance).
    pub batch: usize,
    /// Batch `i` draws its noise from `step_seed(seed, i, TAG_SAMPLES)`: the same seed and
    /// batch size give the same samples.
    pub seed: u64,
}

/// The stream tag of sample batches (apart from training's streams).
const TAG_SAMPLES: u64 = 11;

impl Draw<'_> {
    /// Samples `model` (inference device) batch by batch: `(images [b, C, H, W] in [-1, 1],
    /// their labels)`.
    pub fn batches<'m>(
        &'m self,
        model: &'m Dit,
    ) -> impl Iterator<Item = (Tensor<4>, Vec<usize>)> + 'm {
        let labels = balanced_labels(self.samples, self.classes);
        let batch = self.batch.max(1);
        (0..self.samples.div_ceil(batch)).map(move |i| {
            let l = labels[i * batch..((i + 1) * batch).min(self.samples)].to_vec();
            let seed = step_seed(self.seed, i, TAG_SAMPLES);
            let images = sample(model, self.schedule, self.sampler, &l, self.classes, seed);
            (images, l)
        })
    }

    /// The scores of `model`'s samples against `reference`.
    pub fn score(
        &self,
        model: &Dit,
        judge: &Judge,
        reference: &FeatureStats,
    ) -> Result<Scores, GenerateError> {
        if self.classes > judge.classes() {
            return Err(GenerateError::Invalid(format!(
                "the model generates {} classes, the judge {} knows {}",
                self.classes,
                judge.dir().display(),
                judge.classes()
            )));
        }
        Ok(score(judge, self.batches(model), reference)?)
    }
}
