//! CenterNet's targets, loss and decoding: against CenterNet's published formulas and a
//! scalar reference, and decoding the targets themselves gives the boxes back.

use burn::prelude::*;
use sweet_data::Object;
use sweet_dense::center::{decode, gaussian_radius, loss, targets, MIN_OVERLAP};

fn device() -> Device {
    Device::default()
}

fn object(class: usize, bbox: [f32; 4]) -> Object {
    Object {
        class,
        bbox,
        area: bbox[2] * bbox[3],
    }
}

/// CenterNet's `gaussian_radius` in Python (`src/lib/utils/image.py`) gives these for
/// (h, w) = (4, 4), (10, 6), (2.5, 7.5) with min_overlap 0.7.
#[test]
fn gaussian_radius_is_centernets() {
    for ((h, w), want) in [
        ((4.0, 4.0), 1.0932802122726049),
        ((10.0, 6.0), 2.0604675634006213),
        ((2.5, 7.5), 1.0467384697155406),
    ] {
        let got = gaussian_radius(h, w, MIN_OVERLAP) as f64;
        assert!((got - want).abs() < 1e-5, "({h}, {w}): {got} vs {want}");
    }
}

#[test]
fn one_object_puts_a_unit_peak_and_its_box_at_the_centre_cell() {
    // 20x12 px box at (8, 4): centre (18, 10) px = (4.5, 2.5) cells of 4 px -> cell (4, 2),
    // offset (0.5, 0.5), size (5, 3) cells, radius floor(gaussian_radius(3, 5)) = 1.
    let objs = [object(1, [8.0, 4.0, 20.0, 12.0])];
    let t = targets(&[&objs], 2, [8, 8], 4.0);
    assert_eq!(t.dims, [1, 2, 8, 8]);
    assert_eq!(t.objects, 1);
    let heat = |k: usize, y: usize, x: usize| t.heat[k * 64 + y * 8 + x];
    assert_eq!(heat(1, 2, 4), 1.0);
    let r = gaussian_radius(3.0, 5.0, MIN_OVERLAP).floor();
    assert_eq!(r, 1.0);
    let sigma = 3.0f32 / 6.0;
    let side = (-1.0 / (2.0 * sigma * sigma)).exp();
    assert!((heat(1, 2, 5) - side).abs() < 1e-6);
    assert!((heat(1, 3, 5) - (-2.0 / (2.0 * sigma * sigma)).exp()).abs() < 1e-6);
    assert_eq!(heat(1, 2, 6), 0.0, "outside the radius");
    assert!(
        t.heat[..64].iter().all(|&v| v == 0.0),
        "other class untouched"
    );
    let at = 2 * 8 + 4;
    let boxes: Vec<f32> = (0..4).map(|c| t.boxes[c * 64 + at]).collect();
    assert_eq!(boxes, vec![5.0, 3.0, 0.5, 0.5]);
    assert_eq!(t.centres.iter().sum::<f32>(), 1.0);
    assert_eq!(t.centres[at], 1.0);
}

/// A map whose heatmap logits are the targets' (sharp) and whose box channels are the targets'
/// box values decodes to the objects themselves, highest scores first.
#[test]
fn decoding_the_targets_gives_the_boxes_back() {
    let objs = [
        object(0, [3.0, 5.0, 17.0, 21.0]),
        object(2, [30.0, 2.0, 24.0, 16.0]),
        object(1, [10.0, 36.0, 20.0, 20.0]),
    ];
    let (classes, grid, stride) = (3, [16, 16], 4.0);
    let t = targets(&[&objs], classes, grid, stride);
    let plane = 256;
    let mut map = vec![0f32; (classes + 4) * plane];
    for (i, v) in t.heat.iter().enumerate() {
        // logits of the target probability (clamped away from 0 and 1)
        let p = v.clamp(1e-6, 1.0 - 1e-6);
        map[i] = (p / (1.0 - p)).ln();
    }
    map[classes * plane..].copy_from_slice(&t.boxes);
    let dets = decode(&map, classes, grid, stride, [64, 64], 100);
    assert_eq!(dets.len(), 100);
    for o in &objs {
        let d = dets[..3]
            .iter()
            .find(|d| d.class == o.class)
            .expect("one detection per object among the top 3");
        assert!(d.score > 0.99);
        for (a, b) in d.bbox.iter().zip(o.bbox) {
            assert!((a - b).abs() < 1e-4, "{:?} vs {:?}", d.bbox, o.bbox);
        }
    }
    assert!(dets[3].score < 0.5, "nothing else scores high");
}

