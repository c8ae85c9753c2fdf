//! Baseline initializations of sweet's ViTs (BASELINES.md), each writing the same kind of model
//! folder as `sweet init sweet`: `model.safetensors` (timm keys), `config.json` (with the
//! normalization), a fresh head, and `init.json` ([`record::BaselineRecord`]) saying how it
//! was made.
//!
//! - [`mimetic`]: data-free, closed-form attention weights (BASELINES.md §1);
//! - [`selection`]: weight selection, a smaller model from a larger one's tensors (§2);
//!
//! [`folder`] reads source folders and writes output folders; [`svd`] factors matrices in f64.

pub mod error;
pub mod folder;
pub mod ligo;
pub mod mimetic;
pub mod record;
pub mod selection;
pub mod svd;

pub use error::BaselineError;
pub use record::{BaselineRecord, Method, SourceModel};
