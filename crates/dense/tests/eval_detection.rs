//! `coco_ap` on cases small enough to compute by hand (each also checked against pycocotools by
//! `scripts/make_coco_ap_fixture.py`, `check_hand_cases`). Images are 64x64, 3 classes.

use sweet_data::dense::Object;
use sweet_dense::eval::{coco_ap, Detection, DetectionScores, EvalError};

const SIZE: [usize; 2] = [64, 64];
const TOL: f64 = 1e-12;

fn obj(class: usize, bbox: [f32; 4]) -> Object {
    Object {
        class,
        bbox,
        area: bbox[2] * bbox[3],
    }
}

fn det(class: usize, bbox: [f32; 4], score: f32) -> Detection {
    Detection { class, bbox, score }
}

fn ap(gt: &[Vec<Object>], dets: &[Vec<Detection>]) -> DetectionScores {
    coco_ap(gt, SIZE, 3, dets).expect("evaluates")
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() < TOL, "{what}: got {got}, want {want}");
}

#[test]
fn perfect_predictions_score_one() {
    // Two small objects (20² = 400 and 30² = 900, both < 32²) and one medium (40² = 1600).
    let gt = vec![
        vec![obj(0, [4., 4., 20., 20.]), obj(1, [30., 10., 30., 30.])],
        vec![obj(2, [2., 2., 40., 40.])],
    ];
    let dets: Vec<Vec<Detection>> = gt
        .iter()
        .map(|im| im.iter().map(|o| det(o.class, o.bbox, 0.9)).collect())
        .collect();
    let s = ap(&gt, &dets);
    for (v, name) in [(s.ap, "ap"), (s.ap50, "ap50"), (s.ap75, "ap75")] {
        close(v, 1.0, name);
    }
    close(s.ap_small, 1.0, "ap_small");
    close(s.ap_medium, 1.0, "ap_medium");
    // One object per (image, class): a single detection already finds all.
    close(s.ar1, 1.0, "ar1");
    close(s.ar100, 1.0, "ar100");
    // No object has area > 96² (and none fits a 64x64 image): no ground truth in that range.
    assert_eq!(s.ap_large, -1.0);
    assert_eq!(s.ar_large, -1.0);
}

#[test]
fn iou_of_exactly_0_6_passes_three_of_ten_thresholds() {
    // 10x10 box shifted 2.5 px: intersection 7.5 * 10 = 75, union 100 + 100 - 75 = 125,
    // IoU 75 / 125 = 0.6 exactly. A match needs IoU >= threshold, so it is a true positive at
    // 0.50, 0.55 and 0.60 (numpy's linspace gives 0.6 exactly), a miss at the 7 others.
    let gt = vec![vec![obj(0, [0., 0., 10., 10.])]];
    let dets = vec![vec![det(0, [2.5, 0., 10., 10.], 0.9)]];
    let s = ap(&gt, &dets);
    close(s.ap50, 1.0, "ap50");
    close(s.ap75, 0.0, "ap75");
    close(s.ap, 3.0 / 10.0, "ap");
    // Recall 1 at 3 thresholds of 10.
    close(s.ar100, 0.3, "ar100");
    close(s.ap_small, 0.3, "ap_small (area 100)");
    assert_eq!(s.ap_medium, -1.0);
}

#[test]
fn a_lower_scored_duplicate_leaves_ap_at_one() {
    // Ranked: TP (0.9), then the duplicate, an FP since the object is taken. Recall reaches 1
    // at rank 1 with precision 1; the envelope is 1 at every recall point: AP = 1.
    let gt = vec![vec![obj(0, [0., 0., 10., 10.])]];
    let b = [0., 0., 10., 10.];
    let s = ap(&gt, &[vec![det(0, b, 0.9), det(0, b, 0.8)]]);
    close(s.ap, 1.0, "ap");
    close(s.ap50, 1.0, "ap50");
    close(s.ap75, 1.0, "ap75");
}

#[test]
fn the_higher_score_takes_the_object_first() {
    // Box shifted 1 px, score 0.9: IoU 90 / 110 = 0.818, a TP at 0.50..0.80 (7 thresholds).
    // The exact box, score 0.8, is then an FP there; at 0.85, 0.90, 0.95 the first is an FP
    // and the exact box the TP at rank 2: precision 1/2 at every recall point.
    // AP = (7 * 1 + 3 * 1/2) / 10 = 0.85.
    let gt = vec![vec![obj(0, [0., 0., 10., 10.])]];
    let dets = vec![vec![
        det(0, [1., 0., 10., 10.], 0.9),
        det(0, [0., 0., 10., 10.], 0.8),
    ]];
    let s = ap(&gt, &dets);
    close(s.ap, 0.85, "ap");
    close(s.ap50, 1.0, "ap50");
    close(s.ap75, 1.0, "ap75");
    // With 1 detection per image only the shifted box is kept: recall 1 at 7 thresholds.
    close(s.ar1, 0.7, "ar1");
    close(s.ar10, 1.0, "ar10");
}

