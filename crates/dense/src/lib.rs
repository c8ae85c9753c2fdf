//! Dense tasks on any ViT backbone: object detection and semantic segmentation.
//!
//! - [`eval`]: COCO box AP/AR ([`eval::coco_ap`], pycocotools' 12 numbers through hotcoco) and
//!   mIoU / pixel accuracy / mean accuracy of semantic maps ([`eval::SegmentationMeter`]).

pub mod eval;