#[test]
fn decode_keeps_local_maxima_only_and_clips_to_the_image() {
    // one class on a 3x5 grid: a peak at (1, 1) with a lower neighbour at (1, 2); the cells
    // of column 4 (a -5 plateau out of their reach) are maxima too, scoring sigmoid(-5)
    let mut map = vec![-5f32; 5 * 15];
    map[6] = 3.0;
    map[7] = 2.0;
    // its box: 10x10 cells of 4 px around (1.5, 1.5) cells, clipped to the 12x20 image
    for (c, v) in [(1, 10.0), (2, 10.0), (3, 0.5), (4, 0.5)] {
        map[c * 15 + 6] = v;
    }
    let dets = decode(&map, 1, [3, 5], 4.0, [12, 20], 2);
    assert_eq!(dets.len(), 2);
    assert!((dets[0].score - 1.0 / (1.0 + (-3.0f32).exp())).abs() < 1e-6);
    assert_eq!(dets[0].bbox, [0.0, 0.0, 20.0, 12.0]);
    let plateau = 1.0 / (1.0 + 5.0f32.exp());
    assert!(
        (dets[1].score - plateau).abs() < 1e-6,
        "(1, 2) is no maximum: the next is a plateau cell"
    );
}

/// The loss against a scalar reference of CenterNet's `_neg_loss` (without its clamp) and
/// `RegL1Loss` on a small random case.
#[test]
fn loss_is_centernets_focal_and_l1() {
    let objs = [
        object(0, [2.0, 2.0, 9.0, 7.0]),
        object(1, [8.0, 6.0, 6.0, 8.0]),
    ];
    let (classes, grid) = (2, [4, 4]);
    let t = targets(&[&objs], classes, grid, 4.0);
    let n = (classes + 4) * 16;
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 23) as f32 - 11.0) / 4.0)
        .collect();
    let map = Tensor::<4>::from_data(
        TensorData::new(values.clone(), [1, classes + 4, 4, 4]),
        &device(),
    );
    let l = loss(map, &t);
    let (mut heat, mut size, mut offset) = (0f64, 0f64, 0f64);
    for (&x, &g) in values.iter().zip(&t.heat) {
        let (x, g) = (x as f64, g as f64);
        let p = 1.0 / (1.0 + (-x).exp());
        heat -= if g == 1.0 {
            (1.0 - p).powi(2) * p.ln()
        } else {
            (1.0 - g).powi(4) * p.powi(2) * (1.0 - p).ln()
        };
    }
    for c in 0..4 {
        for cell in 0..16 {
            let d = (values[(classes + c) * 16 + cell] - t.boxes[c * 16 + cell]).abs() as f64
                * t.centres[cell] as f64;
            if c < 2 {
                size += d;
            } else {
                offset += d;
            }
        }
    }
    let k = t.objects as f64;
    assert_eq!(k, 2.0);
    let got = |x: &Tensor<1>| x.clone().into_scalar::<f32>() as f64;
    assert!((got(&l.heat) - heat / k).abs() < 1e-4 * (heat / k).abs().max(1.0));
    assert!((got(&l.size) - size / (2.0 * k)).abs() < 1e-4);
    assert!((got(&l.offset) - offset / (2.0 * k)).abs() < 1e-4);
    let total = heat / k + 0.1 * size / (2.0 * k) + offset / (2.0 * k);
    assert!((got(&l.total()) - total).abs() < 1e-3);
}
