//! Data-parallel training over several devices of one machine (`--devices cuda:0,cuda:1`).
//!
//! [`Replicas`] holds one copy of the model and one [`AdamW`] per device, all started from the
//! same model and optimizer state. A step splits the global batch into equal local batches
//! ([`Split`]), runs each replica's forward and backward on its own device, averages the
//! gradients over the replicas, and steps every replica's optimizer on those same averaged
//! gradients (global-norm clipping therefore sees the reduced gradients), so the replicas stay
//! equal; [`Replicas::check_equal`] verifies that at every epoch end. The first replica is what
//! the loop evaluates, logs and checkpoints. With one device the same step runs with one
//! replica: no split, no mean, the task never repointed.
//!
//! With every local batch of the same size and a loss that is a mean over samples, the averaged
//! gradient is the gradient of the global batch: a run on R devices follows the one-device run
//! of the same `--batch-size`, apart from the per-sample random draws (masks, drop path,
//! diffusion noise), which each replica makes from its own stream ([`crate::step_seed::replica_tag`]).
//!
//! Why not burn's all-reduce: burn 0.22's `Tensor::set_distributed` + `DistributedContext`
//! reduces gradients with NCCL on CUDA, but its CPU backend (Flex) implements no collective
//! operation (burn-flex 0.22.1 keeps the trait's panicking defaults), so that path can be
//! neither tested here nor run with CPU replicas.
//! The mean here copies each gradient to the first device (`Tensor::to_device`), sums, and
//! copies the mean back: correct on every backend, at the price of moving every gradient twice
//! through the first device. All replicas are driven from one thread; on CUDA the devices
//! still overlap, since kernels are queued asynchronously and the step reads no value back
//! before every replica's backward pass is queued.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::prelude::*;
use sweet_vit::names::{visit_params, NamedVisit};

use crate::adamw::{gradients_by_key, AdamW};
use crate::error::TrainError;
use crate::task::{Counters, StepOutput, Task};

/// A batch that splits into `parts` equal batches along its samples, in order.
pub trait Split: Sized {
    /// Samples in the batch.
    fn samples(&self) -> usize;
    /// `parts` batches of `samples() / parts` samples each (the caller checks divisibility);
    /// `split(1)` is the batch itself.
    fn split(self, parts: usize) -> Vec<Self>;
}

impl Split for sweet_data::Batch {
    fn samples(&self) -> usize {
        self.batch_size
    }

    fn split(self, parts: usize) -> Vec<Self> {
        if parts == 1 {
            return vec![self];
        }
        let n = self.batch_size / parts;
        let pixels = self.channels * self.height * self.width;
        (0..parts)
            .map(|r| sweet_data::Batch {
                images: self.images[r * n * pixels..(r + 1) * n * pixels].to_vec(),
                labels: self.labels[r * n..(r + 1) * n].to_vec(),
                indices: self.indices[r * n..(r + 1) * n].to_vec(),
                batch_size: n,
                channels: self.channels,
                height: self.height,
                width: self.width,
            })
            .collect()
    }
}

impl<T: Clone> Split for Vec<T> {
    fn samples(&self) -> usize {
        self.len()
    }

    fn split(self, parts: usize) -> Vec<Self> {
        let n = self.len() / parts;
        self.chunks(n.max(1))
            .take(parts)
            .map(<[T]>::to_vec)
            .collect()
    }
}

/// What a step of all replicas hands back to the loop.
pub struct ReplicaStep {
    /// The global batch's mean loss (the mean of the replicas' equal-sized means).
    pub loss: f64,
    /// Samples over all replicas.
    pub samples: usize,
    /// Every replica's counters, summed.
    pub counters: Counters,
}

/// The model and optimizer on each device of a run; replica 0 is the one the loop reports.
pub struct Replicas<M> {
    models: Vec<M>,
    opts: Vec<AdamW>,
    devices: Vec<Device>,
}

