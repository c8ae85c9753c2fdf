//! COCO box AP: pycocotools' `COCOeval(gt, dt, "bbox")` → `evaluate` → `accumulate` →
//! `summarize`, through hotcoco (checked against pycocotools by the committed fixture of
//! `tests/coco_ap_fixture.rs`).
//!
//! Conventions:
//! - `gt[i]` and `dets[i]` are the same image; it becomes COCO image id `i + 1` (`[h, w]` =
//!   `image_size`), class `k` category id `k + 1`; every category `0..num_classes` is evaluated.
//! - Boxes are COCO `[x, y, w, h]` in pixels. Ground-truth objects are never crowd regions; their
//!   `area` (not the box) decides the small (< 32²), medium and large (> 96²) ranges, a
//!   detection's area is `w * h` (pycocotools' `loadRes`).
//! - Standard params: IoU thresholds 0.50:0.05:0.95, a detection matches when IoU >= the
//!   threshold, greedily in score order; 101 recall points; maxDets 1/10/100, counted per image
//!   **and class** (pycocotools caps each (image, category) cell).
//!
//! What each piece contributes:
//! - an image with neither objects nor detections: nothing (pycocotools skips the empty cell), so
//!   adding one leaves every number unchanged;
//! - an image with detections but no objects: false positives in their classes;
//! - a class with no ground truth anywhere: `-1` for it, which every mean leaves out — its false
//!   positives cost nothing. A summary number is `-1` when no class has ground truth in its area
//!   range (e.g. `ap_large` on 64×64 images): "no ground truth in this range", not a score;
//! - no detections at all: 0 wherever there is ground truth (pycocotools' `loadRes` would fail
//!   on the empty list; hotcoco evaluates it).

use hotcoco::{Annotation, COCOeval, Category, Dataset, Image, IouType, COCO};
use serde::{Deserialize, Serialize};
use sweet_data::dense::Object;

use super::EvalError;

/// One predicted box.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// 0-based class, as [`Object::class`].
    pub class: usize,
    /// COCO's box `[x, y, w, h]` in pixels.
    pub bbox: [f32; 4],
    /// Confidence; only its order among the image's detections of the same class matters.
    pub score: f32,
}

/// pycocotools' 12 summary numbers (`COCOeval.stats`, in its order), `-1` where pycocotools
/// gives `-1` (no ground truth in that area range).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionScores {
    /// AP @ IoU 0.50:0.95, all areas, 100 detections.
    pub ap: f64,
    /// AP @ IoU 0.50.
    pub ap50: f64,
    /// AP @ IoU 0.75.
    pub ap75: f64,
    /// AP @ 0.50:0.95 of small objects (area < 32²).
    pub ap_small: f64,
    /// AP @ 0.50:0.95 of medium objects (32² to 96²).
    pub ap_medium: f64,
    /// AP @ 0.50:0.95 of large objects (area > 96²).
    pub ap_large: f64,
    /// AR @ 0.50:0.95 with at most 1 detection per image and class.
    pub ar1: f64,
    /// AR with at most 10.
    pub ar10: f64,
    /// AR with at most 100.
    pub ar100: f64,
    /// AR (100 detections) of small objects.
    pub ar_small: f64,
    /// AR of medium objects.
    pub ar_medium: f64,
    /// AR of large objects.
    pub ar_large: f64,
}

impl DetectionScores {
    /// The 12 numbers in pycocotools' `stats` order.
    pub fn as_array(&self) -> [f64; 12] {
        [
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_small,
            self.ap_medium,
            self.ap_large,
            self.ar1,
            self.ar10,
            self.ar100,
            self.ar_small,
            self.ar_medium,
            self.ar_large,
        ]
    }

    fn from_array(s: [f64; 12]) -> Self {
        let [ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large] =
            s;
        DetectionScores {
            ap,
            ap50,
            ap75,
            ap_small,
            ap_medium,
            ap_large,
            ar1,
            ar10,
            ar100,
            ar_small,
            ar_medium,
            ar_large,
        }
    }
}

