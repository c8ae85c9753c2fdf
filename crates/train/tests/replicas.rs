//! Data-parallel runs of the epoch loop on a two-parameter task: two replicas on half batches
//! follow the one-device run step by step, every replica gets its part of each batch, and the
//! settings a data-parallel run cannot take are errors.

use burn::module::{Module, Param};
use burn::prelude::*;
use serde::Serialize;
use sweet_train::adamw::AdamWConfig;
use sweet_train::source::BatchSource;
use sweet_train::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};
use sweet_train::{run_epochs, LoopConfig, Observer, Silent, TrainError};

/// `y = a x + b`, fitted by mean squared error to pairs (x, y).
#[derive(Module, Debug)]
struct Line {
    a: Param<Tensor<1>>,
    b: Param<Tensor<1>>,
}

fn line(device: &Device) -> Line {
    let p = |v: f32| {
        Param::from_tensor(Tensor::<1>::from_data(
            TensorData::new(vec![v], [1]),
            device,
        ))
        .set_require_grad(true)
    };
    Line {
        a: p(0.5),
        b: p(-0.2),
    }
}

/// 3 batches of 4 pairs per epoch, different in every epoch.
struct Pairs;
const BATCH: usize = 4;

impl BatchSource for Pairs {
    type Batch = Vec<(f32, f32)>;
    fn samples(&self) -> usize {
        3 * BATCH
    }
    fn batches_per_epoch(&self) -> usize {
        3
    }
    fn epoch(&self, epoch: usize) -> impl Iterator<Item = Vec<(f32, f32)>> {
        (0..3).map(move |b| {
            (0..BATCH)
                .map(|i| {
                    let x = ((epoch * 3 + b) * BATCH + i) as f32 * 0.1 - 0.7;
                    (x, 2.0 * x + 0.3 + (i as f32 - 1.5) * 0.05)
                })
                .collect()
        })
    }
}

#[derive(Serialize)]
struct Record {
    train_loss: f64,
    samples: usize,
    /// Sum over the epoch of the `seen` counter (samples each step counted).
    seen: f64,
}

impl EpochRecord for Record {
    fn report(&self, _observer: &mut dyn Observer) {}
}

/// Records the replica and batch of every step, and the weights after every optimizer step.
struct Fit {
    device: Device,
    rank: usize,
    data_parallel: bool,
    /// (rank, first x of its batch, batch length) of every `step` call.
    calls: Vec<(usize, f32, usize)>,
    weights: Vec<[f32; 2]>,
}

impl Task for Fit {
    type Model = Line;
    type Batch = Vec<(f32, f32)>;
    type Record = Record;

    fn step(&mut self, model: &Line, batch: Vec<(f32, f32)>, _step: usize) -> StepOutput {
        let n = batch.len();
        self.calls.push((self.rank, batch[0].0, n));
        let (xs, ys): (Vec<f32>, Vec<f32>) = batch.into_iter().unzip();
        let x = Tensor::<1>::from_data(TensorData::new(xs, [n]), &self.device);
        let y = Tensor::<1>::from_data(TensorData::new(ys, [n]), &self.device);
        let pred = x.mul(model.a.val().repeat_dim(0, n)) + model.b.val().repeat_dim(0, n);
        StepOutput {
            loss: pred.sub(y).square().mean(),
            samples: n,
            counters: Counters::from([("seen", n as f64)]),
        }
    }

    fn set_replica(&mut self, rank: usize, device: &Device) -> Result<(), TrainError> {
        if !self.data_parallel {
            return Err(TrainError::Invalid("no data parallel here".into()));
        }
        (self.rank, self.device) = (rank, device.clone());
        Ok(())
    }

    fn after_step(&mut self, model: &Line, _step: usize) {
        assert_eq!(self.rank, 0, "the loop hands after_step the first replica");
        self.weights.push([
            model.a.val().into_scalar::<f32>(),
            model.b.val().into_scalar::<f32>(),
        ]);
    }

