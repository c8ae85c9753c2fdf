//! Canvas sets on disk: the writer -> reader round trip, the RLE masks, boxes and semantic
//! maps, determinism, no train/test leakage, the overlap rule and atomic writing. Digits are
//! generated (tests/dense_common), never real MNIST.

mod dense_common;

use std::path::Path;

use dense_common::{digits, read_gray, tree, TEST_INK, TRAIN_INK};
use hotcoco::mask::{decode, rle_from_string, to_bbox};
use hotcoco::types::{Dataset, Segmentation};
use image::imageops::{self, FilterType};
use sweet_data::coco::{CanvasInfo, ANNOTATIONS_FILE, CANVAS_FILE};
use sweet_data::dataset::{ImageSet, Split};
use sweet_data::{open_dense, write_canvas, CanvasConfig, CanvasMaker, DataError, Object};

const SPLITS: [Split; 2] = [Split::Train, Split::Test];

fn config(seed: u64) -> CanvasConfig {
    CanvasConfig {
        size: 48,
        train: 30,
        test: 12,
        seed,
        ..CanvasConfig::default()
    }
}

fn train_digits() -> ImageSet {
    digits(60, TRAIN_INK, 1)
}

fn test_digits() -> ImageSet {
    digits(25, TEST_INK, 2)
}

fn digits_of(split: Split) -> ImageSet {
    match split {
        Split::Train => train_digits(),
        Split::Test => test_digits(),
    }
}

fn write(out: &Path, cfg: &CanvasConfig) -> Result<CanvasInfo, DataError> {
    write_canvas(out, cfg, &train_digits(), &test_digits(), &mut |_, _, _| {})
}

