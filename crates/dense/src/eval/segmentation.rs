//! Semantic-segmentation scores from one confusion matrix summed over batches, through
//! hotcoco's [`SemanticEval`] (a port of mmseg's `IoUMetric`).
//!
//! Conventions:
//! - Maps are flat `u8` class ids (`[N, H, W]` flattened, any pixel order shared by the ground
//!   truth and the prediction), classes `0..num_classes`; a ground-truth pixel equal to
//!   [`IGNORE`] (255) is left out on both sides. A prediction must be a class: 255 or any value
//!   `>= num_classes` in a prediction is an error, as is such a ground-truth value other than 255.
//! - Class `c`: `IoU = TP / (TP + FP + FN)` over the counted pixels, `acc = TP / (TP + FN)`.
//!   A class predicted but absent from the ground truth has IoU 0 and counts in `miou`; a class
//!   absent from both has no IoU (`None`, mmseg's NaN) and is left out of `miou`; a class absent
//!   from the ground truth is left out of `mean_acc`.
//! - Before any pixel is counted (or when all were ignored), the three means are `-1`, hotcoco's
//!   "not computed" sentinel, and every `iou` is `None`.

use hotcoco::SemanticEval;
use serde::{Deserialize, Serialize};
use sweet_data::dense::IGNORE;

use super::EvalError;

/// The running confusion matrix of a semantic-segmentation evaluation.
#[derive(Clone, Debug)]
pub struct SegmentationMeter {
    eval: SemanticEval,
}

/// What a [`SegmentationMeter`] has counted so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentationScores {
    /// Mean IoU over the classes that have one (mmseg's `mIoU`).
    pub miou: f64,
    /// Correct pixels over counted pixels (mmseg's `aAcc`).
    pub pixel_acc: f64,
    /// Mean per-class accuracy over the classes with ground truth (mmseg's `mAcc`).
    pub mean_acc: f64,
    /// IoU per class; `None` when the class is absent from both ground truth and prediction.
    pub iou: Vec<Option<f64>>,
}

impl SegmentationMeter {
    /// A meter for classes `0..num_classes`, ignoring ground-truth [`IGNORE`] pixels.
    pub fn new(num_classes: usize) -> Self {
        SegmentationMeter {
            eval: SemanticEval::new(num_classes).ignore_index(Some(u64::from(IGNORE))),
        }
    }

    /// Count the pixels of one or more maps, flattened the same way on both sides.
    ///
    /// # Errors
    ///
    /// If the two lengths differ, or a label is out of range (see the module docs); nothing of
    /// the call is counted then.
    pub fn update(&mut self, gt: &[u8], pred: &[u8]) -> Result<(), EvalError> {
        if gt.len() != pred.len() {
            return Err(EvalError::LengthMismatch {
                what: "pixels of ground truth and of prediction",
                left: gt.len(),
                right: pred.len(),
            });
        }
        Ok(self.eval.update(gt, pred)?)
    }

    /// The scores of every pixel counted so far.
    pub fn scores(&self) -> SegmentationScores {
        let s = self.eval.scores();
        SegmentationScores {
            miou: s.miou,
            pixel_acc: s.aacc,
            mean_acc: s.macc,
            iou: self
                .eval
                .confusion()
                .all_class_counts()
                .iter()
                .map(|c| c.iou())
                .collect(),
        }
    }
}
