//! `coco_ap` against pycocotools on a committed fixture written by
//! `scripts/make_coco_ap_fixture.py` (8 images 128x128, 3 classes, 20 objects of all three area
//! ranges; 25 detections with misses, duplicates, wrong classes and false positives, one image
//! empty on both sides and one with only false positives): every one of the 12 summary numbers
//! within 1e-9 of `COCOeval.stats`.

use std::path::PathBuf;

use serde::Deserialize;
use sweet_data::dense::Object;
use sweet_dense::eval::{coco_ap, Detection};

#[derive(Deserialize)]
struct Gt {
    image_size: [usize; 2],
    num_classes: usize,
    /// Per image: `[class, x, y, w, h, area]`.
    objects: Vec<Vec<[f64; 6]>>,
}

#[derive(Deserialize)]
struct Dets {
    /// Per image: `[class, x, y, w, h, score]`.
    detections: Vec<Vec<[f64; 6]>>,
}

#[derive(Deserialize)]
struct Expected {
    stats: [f64; 12],
}

fn read<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/coco_ap")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The fixture's values are multiples of 1/4 (boxes), integers (areas) and of 1/4096 (scores):
/// exact in f32.
fn exact_f32(v: f64) -> f32 {
    let f = v as f32;
    assert_eq!(f64::from(f), v, "fixture value {v} is not exact in f32");
    f
}

#[test]
fn coco_ap_matches_pycocotools_on_the_fixture() {
    let gt: Gt = read("gt.json");
    let dets: Dets = read("dets.json");
    let expected: Expected = read("expected.json");
    let objects: Vec<Vec<Object>> = gt
        .objects
        .iter()
        .map(|image| {
            image
                .iter()
                .map(|r| Object {
                    class: r[0] as usize,
                    bbox: [r[1], r[2], r[3], r[4]].map(exact_f32),
                    area: exact_f32(r[5]),
                })
                .collect()
        })
        .collect();
    let detections: Vec<Vec<Detection>> = dets
        .detections
        .iter()
        .map(|image| {
            image
                .iter()
                .map(|r| Detection {
                    class: r[0] as usize,
                    bbox: [r[1], r[2], r[3], r[4]].map(exact_f32),
                    score: exact_f32(r[5]),
                })
                .collect()
        })
        .collect();
    let got = coco_ap(&objects, gt.image_size, gt.num_classes, &detections)
        .expect("fixture evaluates")
        .as_array();
    let mut max_diff = 0.0f64;
    for (i, (g, e)) in got.iter().zip(&expected.stats).enumerate() {
        let d = (g - e).abs();
        max_diff = max_diff.max(d);
        assert!(d <= 1e-9, "stat {i}: hotcoco {g}, pycocotools {e}");
    }
    println!("12 stats, max |hotcoco - pycocotools| = {max_diff:e}");
    // The fixture covers every area range: no -1 in it.
    assert!(expected.stats.iter().all(|&v| v >= 0.0));
}
