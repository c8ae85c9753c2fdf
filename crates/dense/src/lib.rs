//! Dense tasks on any ViT backbone: object detection and semantic segmentation.
//!
//! - [`eval`]: COCO AP (through hotcoco, pycocotools' protocol) and mIoU / pixel accuracy.
