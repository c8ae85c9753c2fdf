//! A trained dense model's predictions and their scores on a [`DenseSet`]: the one place that
//! turns head maps into boxes or class maps, used by every epoch's evaluation, `eval` and
//! `predict`.

use std::sync::Arc;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::DenseSet;
use sweet_train::source::evaluation_loader;

use crate::center;
use crate::eval::{coco_ap, Detection, DetectionScores, SegmentationMeter, SegmentationScores};
use crate::head::HeadConfig;
use crate::model::DenseModel;
use crate::pixels;

/// Which dense task a model does (the head's meaning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenseTask {
    /// CenterNet boxes ([`center`]).
    Detect,
    /// Per-pixel classes with background ([`pixels`]).
    Segment,
}

impl DenseTask {
    pub fn as_str(self) -> &'static str {
        match self {
            DenseTask::Detect => "detect",
            DenseTask::Segment => "segment",
        }
    }

    /// Channels of the head map for `classes` object classes.
    pub fn channels(self, classes: usize) -> usize {
        match self {
            DenseTask::Detect => center::channels(classes),
            DenseTask::Segment => classes + 1,
        }
    }

    /// The head of this task on a backbone of token width `width` and patch `patch`: detection
    /// maps at stride 4 (CenterNet's: `s = patch / 4`), segmentation at full resolution
    /// (`s = patch`); MLP hidden width `hidden` (default `width`).
    pub fn head(
        self,
        width: usize,
        hidden: Option<usize>,
        patch: usize,
        classes: usize,
    ) -> HeadConfig {
        HeadConfig {
            width,
            hidden: hidden.unwrap_or(width),
            sub: match self {
                DenseTask::Detect => (patch / 4).max(1),
                DenseTask::Segment => patch,
            },
            channels: self.channels(classes),
        }
    }

    /// The headline score's name.
    pub fn score_name(self) -> &'static str {
        match self {
            DenseTask::Detect => "AP",
            DenseTask::Segment => "mIoU",
        }
    }
}

/// Boxes kept per image (COCO's maxDets).
pub const TOP_K: usize = 100;

/// The boxes of a batch of images `[B, C, H, W]`, one list per image, highest score first.
pub fn detect(model: &DenseModel, images: Tensor<4>, classes: usize) -> Vec<Vec<Detection>> {
    let [b, _, ih, iw] = images.dims();
    let map = model.forward(images);
    let [_, c, h, w] = map.dims();
    let values: Vec<f32> = map
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 map");
    let stride = model.stride();
    (0..b)
        .map(|i| {
            let one = &values[i * c * h * w..(i + 1) * c * h * w];
            center::decode(one, classes, [h, w], stride, [ih, iw], TOP_K)
        })
        .collect()
}

/// The class map of a batch of images `[B, C, H, W]`: `B` maps `[H, W]` flattened.
pub fn segment(model: &DenseModel, images: Tensor<4>) -> Vec<u8> {
    pixels::predict(model.forward(images))
}

/// The scores of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scores {
    Detection(DetectionScores),
    Segmentation(SegmentationScores),
}

impl Scores {
    /// The headline: COCO AP@[.5:.95] or mIoU, in `[0, 1]` (AP -1 when the set has no objects).
    pub fn headline(&self) -> f64 {
        match self {
            Scores::Detection(s) => s.ap,
            Scores::Segmentation(s) => s.miou,
        }
    }

    /// One line for logs: `AP 0.512 AP50 0.803 AP75 0.560` or `mIoU 0.701 pixel acc 0.962`.
    pub fn summary(&self) -> String {
        match self {
            Scores::Detection(s) => format!("AP {:.3} AP50 {:.3} AP75 {:.3}", s.ap, s.ap50, s.ap75),
            Scores::Segmentation(s) => {
                format!("mIoU {:.3} pixel acc {:.3}", s.miou, s.pixel_acc)
            }
        }
    }
}

/// Scores `model` (no autodiff) on every image of `set`, in batches of `batch_size`.
pub fn evaluate(
    model: &DenseModel,
    task: DenseTask,
    set: &DenseSet,
    batch_size: usize,
    workers: usize,
) -> Result<Scores, crate::eval::EvalError> {
    let device = model.backbone.cls_token.device();
    let loader = evaluation_loader(Arc::clone(&set.images), batch_size, workers);
    let classes = set.classes.len();
    match task {
        DenseTask::Detect => {
            let mut dets = Vec::with_capacity(set.len());
            for batch in loader.epoch(0) {
                dets.extend(detect(
                    model,
                    crate::batch::images(&batch, &device),
                    classes,
                ));
            }
            let [h, w] = [set.images.height, set.images.width];
            Ok(Scores::Detection(coco_ap(
                &set.objects,
                [h, w],
                classes,
                &dets,
            )?))
        }
        DenseTask::Segment => {
            let mut meter = SegmentationMeter::new(set.semantic_classes());
            for batch in loader.epoch(0) {
                let pred = segment(model, crate::batch::images(&batch, &device));
                meter.update(&crate::batch::semantic(set, &batch.indices), &pred)?;
            }
            Ok(Scores::Segmentation(meter.scores()))
        }
    }
}