fn annotations(out: &Path, split: Split) -> Dataset {
    let path = out.join(split.to_string()).join(ANNOTATIONS_FILE);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Row-major `[h, w]` mask of a compressed-RLE segmentation, decoded by hotcoco.
fn decoded_mask(seg: &Segmentation) -> (Vec<u8>, [f64; 4]) {
    let Segmentation::CompressedRle { size, counts } = seg else {
        panic!("expected a compressed RLE, got {seg:?}");
    };
    let (h, w) = (size[0] as usize, size[1] as usize);
    let rle = rle_from_string(counts, size[0], size[1]).unwrap();
    let column_major = decode(&rle);
    let mask = (0..h * w)
        .map(|p| column_major[(p % w) * h + p / w])
        .collect();
    (mask, to_bbox(&rle))
}

#[test]
fn reader_gives_back_what_the_generator_made() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let cfg = config(7);
    let info = write(&out, &cfg).unwrap();
    let on_disk: CanvasInfo =
        serde_json::from_slice(&std::fs::read(out.join(CANVAS_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk, info);
    assert_eq!(info.config, cfg);
    for split in SPLITS {
        let digits = digits_of(split);
        let maker = CanvasMaker::new(&digits, split, &cfg).unwrap();
        let set = open_dense(&out, split).unwrap();
        assert_eq!(set.len(), cfg.count(split));
        let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
        assert_eq!(set.classes, names);
        assert_eq!(set.category_ids, (1..=10).collect::<Vec<u64>>());
        let im = &set.images;
        assert_eq!((im.channels, im.height, im.width), (1, 48, 48));
        let mut objects = 0;
        for i in 0..set.len() {
            let c = maker.make(i);
            assert_eq!(set.ids[i], i as u64 + 1);
            assert_eq!(set.file_names[i], format!("{i:06}.png"));
            assert_eq!(im.image_u8(i), &c.pixels[..], "{split} image {i}");
            assert_eq!(set.semantic_map(i).unwrap(), &c.semantic()[..]);
            let want: Vec<Object> = c
                .objects
                .iter()
                .map(|o| Object {
                    class: o.class,
                    bbox: o.bbox.map(|v| v as f32),
                    area: o.area as f32,
                })
                .collect();
            assert_eq!(set.objects[i], want, "{split} image {i}");
            objects += want.len();
        }
        let counts = if split == Split::Train {
            info.train
        } else {
            info.test
        };
        assert_eq!((counts.images, counts.objects), (set.len(), objects));
        // not a degenerate set: several canvases hold more than one digit
        assert!(objects > set.len() + set.len() / 4, "{objects} objects");
    }
}

#[test]
fn rle_masks_are_the_visible_masks_with_tight_boxes_and_areas() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let cfg = config(3);
    write(&out, &cfg).unwrap();
    for split in SPLITS {
        let digits = digits_of(split);
        let maker = CanvasMaker::new(&digits, split, &cfg).unwrap();
        let ds = annotations(&out, split);
        assert_eq!(ds.images.len(), cfg.count(split));
        let mut seen_per_image = vec![0usize; ds.images.len()];
        for (n, a) in ds.annotations.iter().enumerate() {
            assert_eq!(a.id, n as u64 + 1);
            assert!(!a.iscrowd);
            let image = a.image_id as usize - 1;
            let k = seen_per_image[image];
            seen_per_image[image] += 1;
            let (mask, hotcoco_box) = decoded_mask(a.segmentation.as_ref().unwrap());
            assert_eq!(mask, maker.make(image).mask(k), "annotation {}", a.id);
            let pixels: Vec<(usize, usize)> = (0..mask.len())
                .filter(|&p| mask[p] == 1)
                .map(|p| (p % 48, p / 48))
                .collect();
            let x0 = pixels.iter().map(|p| p.0).min().unwrap();
            let x1 = pixels.iter().map(|p| p.0).max().unwrap();
            let y0 = pixels.iter().map(|p| p.1).min().unwrap();
            let y1 = pixels.iter().map(|p| p.1).max().unwrap();
            let tight = [x0, y0, x1 - x0 + 1, y1 - y0 + 1].map(|v| v as f64);
            assert_eq!(a.bbox.unwrap(), tight, "annotation {}", a.id);
            assert_eq!(hotcoco_box, tight);
            assert_eq!(a.area.unwrap(), pixels.len() as f64);
            assert!((1..=10).contains(&a.category_id));
        }
        for (i, &n) in seen_per_image.iter().enumerate() {
            assert_eq!(n, maker.make(i).objects.len());
        }
    }
}

#[test]
fn annotations_json_holds_plain_coco_records() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    write(&out, &config(2)).unwrap();
    let path = out.join("test").join(ANNOTATIONS_FILE);
    let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let keys = |record: &serde_json::Value| {
        let mut k: Vec<String> = record.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k.join(" ")
    };
    for a in raw["annotations"].as_array().unwrap() {
        let want = "area bbox category_id id image_id iscrowd segmentation";
        assert_eq!(keys(a), want);
        assert_eq!(a["iscrowd"], serde_json::json!(0));
    }
    for im in raw["images"].as_array().unwrap() {
        assert_eq!(keys(im), "file_name height id width");
    }
    let categories = raw["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 10);
    assert_eq!(categories[3], serde_json::json!({"id": 4, "name": "3"}));
}

#[test]
fn semantic_maps_are_the_union_of_the_instance_masks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    write(&out, &config(5)).unwrap();
    let ds = annotations(&out, Split::Train);
    let mut expected = vec![vec![0u8; 48 * 48]; ds.images.len()];
    for a in &ds.annotations {
        let map = &mut expected[a.image_id as usize - 1];
        let (mask, _) = decoded_mask(a.segmentation.as_ref().unwrap());
        for (p, &m) in mask.iter().enumerate() {
            if m == 1 {
                assert_eq!(map[p], 0, "two masks of image {} share a pixel", a.image_id);
                map[p] = a.category_id as u8;
            }
        }
    }
    for (i, want) in expected.iter().enumerate() {
        let path = out.join(format!("train/semantic/{i:06}.png"));
        assert_eq!(&read_gray(&path), want, "{}", path.display());
    }
}

#[test]
fn same_seed_gives_identical_bytes_for_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let in_pool = |threads: usize, name: &str, seed: u64| {
        let out = tmp.path().join(name);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| write(&out, &config(seed)).unwrap());
        tree(&out)
    };
    let one = in_pool(1, "one", 11);
    let three = in_pool(3, "three", 11);
    let other = in_pool(3, "other", 12);
    // images and semantic maps of both splits, two annotations.json, canvas.json
    assert_eq!(one.len(), 2 * (30 + 12) + 3);
    assert!(one == three, "same seed, different bytes");
    let differing = one
        .iter()
        .zip(&other)
        .filter(|(a, b)| a.0 == b.0 && a.1 != b.1)
        .count();
    // every annotations.json, canvas.json and nearly every image differ
    assert!(
        differing > one.len() / 2,
        "{differing} of {} files differ",
        one.len()
    );
}

