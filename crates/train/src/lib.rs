//! Training for sweet: the optimizer ([`adamw`], with its parameter groups in
//! [`param_groups`]), the learning-rate schedule ([`schedule`]), the losses ([`loss`]), and the
//! supervised classification ([`classify`]) and MAE pre-training ([`pretrain`]) loops, which
//! share one epoch runner (`epochs`) and resumable checkpoints ([`run_state`]).

pub mod adamw;
pub mod classify;
mod epochs;
pub mod loss;
pub mod metrics;
pub mod param_groups;
pub mod pretrain;
pub mod run_state;
pub mod schedule;

pub use epochs::LoopConfig;
