//! `open_coco` on hand-written COCO JSON: what it accepts (category order, boxes from masks,
//! default areas, crowds, clipping, RGB) and errors that name the file and the entry.

mod dense_common;

use std::path::{Path, PathBuf};

use dense_common::{gray, png};
use hotcoco::mask::{encode, rle_to_string};
use image::ExtendedColorType;
use serde_json::{json, Value};
use sweet_data::{open_coco, DataError, DenseSet, Object};

/// A split folder with two 8x8 gray images `a.png`, `b.png` (and whatever `extra` adds).
struct Fixture {
    _tmp: tempfile::TempDir,
    images: PathBuf,
    json: PathBuf,
    semantic: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    gray(&images.join("a.png"), 8, 8, &[10; 64]);
    gray(&images.join("b.png"), 8, 8, &(0..64).collect::<Vec<u8>>());
    Fixture {
        json: tmp.path().join("annotations.json"),
        semantic: tmp.path().join("semantic"),
        images,
        _tmp: tmp,
    }
}

/// Two images, categories out of id order, annotation 17 at index 1.
fn base() -> Value {
    json!({
        "images": [
            {"id": 1, "file_name": "a.png", "width": 8, "height": 8},
            {"id": 2, "file_name": "b.png", "width": 8, "height": 8}
        ],
        "categories": [{"id": 5, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 2, "bbox": [1, 1, 3, 4], "area": 12, "iscrowd": 0},
            {"id": 17, "image_id": 2, "category_id": 5, "bbox": [0, 0, 8, 8]}
        ]
    })
}

fn open(f: &Fixture, json: &Value) -> Result<DenseSet, DataError> {
    std::fs::write(&f.json, serde_json::to_vec(json).unwrap()).unwrap();
    open_coco(&f.images, &f.json, None)
}

/// `open` with `edit` applied to [`base`]; the error it must give.
fn error(edit: impl FnOnce(&mut Value)) -> (Fixture, String) {
    let f = fixture();
    let mut j = base();
    edit(&mut j);
    let err = open(&f, &j).expect_err("malformed JSON must be an error");
    (f, err.to_string())
}

fn starts_with_path(message: &str, path: &Path) {
    let p = path.display().to_string();
    assert!(
        message.starts_with(&p),
        "`{message}` does not start with {p}"
    );
}

#[test]
fn reads_classes_in_id_order_with_default_areas() {
    let f = fixture();
    let set = open(&f, &base()).unwrap();
    assert_eq!(set.classes, ["dog", "cat"]);
    assert_eq!(set.category_ids, [2, 5]);
    assert_eq!(set.ids, [1, 2]);
    assert_eq!(set.file_names, ["a.png", "b.png"]);
    let o = |class, bbox, area| Object { class, bbox, area };
    assert_eq!(set.objects[0], [o(0, [1.0, 1.0, 3.0, 4.0], 12.0)]);
    // no `area`: w * h
    assert_eq!(set.objects[1], [o(1, [0.0, 0.0, 8.0, 8.0], 64.0)]);
    assert_eq!(set.images.image_u8(1), &(0..64).collect::<Vec<u8>>()[..]);
    assert_eq!((set.images.channels, set.images.mean[0]), (1, 0.5));
    assert!(set.semantic.is_none());
}

#[test]
fn box_from_the_mask_crowds_left_out_and_edges_clipped() {
    let f = fixture();
    // mask: x in 2..6, y in 1..4 (12 pixels), column-major for the RLE codec
    let mut cm = vec![0u8; 64];
    for x in 2..6 {
        for y in 1..4 {
            cm[y + 8 * x] = 1;
        }
    }
    let counts = rle_to_string(&encode(&cm, 8, 8).unwrap());
    let mut j = base();
    j["annotations"] = json!([
        {"id": 1, "image_id": 1, "category_id": 5, "segmentation": {"size": [8, 8], "counts": counts}},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [0, 0, 4, 4], "iscrowd": 1},
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [-0.5, 6, 3, 2.5]}
    ]);
    let set = open(&f, &j).unwrap();
    let want = Object {
        class: 1,
        bbox: [2.0, 1.0, 4.0, 3.0],
        area: 12.0,
    };
    assert_eq!(set.objects[0], [want]);
    let clipped = Object {
        class: 0,
        bbox: [0.0, 6.0, 2.5, 2.0],
        area: 5.0,
    };
    assert_eq!(set.objects[1], [clipped]);
}