impl<M: Module> Replicas<M> {
    /// One replica per device in `devices` (autodiff devices), each a copy of `model` and
    /// `opt`; with no devices, the single replica `model` on its own device. The first device
    /// should be the one `model` lives on (it is moved there otherwise).
    pub fn new(model: M, opt: AdamW, devices: &[Device]) -> Self {
        if devices.len() <= 1 {
            let model = match devices.first() {
                Some(d) => model.fork(d),
                None => model,
            };
            return Replicas {
                models: vec![model],
                opts: vec![opt],
                devices: devices.to_vec(),
            };
        }
        let models = devices.iter().map(|d| model.clone().fork(d)).collect();
        let opts = devices
            .iter()
            .map(|d| opt.forked(&d.clone().inner()))
            .collect();
        Replicas {
            models,
            opts,
            devices: devices.to_vec(),
        }
    }

    /// Replicas in the run.
    pub fn count(&self) -> usize {
        self.models.len()
    }

    /// The first replica: what is evaluated, logged and checkpointed.
    pub fn first(&self) -> &M {
        &self.models[0]
    }

    /// The first replica, taken out.
    pub fn into_first(self) -> M {
        self.models
            .into_iter()
            .next()
            .expect("at least one replica")
    }

    /// The first replica's optimizer.
    pub fn first_opt(&self) -> &AdamW {
        &self.opts[0]
    }

    /// Checks that `task` can run on these replicas and that `batch_size` splits evenly over
    /// them; leaves the task on the first replica.
    pub fn prepare<T: Task<Model = M>>(
        &self,
        task: &mut T,
        batch_size: usize,
    ) -> Result<(), TrainError> {
        let r = self.count();
        if r == 1 {
            return Ok(());
        }
        if !batch_size.is_multiple_of(r) {
            return Err(TrainError::Invalid(format!(
                "--batch-size {batch_size} does not split evenly over {r} devices: use a multiple of {r}"
            )));
        }
        task.set_replica(0, &self.devices[0])
    }

    /// One optimizer step of every replica on `batch` (the global batch) at step `step`
    /// with learning rate `lr`. `Err` carries the non-finite loss; the replicas are then left
    /// as they were.
    pub fn step<T: Task<Model = M>>(
        &mut self,
        task: &mut T,
        batch: T::Batch,
        step: usize,
        lr: f64,
    ) -> Result<ReplicaStep, f64>
    where
        T::Batch: Split,
    {
        let r = self.count();
        // With several replicas the task is pointed at each in turn; one replica is the task's
        // own device, and a task that cannot run data-parallel still runs there.
        let point_at = |task: &mut T, rank: usize| {
            if r > 1 {
                task.set_replica(rank, &self.devices[rank])
                    .expect("prepare checked the task");
            }
        };
        // forward on every device first, then read the losses: the devices run side by side
        let outputs: Vec<StepOutput> = batch
            .split(r)
            .into_iter()
            .enumerate()
            .map(|(rank, part)| {
                point_at(task, rank);
                task.step(&self.models[rank], part, step)
            })
            .collect();
        point_at(task, 0);
        let loss = outputs
            .iter()
            .map(|o| o.loss.clone().into_scalar::<f32>() as f64)
            .sum::<f64>()
            / r as f64;
        if !loss.is_finite() {
            return Err(loss);
        }
        let (mut samples, mut counters) = (0, Counters::new());
        let mut grads = Vec::with_capacity(r);
        for (model, out) in self.models.iter().zip(outputs) {
            samples += out.samples;
            for (name, count) in out.counters {
                *counters.entry(name).or_default() += count;
            }
            grads.push(gradients_by_key(model, &out.loss.backward()));
        }
        let means = if r == 1 {
            grads
        } else {
            mean_over_replicas(grads, &self.devices)
        };
        let models = std::mem::take(&mut self.models);
        self.models = models
            .into_iter()
            .zip(self.opts.iter_mut())
            .zip(means)
            .map(|((model, opt), mean)| opt.step_by_key(model, mean, lr).0)
            .collect();
        Ok(ReplicaStep {
            loss,
            samples,
            counters,
        })
    }

