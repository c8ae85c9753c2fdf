//! Training for sweet: the optimizer ([`adamw`], with its parameter groups in
//! [`param_groups`]), the learning-rate schedule ([`schedule`]), the losses ([`loss`]), one
//! epoch loop for every task ([`epochs`], fed by a [`source::BatchSource`] and driven by a
//! [`task::Task`], on one device or data-parallel on several ([`replicas`])) with resumable
//! checkpoints ([`run_state`]), the supervised classification
//! ([`classify`]) and MAE pre-training ([`pretrain`]) tasks, and whole runs as library calls
//! ([`run`]).

pub mod adamw;
pub mod batch;
pub mod classify;
pub mod epochs;
pub mod error;
pub mod loss;
pub mod metrics;
pub mod observer;
pub mod param_groups;
pub mod pretrain;
pub mod replicas;
pub mod run;
pub mod run_state;
pub mod schedule;
pub mod source;
pub mod step_seed;
pub mod task;

pub use batch::batch_tensors;
pub use epochs::{run_epochs, LoopConfig};
pub use error::TrainError;
pub use metrics::METRICS_FILE;
pub use observer::{Observer, Silent};
