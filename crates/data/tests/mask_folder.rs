//! `open_mask_folder`: images with class-index masks, round trip and errors naming the file.

mod dense_common;

use std::path::Path;

use dense_common::{gray, png};
use image::ExtendedColorType;
use sweet_data::dataset::Split;
use sweet_data::open_mask_folder;

/// `dir/<split>/images/<name>.png` (6x5 gray) and `dir/<split>/masks/<name>.png`.
fn pair(dir: &Path, split: &str, name: &str, image: &[u8], mask: &[u8]) {
    let d = dir.join(split);
    gray(&d.join("images").join(format!("{name}.png")), 6, 5, image);
    gray(&d.join("masks").join(format!("{name}.png")), 6, 5, mask);
}

fn ramp(offset: u8) -> Vec<u8> {
    (0..30).map(|p| p as u8 * 3 + offset).collect()
}

fn masks() -> (Vec<u8>, Vec<u8>) {
    let a = (0..30).map(|p| [0, 1, 2, 255][p % 4]).collect();
    let b = (0..30).map(|p| (p / 10) as u8).collect();
    (a, b)
}

#[test]
fn images_and_masks_round_trip_with_named_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ma, mb) = masks();
    pair(dir, "train", "b", &ramp(1), &mb);
    pair(dir, "train", "a", &ramp(0), &ma);
    std::fs::write(dir.join("classes.txt"), "road\nsky\n\n").unwrap();
    let set = open_mask_folder(dir, Split::Train).unwrap();
    assert_eq!(set.classes, ["road", "sky"]);
    assert_eq!(set.category_ids, [1, 2]);
    assert_eq!(set.semantic_classes(), 3);
    assert_eq!(set.file_names, ["a.png", "b.png"]);
    assert_eq!(set.ids, [1, 2]);
    assert!(set.objects.iter().all(Vec::is_empty) && set.objects.len() == 2);
    assert_eq!((set.images.height, set.images.width), (5, 6));
    assert_eq!(set.images.image_u8(0), &ramp(0)[..]);
    assert_eq!(set.images.image_u8(1), &ramp(1)[..]);
    assert_eq!(set.semantic_map(0).unwrap(), &ma[..]);
    assert_eq!(set.semantic_map(1).unwrap(), &mb[..]);
}

#[test]
fn without_classes_txt_every_split_gets_the_largest_class_of_any_split() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ma, _) = masks();
    pair(dir, "train", "a", &ramp(0), &ma);
    pair(dir, "test", "c", &ramp(2), &[3; 30]);
    let train = open_mask_folder(dir, Split::Train).unwrap();
    let test = open_mask_folder(dir, Split::Test).unwrap();
    assert_eq!(train.classes, ["1", "2", "3"]);
    assert_eq!(test.classes, train.classes);
}

#[test]
fn bad_masks_and_class_files_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ma, mb) = masks();
    pair(dir, "train", "a", &ramp(0), &ma);
    pair(dir, "train", "b", &ramp(1), &mb);
    std::fs::write(dir.join("classes.txt"), "road\nsky\n").unwrap();
    let masks = dir.join("train/masks");
    let check = |path: &Path, want: &str| {
        let message = open_mask_folder(dir, Split::Train).unwrap_err().to_string();
        let p = path.display().to_string();
        assert!(
            message.starts_with(&p),
            "`{message}` does not start with {p}"
        );
        assert!(message.contains(want), "`{message}` lacks `{want}`");
    };

    std::fs::remove_file(masks.join("b.png")).unwrap();
    check(&masks.join("b.png"), "not found (the mask of");

    gray(&masks.join("b.png"), 5, 6, &mb);
    check(&masks.join("b.png"), "map is 5x6 but its image");

    let mut wrong = mb.clone();
    wrong[7] = 3;
    gray(&masks.join("b.png"), 6, 5, &wrong);
    check(
        &masks.join("b.png"),
        "pixel (1, 1): class index 3 is not a class",
    );

    png(
        &masks.join("b.png"),
        6,
        5,
        &[0; 90],
        ExtendedColorType::Rgb8,
    );
    check(&masks.join("b.png"), "8-bit gray");

    gray(&masks.join("b.png"), 6, 5, &mb);
    std::fs::write(dir.join("classes.txt"), "road\n\nsky\n").unwrap();
    check(&dir.join("classes.txt"), "line 2: empty class name");
    std::fs::write(dir.join("classes.txt"), "road\nsky\nroad\n").unwrap();
    check(
        &dir.join("classes.txt"),
        "line 3: class `road` repeats line 1",
    );
}
