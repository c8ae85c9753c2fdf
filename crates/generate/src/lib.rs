//! Class-conditional generation on a ViT whose attention and MLP weights come from any
//! initialization (a SWEET template composed at the chosen size, random, direct pre-training,
//! the baselines).
//!
//! - [`frechet`]: the Fréchet distance between two feature sets, in f64.
//! - [`judge`]: the fixed MNIST classifier whose features and predictions score samples.

pub mod diffusion;
pub mod dit;
pub mod ema;
pub mod frechet;
pub mod grid;
pub mod judge;
pub mod sampler;
pub mod schedule;

pub use frechet::{frechet_distance, FeatureStats, FrechetError};
pub use judge::{real_images, reference_stats, score, Judge, JudgeError, Scores};
pub mod error;
pub mod evaluate;
pub mod folder;
pub mod run;
pub mod train;
