//! Training for sweet: the optimizer ([`adamw`]), the learning-rate schedule ([`schedule`]),
//! the losses ([`loss`]) and the supervised classification loop with checkpoints and resume
//! ([`classify`]).

pub mod adamw;
pub mod classify;
pub mod loss;
pub mod metrics;
pub mod pretrain;
pub mod run_state;
pub mod schedule;