#[test]
fn train_canvases_use_train_digits_and_test_canvases_test_digits() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    write(&out, &config(9)).unwrap();
    let train = open_dense(&out, Split::Train).unwrap();
    let test = open_dense(&out, Split::Test).unwrap();
    for i in 0..train.len() {
        assert!(!train.objects[i].is_empty());
        let top = *train.images.image_u8(i).iter().max().unwrap();
        assert!(top <= TRAIN_INK, "train image {i} has a pixel {top}");
    }
    for i in 0..test.len() {
        assert!(!test.objects[i].is_empty());
        let top = *test.images.image_u8(i).iter().max().unwrap();
        assert!(
            top > TRAIN_INK,
            "test image {i} has no test-digit ink (max {top})"
        );
    }
}

/// The full `> 127` mask of a paste, row-major on the canvas.
fn full_mask(digits: &ImageSet, digit: usize, paste: [u32; 3], s: usize) -> Vec<u8> {
    let img = image::GrayImage::from_raw(28, 28, digits.image_u8(digit).to_vec()).unwrap();
    let side = paste[2];
    let scaled = imageops::resize(&img, side, side, FilterType::Triangle);
    let mut mask = vec![0u8; s * s];
    for (x, y, p) in scaled.enumerate_pixels() {
        if p.0[0] > 127 {
            mask[(paste[1] + y) as usize * s + (paste[0] + x) as usize] = 1;
        }
    }
    mask
}

#[test]
fn later_pastes_cover_at_most_the_allowed_share_of_earlier_masks() {
    let digits = train_digits();
    let mut partly_covered = 0;
    for max_overlap in [0.2, 0.0] {
        let cfg = CanvasConfig {
            max_overlap,
            size: 40,
            ..config(21)
        };
        let maker = CanvasMaker::new(&digits, Split::Train, &cfg).unwrap();
        for c in maker.make_range(0..150) {
            assert!((1..=4).contains(&c.objects.len()));
            let later = c.objects.len();
            for (k, o) in c.objects.iter().enumerate() {
                let [x, y, side] = o.paste;
                assert!((16..=40).contains(&side) && x + side <= 40 && y + side <= 40);
                assert_eq!(o.class, digits.labels[o.digit] as usize);
                let full = full_mask(&digits, o.digit, o.paste, 40);
                let visible = c.mask(k);
                assert!(visible.iter().zip(&full).all(|(&v, &f)| v <= f));
                let (v, f) = (
                    o.area as f64,
                    full.iter().filter(|&&m| m == 1).count() as f64,
                );
                assert_eq!(v, visible.iter().filter(|&&m| m == 1).count() as f64);
                let floor = (1.0 - max_overlap).powi((later - k - 1) as i32) * f;
                assert!(v >= floor - 1e-9, "object {k}: {v} of {f} visible");
                if v < f {
                    partly_covered += 1;
                }
                if max_overlap == 0.0 {
                    assert_eq!(v, f);
                }
            }
        }
    }
    assert!(
        partly_covered > 10,
        "only {partly_covered} objects overlapped"
    );
}

fn partial_folders(parent: &Path) -> Vec<String> {
    std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial-"))
        .collect()
}

#[test]
fn refuses_a_non_empty_folder_and_leaves_nothing_half_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = write(&out, &config(1)).unwrap_err();
    assert!(
        matches!(&err, DataError::NotEmpty { path } if path == &out),
        "{err}"
    );
    assert!(err.to_string().starts_with(&out.display().to_string()));
    assert_eq!(tree(&out).len(), 1);

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write(&empty, &config(1)).unwrap();
    assert!(empty.join(CANVAS_FILE).is_file());

    // a run that dies half-way (here: a panicking progress callback) leaves no output
    let dies = tmp.path().join("dies");
    let mut calls = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write_canvas(
            &dies,
            &config(1),
            &train_digits(),
            &test_digits(),
            &mut |_, _, _| {
                calls += 1;
                assert!(calls < 3, "killed");
            },
        )
    }));
    assert!(result.is_err());
    assert!(!dies.exists());

    let too_small = tmp.path().join("small");
    let cfg = CanvasConfig {
        size: 30,
        ..config(1)
    };
    let err = write(&too_small, &cfg).unwrap_err();
    assert!(matches!(&err, DataError::InvalidOption { path, .. } if path == &too_small));
    assert!(err.to_string().contains("largest digit size 40"), "{err}");
    assert!(!too_small.exists());
    assert!(
        partial_folders(tmp.path()).is_empty(),
        "{:?}",
        partial_folders(tmp.path())
    );
}
