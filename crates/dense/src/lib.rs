//! Dense tasks on any ViT backbone: object detection and semantic segmentation.
//!
//! - [`model`]: a [`model::DenseModel`] = a ViT backbone (any initialization) + a light
//!   [`head::TokenHead`] on its token grid.
//! - [`center`]: CenterNet's targets, loss and decoding (detection); [`pixels`]: per-pixel
//!   cross-entropy and arg-max (segmentation).
//! - [`train`]: both as a task of the shared epoch loop; [`run`]: whole runs (run file, data,
//!   backbone from a model folder, the model folder a run leaves).
//! - [`infer`]: predictions and their scores; [`draw`]: pictures of them; [`folder`]: the
//!   model folder a run leaves; [`eval`]: COCO AP (through hotcoco,
//!   pycocotools' protocol) and mIoU / pixel accuracy.

pub mod batch;
pub mod center;
pub mod draw;
pub mod error;
pub mod eval;
pub mod folder;
pub mod head;
pub mod infer;
pub mod model;
pub mod pixels;
pub mod run;
pub mod train;

pub use error::DenseError;
pub use infer::DenseTask;
pub use model::DenseModel;
pub use run::{run_dense, DenseData, DenseRun};