/// COCO box AP/AR of `dets` against `gt` (see [the module docs](self) for ids, ranges and what
/// empty images and classes contribute).
///
/// # Errors
///
/// If `gt` and `dets` differ in length, a class is `>= num_classes`, a box has a non-finite value
/// or a negative width or height, or an area or score is not finite.
pub fn coco_ap(
    gt: &[Vec<Object>],
    image_size: [usize; 2],
    num_classes: usize,
    dets: &[Vec<Detection>],
) -> Result<DetectionScores, EvalError> {
    if gt.len() != dets.len() {
        return Err(EvalError::LengthMismatch {
            what: "images of ground truth and of detections",
            left: gt.len(),
            right: dets.len(),
        });
    }
    let [h, w] = image_size.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    let images = (0..gt.len())
        .map(|i| Image {
            id: i as u64 + 1,
            height: h,
            width: w,
            ..Default::default()
        })
        .collect();
    let categories = (0..num_classes)
        .map(|k| Category {
            id: k as u64 + 1,
            name: format!("class_{k}"),
            ..Default::default()
        })
        .collect();
    let mut annotations = Vec::new();
    for (i, objects) in gt.iter().enumerate() {
        for o in objects {
            class_in_range(i, "object", o.class, num_classes)?;
            valid_box(i, "object box", o.bbox)?;
            finite(i, "object area", o.area)?;
            annotations.push(Annotation {
                // 1-based: pycocotools reads a matched gt id of 0 as "unmatched".
                id: annotations.len() as u64 + 1,
                image_id: i as u64 + 1,
                category_id: o.class as u64 + 1,
                bbox: Some(o.bbox.map(f64::from)),
                area: Some(f64::from(o.area)),
                iscrowd: false,
                ..Default::default()
            });
        }
    }
    let mut results = Vec::new();
    for (i, image_dets) in dets.iter().enumerate() {
        for d in image_dets {
            class_in_range(i, "detection", d.class, num_classes)?;
            valid_box(i, "detection box", d.bbox)?;
            finite(i, "detection score", d.score)?;
            results.push(Annotation {
                image_id: i as u64 + 1,
                category_id: d.class as u64 + 1,
                bbox: Some(d.bbox.map(f64::from)),
                score: Some(f64::from(d.score)),
                ..Default::default()
            });
        }
    }
    let coco_gt = COCO::from_dataset(Dataset {
        images,
        annotations,
        categories,
        ..Default::default()
    });
    let coco_dt = coco_gt.load_res_anns(results)?;
    let mut ev = COCOeval::new(coco_gt, coco_dt, IouType::Bbox);
    ev.evaluate()?;
    ev.accumulate();
    // `summarize()` would print the table; this computes the same stats silently.
    ev.summarize_lines();
    let stats: [f64; 12] = ev
        .stats()
        .and_then(|s| s.try_into().ok())
        .expect("hotcoco's COCO bbox summary has 12 numbers after accumulate");
    Ok(DetectionScores::from_array(stats))
}

fn class_in_range(
    image: usize,
    what: &'static str,
    class: usize,
    num_classes: usize,
) -> Result<(), EvalError> {
    if class < num_classes {
        return Ok(());
    }
    Err(EvalError::ClassOutOfRange {
        image,
        what,
        class,
        num_classes,
    })
}

fn valid_box(image: usize, what: &'static str, bbox: [f32; 4]) -> Result<(), EvalError> {
    let why = if bbox.iter().any(|v| !v.is_finite()) {
        "not finite"
    } else if bbox[2] < 0.0 || bbox[3] < 0.0 {
        "negative width or height"
    } else {
        return Ok(());
    };
    Err(EvalError::Invalid {
        image,
        what,
        value: bbox.to_vec(),
        why,
    })
}

fn finite(image: usize, what: &'static str, v: f32) -> Result<(), EvalError> {
    if v.is_finite() {
        return Ok(());
    }
    Err(EvalError::Invalid {
        image,
        what,
        value: vec![v],
        why: "not finite",
    })
}