    fn end_epoch(&mut self, _model: &Line, t: EpochTotals) -> Result<Record, TrainError> {
        Ok(Record {
            train_loss: t.train_loss,
            samples: t.samples,
            seen: t.sum("seen"),
        })
    }
}

fn config(replicas: Vec<Device>) -> LoopConfig {
    LoopConfig {
        epochs: 2,
        batch_size: BATCH,
        lr: 0.05,
        min_lr: 0.005,
        warmup_epochs: 0.5,
        // Adam's update is blind to the scale of the gradients but for eps: a large eps makes
        // a sum in place of the mean over replicas show
        optimizer: AdamWConfig {
            eps: 0.1,
            grad_clip: Some(2.0),
            ..AdamWConfig::default()
        },
        seed: 0,
        workers: 1,
        max_steps: None,
        stop_after: None,
        replicas,
    }
}

fn fit(device: &Device, data_parallel: bool) -> Fit {
    Fit {
        device: device.clone(),
        rank: 0,
        data_parallel,
        calls: Vec::new(),
        weights: Vec::new(),
    }
}

/// The records of a run, or its error as text.
fn run(replicas: Vec<Device>, task: &mut Fit) -> Result<Vec<Record>, String> {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default().autodiff();
    let cfg = config(replicas);
    run_epochs(
        &cfg,
        &Pairs,
        line(&device),
        dir.path(),
        false,
        &mut Silent,
        task,
    )
    .map(|r| r.1)
    .map_err(|e| e.to_string())
}

#[test]
fn two_replicas_on_half_batches_follow_the_one_device_run() {
    let device = Device::default().autodiff();
    let mut one = fit(&device, true);
    let single = run(Vec::new(), &mut one).unwrap();
    let mut two = fit(&device, true);
    let parallel = run(vec![device.clone(), device.clone()], &mut two).unwrap();

    // every step: rank 0 on the first half of the batch, rank 1 on the second
    assert_eq!(one.calls.len(), 6);
    assert_eq!(two.calls.len(), 12);
    for (s, pair) in two.calls.chunks(2).enumerate() {
        let (_, x0, n) = one.calls[s];
        assert_eq!(pair[0], (0, x0, BATCH / 2));
        assert_eq!(pair[1].0, 1);
        assert_eq!(pair[1].2, BATCH / 2);
        assert!((pair[1].1 - (x0 + 0.2)).abs() < 1e-6, "{pair:?}");
        assert_eq!(n, BATCH);
    }
    // the mean of two half-batch gradients is the batch's gradient
    assert_eq!(one.weights.len(), two.weights.len());
    let mut moved = 0.0f32;
    for (w1, w2) in one.weights.iter().zip(&two.weights) {
        for k in 0..2 {
            assert!((w1[k] - w2[k]).abs() < 1e-6, "{w1:?} vs {w2:?}");
        }
        moved = moved.max((w1[0] - 0.5).abs());
    }
    assert!(moved > 0.05, "the weights should move: {:?}", one.weights);
    for (a, b) in single.iter().zip(&parallel) {
        assert!((a.train_loss - b.train_loss).abs() < 1e-6);
        assert_eq!((a.samples, a.seen), (b.samples, b.seen));
    }
}

#[test]
fn a_task_that_cannot_run_data_parallel_is_an_error() {
    let device = Device::default().autodiff();
    let mut task = fit(&device, false);
    let e = run(vec![device.clone(), device.clone()], &mut task)
        .err()
        .expect("refused");
    assert!(e.contains("no data parallel here"), "{e}");
    assert!(task.calls.is_empty());
    // one device never asks
    run(vec![device.clone()], &mut task).unwrap();
}

#[test]
fn a_batch_that_does_not_split_evenly_is_an_error() {
    let device = Device::default().autodiff();
    let mut task = fit(&device, true);
    let e = run(vec![device.clone(); 3], &mut task)
        .err()
        .expect("refused");
    assert!(
        e.contains("--batch-size 4") && e.contains("3 devices"),
        "{e}"
    );
}
