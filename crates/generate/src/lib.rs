//! Class-conditional generation on a ViT whose attention and MLP weights come from any
//! initialization (a SWEET template composed at the chosen size, random, direct pre-training,
//! the baselines).
//!
//! - [`dit`]: the DiT-style denoiser built on any encoder (adaLN-Zero modulation through the
//!   one block forward of `sweet-vit`).
//! - [`schedule`]: DDPM's noise schedules; [`diffusion`]: the training objective;
//!   [`sampler`]: DDIM with classifier-free guidance; [`ema`]: the weights' moving average.
//! - [`frechet`]: the Fréchet distance between two feature sets, in f64; [`judge`]: the fixed
//!   classifier whose features and predictions score samples; [`evaluate`]: class-balanced
//!   samples scored.
//! - [`train`]: training as a task of the shared epoch loop; [`run`]: whole runs;
//!   [`folder`]: the model folder a run leaves; [`grid`]: sample grids as PNG.

pub mod diffusion;
pub mod dit;
pub mod ema;
pub mod error;
pub mod evaluate;
pub mod folder;
pub mod frechet;
pub mod grid;
pub mod judge;
pub mod run;
pub mod sampler;
pub mod schedule;
pub mod train;

pub use error::GenerateError;
pub use frechet::{frechet_distance, FeatureStats, FrechetError};
pub use judge::{real_images, reference_stats, score, Judge, JudgeError, Scores};