    /// Errs when the replicas' parameters no longer agree (they get the same gradients and
    /// optimizer steps, so they should stay equal to float round-off).
    pub fn check_equal(&self) -> Result<(), TrainError> {
        if self.count() == 1 {
            return Ok(());
        }
        let sums: Vec<f64> = self.models.iter().map(checksum).collect();
        agree(&sums).map_err(TrainError::Invalid)
    }
}

/// The mean over replicas of each key's gradient, as one map per replica on its device.
/// `grads[r]` holds replica r's gradients (on `devices[r]`).
fn mean_over_replicas(
    grads: Vec<BTreeMap<String, Tensor<1>>>,
    devices: &[Device],
) -> Vec<BTreeMap<String, Tensor<1>>> {
    let r = grads.len();
    let first = devices[0].clone().inner();
    let mut sums: BTreeMap<String, Tensor<1>> = BTreeMap::new();
    for replica in grads {
        for (key, g) in replica {
            let g = g.to_device(&first);
            let sum = match sums.remove(&key) {
                Some(s) => s.add(g),
                None => g,
            };
            sums.insert(key, sum);
        }
    }
    let means: BTreeMap<String, Tensor<1>> = sums
        .into_iter()
        .map(|(k, s)| (k, s.div_scalar(r as f64)))
        .collect();
    devices
        .iter()
        .map(|d| {
            let d = d.clone().inner();
            means
                .iter()
                .map(|(k, m)| (k.clone(), m.clone().to_device(&d)))
                .collect()
        })
        .collect()
}

/// Sum of every parameter entry plus the sum of their squares, in f64 on the host.
fn checksum<M: Module>(model: &M) -> f64 {
    struct Sum(f64);
    impl NamedVisit for Sum {
        fn visit<const D: usize>(&mut self, _key: &str, param: &Param<Tensor<D>>) {
            let p = param.val().inner();
            let n = p.shape().num_elements();
            let p = p.reshape([n]);
            let s = p.clone().sum().into_scalar::<f32>() as f64
                + p.square().sum().into_scalar::<f32>() as f64;
            self.0 += s;
        }
    }
    let mut sum = Sum(0.0);
    visit_params(model, &mut sum);
    sum.0
}

/// Relative tolerance of [`agree`]: replicas on different devices may round differently.
const REPLICA_TOLERANCE: f64 = 1e-5;

/// Whether every replica's checksum equals the first's within [`REPLICA_TOLERANCE`].
fn agree(sums: &[f64]) -> Result<(), String> {
    let first = sums[0];
    for (rank, s) in sums.iter().enumerate().skip(1) {
        let rel = (s - first).abs() / first.abs().max(1e-12);
        if rel.is_nan() || rel > REPLICA_TOLERANCE {
            return Err(format!(
                "the data-parallel replicas diverged: parameter checksum of replica {rank} is {s}, \
                 of replica 0 {first} (relative difference {rel:.2e}, tolerance {REPLICA_TOLERANCE:.0e})"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_agree_within_the_tolerance_only() {
        assert!(agree(&[100.0, 100.0, 100.0 + 1e-4]).is_ok());
        let e = agree(&[100.0, 100.0, 100.1]).unwrap_err();
        assert!(e.contains("replica 2") && e.contains("diverged"), "{e}");
        assert!(agree(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn a_batch_splits_into_equal_parts_in_order() {
        let batch = sweet_data::Batch {
            images: (0..4 * 2 * 3).map(|v| v as f32).collect(),
            labels: vec![0, 1, 2, 3],
            indices: vec![10, 11, 12, 13],
            batch_size: 4,
            channels: 1,
            height: 2,
            width: 3,
        };
        let parts = batch.clone().split(2);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].batch_size, 2);
        assert_eq!(parts[1].labels, vec![2, 3]);
        assert_eq!(parts[1].indices, vec![12, 13]);
        assert_eq!(parts[1].images, batch.images[12..].to_vec());
        assert_eq!(parts[0].images, batch.images[..12].to_vec());
        assert_eq!(batch.clone().split(1)[0].images, batch.images);
    }
}
