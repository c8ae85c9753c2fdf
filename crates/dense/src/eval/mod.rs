//! Evaluators of dense tasks, each a thin layer over hotcoco's port of the reference:
//!
//! - [`coco_ap`]: COCO box AP/AR, pycocotools' 12 summary numbers ([`DetectionScores`]);
//! - [`SegmentationMeter`]: mIoU, pixel accuracy and mean class accuracy of semantic maps,
//!   mmseg's `IoUMetric` rules ([`SegmentationScores`]).
//!
//! Inputs are this crate's own types (0-based classes, COCO `[x, y, w, h]` boxes in pixels,
//! flat `u8` maps with [`sweet_data::dense::IGNORE`]); the conversion to COCO's ids and records
//! happens here, in memory.

pub mod detection;
pub mod segmentation;

pub use detection::{coco_ap, Detection, DetectionScores};
pub use segmentation::{SegmentationMeter, SegmentationScores};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Two inputs that pair up one to one differ in length.
    #[error("{what}: {left} against {right}; they must have the same length")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// A class index at or above the number of classes.
    #[error("image {image}: {what} has class {class}, not below num_classes {num_classes}")]
    ClassOutOfRange {
        image: usize,
        what: &'static str,
        class: usize,
        num_classes: usize,
    },
    /// A box with a non-finite value or a negative width or height, or a non-finite score or
    /// area.
    #[error("image {image}: {what} {value:?} is invalid ({why})")]
    Invalid {
        image: usize,
        what: &'static str,
        value: Vec<f32>,
        why: &'static str,
    },
    /// hotcoco refused the input (for maps: a label at or above `num_classes`, naming the
    /// pixel).
    #[error(transparent)]
    Hotcoco(#[from] hotcoco::Error),
}