/// An edit of [`base`] and the text its error must contain.
type Case = (Box<dyn FnOnce(&mut Value)>, &'static str);

#[test]
fn malformed_annotations_name_the_file_and_the_entry() {
    let ann = |field: &str, v: Value| {
        let field = field.to_string();
        move |j: &mut Value| {
            j["annotations"][1][field] = v;
        }
    };
    let cases: Vec<Case> = vec![
        (
            Box::new(ann("bbox", json!([3, 4, -2, 5]))),
            "annotation 17 (index 1): bbox [3, 4, -2, 5] has a non-positive width",
        ),
        (
            Box::new(ann("bbox", json!([3, 4, 2, 0]))),
            "annotation 17 (index 1): bbox [3, 4, 2, 0] has a non-positive height",
        ),
        (
            Box::new(ann("image_id", json!(9))),
            "annotation 17 (index 1): image_id 9 is not among the images",
        ),
        (
            Box::new(ann("category_id", json!(3))),
            "annotation 17 (index 1): category_id 3 is not among the categories",
        ),
        (
            Box::new(ann("bbox", json!([5, 5, 6, 2]))),
            "annotation 17 (index 1): bbox [5, 5, 6, 2] lies outside the 8x8 image",
        ),
        (
            Box::new(ann("area", json!(-1))),
            "annotation 17 (index 1): area -1 is not a non-negative number",
        ),
        (
            Box::new(|j: &mut Value| {
                j["annotations"][1].as_object_mut().unwrap().remove("bbox");
            }),
            "annotation 17 (index 1): has no bbox (and no segmentation to take one from)",
        ),
        (
            Box::new(|j: &mut Value| j["images"][1]["id"] = json!(1)),
            "image 1 (index 1): duplicate image id 1 (also at index 0)",
        ),
        (
            Box::new(|j: &mut Value| j["images"][0]["width"] = json!(9)),
            "image 1 (index 0): says 9x8 but",
        ),
        (
            Box::new(|j: &mut Value| j["categories"][1]["id"] = json!(5)),
            "category 5 (index 1): duplicate category id (also at index 0)",
        ),
    ];
    for (edit, want) in cases {
        let (f, message) = error(edit);
        starts_with_path(&message, &f.json);
        assert!(message.contains(want), "`{message}` lacks `{want}`");
    }
    // JSON that does not fit the schema: serde's line and column
    let (f, message) = error(|j| j["annotations"][1]["bbox"] = json!([1, 2, 3]));
    starts_with_path(&message, &f.json);
    assert!(
        message.contains("invalid JSON") && message.contains("line"),
        "{message}"
    );
}

#[test]
fn image_files_must_exist_and_share_one_size_and_channel_count() {
    let (f, message) = error(|j| j["images"][1]["file_name"] = json!("gone.png"));
    starts_with_path(&message, &f.images.join("gone.png"));
    assert!(message.contains("not found"), "{message}");

    let f = fixture();
    gray(&f.images.join("tall.png"), 8, 9, &[0; 72]);
    png(
        &f.images.join("rgb.png"),
        8,
        8,
        &[0; 192],
        ExtendedColorType::Rgb8,
    );
    for (name, what) in [("tall.png", "1-channel 8x9"), ("rgb.png", "3-channel 8x8")] {
        let mut j = base();
        j["images"][1] = json!({"id": 2, "file_name": name});
        let message = open(&f, &j).unwrap_err().to_string();
        starts_with_path(&message, &f.images.join(name));
        assert!(
            message.contains(what) && message.contains("a.png is 1-channel 8x8"),
            "{message}"
        );
    }

    // an all-RGB set is fine: 3 channels, ImageNet normalization
    png(
        &f.images.join("a.png"),
        8,
        8,
        &[7; 192],
        ExtendedColorType::Rgb8,
    );
    let mut j = base();
    j["images"][1] = json!({"id": 2, "file_name": "rgb.png"});
    let set = open(&f, &j).unwrap();
    assert_eq!((set.images.channels, set.images.mean.len()), (3, 3));
    assert_eq!(set.images.mean[0], 0.485);
}

#[test]
fn semantic_maps_are_read_and_checked() {
    let f = fixture();
    let map: Vec<u8> = (0..64).map(|p| [0, 1, 2, 255][p % 4]).collect();
    gray(&f.semantic.join("a.png"), 8, 8, &map);
    gray(&f.semantic.join("b.png"), 8, 8, &[2; 64]);
    std::fs::write(&f.json, serde_json::to_vec(&base()).unwrap()).unwrap();
    let set = open_coco(&f.images, &f.json, Some(&f.semantic)).unwrap();
    assert_eq!(set.semantic_map(0).unwrap(), &map[..]);
    assert_eq!(set.semantic_map(1).unwrap(), &[2; 64][..]);

    // 2 classes: 3 is no class
    let mut bad = [2u8; 64];
    bad[8 * 5 + 3] = 3;
    gray(&f.semantic.join("b.png"), 8, 8, &bad);
    let message = open_coco(&f.images, &f.json, Some(&f.semantic))
        .unwrap_err()
        .to_string();
    starts_with_path(&message, &f.semantic.join("b.png"));
    assert!(
        message.contains("pixel (3, 5): class index 3 is not a class"),
        "{message}"
    );

    png(
        &f.semantic.join("b.png"),
        8,
        8,
        &[0; 192],
        ExtendedColorType::Rgb8,
    );
    let message = open_coco(&f.images, &f.json, Some(&f.semantic))
        .unwrap_err()
        .to_string();
    starts_with_path(&message, &f.semantic.join("b.png"));
    assert!(message.contains("8-bit gray"), "{message}");

    std::fs::remove_file(f.semantic.join("b.png")).unwrap();
    let message = open_coco(&f.images, &f.json, Some(&f.semantic))
        .unwrap_err()
        .to_string();
    starts_with_path(&message, &f.semantic.join("b.png"));
}
