//! `SegmentationMeter` on maps small enough to count by hand.

use sweet_data::dense::IGNORE;
use sweet_dense::eval::{EvalError, SegmentationMeter};

const TOL: f64 = 1e-12;

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() < TOL, "{what}: got {got}, want {want}");
}

/// A 2x3 map, row-major, classes 0..3, one ignored pixel:
///
/// ```text
/// gt   0 0 1     pred 0 1 1
///      1 2 255        1 1 0
/// ```
///
/// The ignored pixel (predicted 0) is not counted: 5 pixels, pairs (gt, pred) = (0,0) (0,1)
/// (1,1) (1,1) (2,1).
/// - class 0: TP 1, gt 2, pred 1 -> IoU 1 / (2 + 1 - 1) = 1/2, acc 1/2;
/// - class 1: TP 2, gt 2, pred 4 -> IoU 2 / (2 + 4 - 2) = 1/2, acc 1;
/// - class 2: TP 0, gt 1, pred 0 -> IoU 0, acc 0.
///
/// mIoU = (1/2 + 1/2 + 0) / 3 = 1/3; pixel acc = 3 correct / 5; mean acc = (1/2 + 1 + 0) / 3 =
/// 1/2. Counting the ignored pixel would give class 0 pred 2, IoU 1/3.
const GT: [u8; 6] = [0, 0, 1, 1, 2, IGNORE];
const PRED: [u8; 6] = [0, 1, 1, 1, 1, 0];

#[test]
fn a_2x3_map_by_hand() {
    let mut m = SegmentationMeter::new(3);
    m.update(&GT, &PRED).unwrap();
    let s = m.scores();
    assert_eq!(s.iou.len(), 3);
    close(s.iou[0].unwrap(), 0.5, "iou 0 (ignored pixel left out)");
    close(s.iou[1].unwrap(), 0.5, "iou 1");
    close(s.iou[2].unwrap(), 0.0, "iou 2");
    close(s.miou, 1.0 / 3.0, "miou");
    close(s.pixel_acc, 3.0 / 5.0, "pixel_acc");
    close(s.mean_acc, 0.5, "mean_acc");
}

#[test]
fn a_class_absent_from_both_is_none_and_left_out_of_the_mean() {
    // The same map with a fourth class that appears nowhere: no IoU for it, and every mean as
    // with three classes.
    let mut m = SegmentationMeter::new(4);
    m.update(&GT, &PRED).unwrap();
    let s = m.scores();
    assert_eq!(s.iou[3], None);
    close(s.miou, 1.0 / 3.0, "miou");
    close(s.mean_acc, 0.5, "mean_acc");
}

#[test]
fn a_class_predicted_but_absent_from_gt_has_iou_zero_and_counts() {
    // gt 0 0, pred 0 1: class 0 TP 1, gt 2, pred 1 -> IoU 1/2; class 1 TP 0, gt 0, pred 1 ->
    // IoU 0 / 1 = 0, in the mean: mIoU 1/4. Class 1 has no gt, so no accuracy: mean acc is
    // class 0's alone, 1/2.
    let mut m = SegmentationMeter::new(2);
    m.update(&[0, 0], &[0, 1]).unwrap();
    let s = m.scores();
    assert_eq!(s.iou, vec![Some(0.5), Some(0.0)]);
    close(s.miou, 0.25, "miou");
    close(s.mean_acc, 0.5, "mean_acc");
    close(s.pixel_acc, 0.5, "pixel_acc");
}

#[test]
fn perfect_maps_score_one() {
    let gt = [0, 1, 2, 2, 1, 0, IGNORE, 2];
    let mut pred = gt;
    pred[6] = 1; // whatever is predicted under an ignored pixel does not count
    let mut m = SegmentationMeter::new(3);
    m.update(&gt, &pred).unwrap();
    let s = m.scores();
    assert_eq!(s.iou, vec![Some(1.0); 3]);
    assert_eq!((s.miou, s.pixel_acc, s.mean_acc), (1.0, 1.0, 1.0));
}

#[test]
fn batches_add_up_to_one_update() {
    let mut whole = SegmentationMeter::new(3);
    whole.update(&GT, &PRED).unwrap();
    let mut parts = SegmentationMeter::new(3);
    parts.update(&GT[..2], &PRED[..2]).unwrap();
    parts.update(&GT[2..], &PRED[2..]).unwrap();
    assert_eq!(parts.scores(), whole.scores());
}

#[test]
fn nothing_counted_gives_the_sentinel() {
    let mut m = SegmentationMeter::new(2);
    m.update(&[IGNORE, IGNORE], &[0, 1]).unwrap();
    let s = m.scores();
    assert_eq!((s.miou, s.pixel_acc, s.mean_acc), (-1.0, -1.0, -1.0));
    assert_eq!(s.iou, vec![None, None]);
}

#[test]
fn bad_maps_are_errors_and_count_nothing() {
    let mut m = SegmentationMeter::new(3);
    assert!(matches!(
        m.update(&[0, 1], &[0]),
        Err(EvalError::LengthMismatch {
            left: 2,
            right: 1,
            ..
        })
    ));
    // A label >= num_classes, in gt or prediction; 255 in a prediction.
    assert!(matches!(m.update(&[3], &[0]), Err(EvalError::Hotcoco(_))));
    assert!(matches!(m.update(&[0], &[3]), Err(EvalError::Hotcoco(_))));
    assert!(matches!(
        m.update(&[0], &[IGNORE]),
        Err(EvalError::Hotcoco(_))
    ));
    assert_eq!(m.scores().miou, -1.0);
}