#[test]
fn one_object_missed_of_two_caps_recall_at_one_half() {
    // One TP with precision 1, recall 1/2. Of the 101 recall points 0, 0.01, ..., 1 the 51 up
    // to 0.50 get precision 1, the 50 above get 0: AP = 51/101 at every threshold.
    let gt = vec![vec![
        obj(0, [0., 0., 10., 10.]),
        obj(0, [50., 50., 10., 10.]),
    ]];
    let dets = vec![vec![det(0, [0., 0., 10., 10.], 0.9)]];
    let s = ap(&gt, &dets);
    close(s.ap, 51.0 / 101.0, "ap");
    close(s.ap50, 51.0 / 101.0, "ap50");
    close(s.ap75, 51.0 / 101.0, "ap75");
    close(s.ar100, 0.5, "ar100");
}

#[test]
fn a_wrong_class_scores_zero_for_the_object_and_nothing_for_its_class() {
    // Image 1: class 0 found (class 0 AP 1). Image 2: the class-1 object detected as class 2:
    // class 1 has ground truth and no TP (AP 0); class 2 has no ground truth anywhere (-1,
    // left out of the mean, so its FP costs nothing). Mean over classes 0 and 1: 1/2.
    let gt = vec![
        vec![obj(0, [0., 0., 10., 10.])],
        vec![obj(1, [0., 0., 20., 20.])],
    ];
    let dets = vec![
        vec![det(0, [0., 0., 10., 10.], 0.9)],
        vec![det(2, [0., 0., 20., 20.], 0.9)],
    ];
    let s = ap(&gt, &dets);
    close(s.ap, 0.5, "ap");
    close(s.ar100, 0.5, "ar100");
    // The same error with class 1 alone in the data: AP 0.
    let s = ap(&gt[1..], &dets[1..]);
    close(s.ap, 0.0, "ap of the wrong class alone");
}

#[test]
fn an_image_without_objects_or_detections_changes_nothing() {
    let gt = vec![vec![
        obj(0, [0., 0., 10., 10.]),
        obj(1, [20., 20., 30., 30.]),
    ]];
    let dets = vec![vec![
        det(0, [1., 1., 10., 10.], 0.7),
        det(1, [22., 20., 30., 30.], 0.6),
        det(1, [0., 40., 10., 10.], 0.8),
    ]];
    let base = ap(&gt, &dets);
    let mut gt2 = gt.clone();
    let mut dets2 = dets.clone();
    gt2.insert(0, vec![]);
    dets2.insert(0, vec![]);
    assert_eq!(ap(&gt2, &dets2), base);
    // An image with a detection and no object does change it: one more FP of class 0, scored
    // above its TP, halves class 0's precision.
    dets2[0].push(det(0, [30., 30., 10., 10.], 0.95));
    assert!(ap(&gt2, &dets2).ap < base.ap);
}

#[test]
fn no_ground_truth_gives_minus_one_everywhere() {
    let s = ap(&[vec![]], &[vec![det(0, [0., 0., 5., 5.], 0.5)]]);
    assert!(s.as_array().iter().all(|&v| v == -1.0), "{s:?}");
}

#[test]
fn bad_inputs_are_errors() {
    let gt = vec![vec![obj(0, [0., 0., 10., 10.])]];
    let good = det(0, [0., 0., 10., 10.], 0.5);
    let err = |gt: &[Vec<Object>], dets: &[Vec<Detection>]| coco_ap(gt, SIZE, 3, dets).unwrap_err();
    assert!(matches!(
        err(&gt, &[vec![good.clone()], vec![]]),
        EvalError::LengthMismatch {
            left: 1,
            right: 2,
            ..
        }
    ));
    assert!(matches!(
        err(&[vec![obj(3, [0., 0., 1., 1.])]], &[vec![]]),
        EvalError::ClassOutOfRange { class: 3, .. }
    ));
    assert!(matches!(
        err(&gt, &[vec![det(3, good.bbox, 0.5)]]),
        EvalError::ClassOutOfRange {
            what: "detection",
            ..
        }
    ));
    for bbox in [
        [f32::NAN, 0., 1., 1.],
        [0., 0., f32::INFINITY, 1.],
        [0., 0., -1., 1.],
    ] {
        assert!(matches!(
            err(&gt, &[vec![det(0, bbox, 0.5)]]),
            EvalError::Invalid {
                what: "detection box",
                ..
            }
        ));
        assert!(matches!(
            err(&[vec![obj(0, bbox)]], &[vec![]]),
            EvalError::Invalid {
                what: "object box",
                ..
            }
        ));
    }
    assert!(matches!(
        err(&gt, &[vec![det(0, good.bbox, f32::NAN)]]),
        EvalError::Invalid {
            what: "detection score",
            ..
        }
    ));
}
