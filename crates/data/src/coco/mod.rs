//! COCO-style dense data on disk: the canvas-set writer and the readers.
//!
//! Layout of a split folder (what [`write_canvas`] writes and [`open_dense`] reads):
//!
//! ```text
//! DIR/canvas.json                      generation settings (canvas sets only)
//! DIR/<split>/images/000000.png ...    the images
//! DIR/<split>/annotations.json         COCO: images, annotations (bbox, area, RLE), categories
//! DIR/<split>/semantic/000000.png ...  optional 8-bit maps: 0 background, k + 1 class k, 255 ignore
//! ```
//!
//! [`open_coco`] reads any COCO detection / instance JSON with its images.

mod read;
mod write;

pub use read::{open_coco, open_dense, EDGE_TOLERANCE};
pub use write::{write_canvas, CanvasInfo, SplitCounts, CANVAS_FORMAT, CANVAS_VERSION};

/// The settings file of a canvas set.
pub const CANVAS_FILE: &str = "canvas.json";
/// A split's COCO JSON.
pub const ANNOTATIONS_FILE: &str = "annotations.json";
/// A split's image folder.
pub const IMAGES_DIR: &str = "images";
/// A split's semantic-map folder.
pub const SEMANTIC_DIR: &str = "semantic";
