//! The epoch loop on a one-parameter task fed by a plain batch source (no images): the step
//! limit, the post-step hook, the named counters, and resume after the limit.

use std::path::Path;

use burn::module::{Module, Param};
use burn::prelude::*;
use serde::Serialize;
use sweet_train::adamw::AdamWConfig;
use sweet_train::run_state::{self, Progress, CHECKPOINT_FILE};
use sweet_train::schedule::Schedule;
use sweet_train::source::BatchSource;
use sweet_train::task::{Counters, EpochRecord, EpochTotals, StepOutput, Task};
use sweet_train::{run_epochs, LoopConfig, Observer, Silent, TrainError, METRICS_FILE};

/// `w` `[1]`, fitted to the batches' values by mean squared error.
#[derive(Module, Debug)]
struct Scalar {
    w: Param<Tensor<1>>,
}

fn scalar(device: &Device) -> Scalar {
    let w = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), device);
    Scalar {
        w: Param::from_tensor(w).set_require_grad(true),
    }
}

/// `BATCHES` batches of `BATCH` values per epoch, different in every epoch.
struct Numbers;
const BATCH: usize = 2;
const BATCHES: usize = 4;

impl BatchSource for Numbers {
    type Batch = Vec<f32>;
    fn samples(&self) -> usize {
        BATCH * BATCHES
    }
    fn batches_per_epoch(&self) -> usize {
        BATCHES
    }
    fn epoch(&self, epoch: usize) -> impl Iterator<Item = Vec<f32>> {
        (0..BATCHES).map(move |b| {
            (0..BATCH)
                .map(|i| ((epoch * BATCHES + b) * BATCH + i) as f32 * 0.1)
                .collect()
        })
    }
}

#[derive(Serialize)]
struct Line {
    epoch: usize,
    step: usize,
    lr: f64,
    samples: usize,
    /// Sum and mean per sample of the counter `odd` (values from odd positions).
    odd_sum: f64,
    odd_mean: f64,
}

impl EpochRecord for Line {
    fn report(&self, _observer: &mut dyn Observer) {}
}

/// Records every `after_step` call with the weight it saw.
struct Fit {
    device: Device,
    stepped: Vec<usize>,
    weights: Vec<f32>,
}

impl Task for Fit {
    type Model = Scalar;
    type Batch = Vec<f32>;
    type Record = Line;

    fn step(&mut self, model: &Scalar, batch: Vec<f32>, _step: usize) -> StepOutput {
        let n = batch.len();
        let x = Tensor::<1>::from_data(TensorData::new(batch, [n]), &self.device);
        let loss = model.w.val().repeat_dim(0, n).sub(x).square().mean();
        StepOutput {
            loss,
            samples: n,
            counters: Counters::from([("odd", (n / 2) as f64)]),
        }
    }

    fn after_step(&mut self, model: &Scalar, step: usize) {
        self.stepped.push(step);
        self.weights.push(model.w.val().into_scalar::<f32>());
    }

    fn end_epoch(&mut self, _model: &Scalar, t: EpochTotals) -> Result<Line, TrainError> {
        Ok(Line {
            epoch: t.epoch,
            step: t.step,
            lr: t.lr,
            samples: t.samples,
            odd_sum: t.sum("odd"),
            odd_mean: t.mean("odd"),
        })
    }
}

fn config(max_steps: Option<usize>) -> LoopConfig {
    LoopConfig {
        epochs: 3,
        batch_size: BATCH,
        lr: 0.1,
        min_lr: 0.01,
        warmup_epochs: 0.5,
        optimizer: AdamWConfig::default(),
        seed: 0,
        workers: 1,
        max_steps,
        stop_after: None,
        replicas: Vec::new(),
    }
}

fn fit(device: &Device) -> Fit {
    Fit {
        device: device.clone(),
        stepped: Vec::new(),
        weights: Vec::new(),
    }
}

fn metrics_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join(METRICS_FILE))
        .unwrap()
        .lines()
        .count()
}

#[test]
fn max_steps_ends_the_last_epoch_early_with_its_line_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default().autodiff();
    let cfg = config(Some(6));
    let mut task = fit(&device);
    let (model, lines) = run_epochs(
        &cfg,
        &Numbers,
        scalar(&device),
        dir.path(),
        false,
        &mut Silent,
        &mut task,
    )
    .unwrap();
    // 4 steps of epoch 1, then 2 of epoch 2: two lines, two checkpoints
    let steps: Vec<(usize, usize, usize)> =
        lines.iter().map(|l| (l.epoch, l.step, l.samples)).collect();
    assert_eq!(steps, [(1, 4, 8), (2, 6, 4)]);
    assert_eq!(metrics_lines(dir.path()), 2);
    let (_, progress) = run_state::load(
        &dir.path().join(CHECKPOINT_FILE),
        scalar(&device),
        &mut sweet_train::adamw::AdamW::new(AdamWConfig::default()),
    )
    .unwrap();
    assert_eq!(progress, Progress { epoch: 2, step: 6 });
    // the schedule spans the 6 steps, not 3 epochs of 4
    let schedule = Schedule {
        lr: 0.1,
        min_lr: 0.01,
        warmup_steps: 2,
        total_steps: 6,
    };
    assert_eq!(lines[1].lr, schedule.lr_at(5));
    // counters: one odd position per batch of 2
    assert_eq!((lines[0].odd_sum, lines[0].odd_mean), (4.0, 0.5));
    assert_eq!((lines[1].odd_sum, lines[1].odd_mean), (2.0, 0.5));
    // a resumed run has nothing left to do
    let w = model.w.val().into_scalar::<f32>();
    let mut again = fit(&device);
    let (resumed, more) = run_epochs(
        &cfg,
        &Numbers,
        scalar(&device),
        dir.path(),
        true,
        &mut Silent,
        &mut again,
    )
    .unwrap();
    assert!(more.is_empty() && again.stepped.is_empty());
    assert_eq!(resumed.w.val().into_scalar::<f32>(), w);
    assert_eq!(metrics_lines(dir.path()), 2);
}

#[test]
fn without_a_limit_every_epoch_runs() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default().autodiff();
    let mut task = fit(&device);
    let (_, lines) = run_epochs(
        &config(None),
        &Numbers,
        scalar(&device),
        dir.path(),
        false,
        &mut Silent,
        &mut task,
    )
    .unwrap();
    let steps: Vec<usize> = lines.iter().map(|l| l.step).collect();
    assert_eq!(steps, [4, 8, 12]);
    // a limit beyond the run changes nothing
    let dir2 = tempfile::tempdir().unwrap();
    let (_, same) = run_epochs(
        &config(Some(100)),
        &Numbers,
        scalar(&device),
        dir2.path(),
        false,
        &mut Silent,
        &mut fit(&device),
    )
    .unwrap();
    let lrs = |l: &[Line]| l.iter().map(|l| l.lr).collect::<Vec<_>>();
    assert_eq!(lrs(&lines), lrs(&same));
}

#[test]
fn after_step_sees_every_step_once_in_order_with_the_updated_model() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default().autodiff();
    let mut task = fit(&device);
    run_epochs(
        &config(Some(7)),
        &Numbers,
        scalar(&device),
        dir.path(),
        false,
        &mut Silent,
        &mut task,
    )
    .unwrap();
    assert_eq!(task.stepped, (0..7).collect::<Vec<_>>());
    // the weight moves from 1.0 towards the data at every step, and the hook sees each move
    assert!(task.weights[0] != 1.0);
    assert!(task.weights.windows(2).all(|w| w[0] != w[1]));
}
