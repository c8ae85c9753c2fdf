//! Image folders, on real PNG/JPEG fixtures (tests/fixtures/imagefolder, from foolbox 3.3.4).

use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use sweet_data::{open, DataError, DatasetKind, ImageSet, OpenOptions, Split};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imagefolder")
}

fn open_if(
    dir: &Path,
    split: Split,
    img_size: Option<usize>,
    channels: Option<usize>,
) -> Result<ImageSet, DataError> {
    open(
        DatasetKind::ImageFolder,
        dir,
        split,
        &OpenOptions { img_size, channels },
    )
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A copy of the fixture tree in a temp dir, for tests that break it.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures(), dir.path());
    dir
}

#[test]
fn discovers_classes_and_keeps_first_image_size() {
    let set = open_if(&fixtures(), Split::Train, None, None).unwrap();
    assert_eq!(set.class_names, vec!["cifar", "imagenet"]);
    assert_eq!(set.num_classes, 2);
    assert_eq!(set.labels, vec![0, 0, 1, 1]);
    // First image (cifar/cifar10_00_3.png) is 32x32; the 512x512 JPEGs are resized to it.
    assert_eq!(
        (set.len, set.channels, set.height, set.width),
        (4, 3, 32, 32)
    );
    assert_eq!(set.pixels.len(), 4 * 3 * 32 * 32);
    assert_eq!(set.mean, vec![0.485, 0.456, 0.406]);
    assert_eq!(set.std, vec![0.229, 0.224, 0.225]);
}

#[test]
fn pixels_match_image_crate() {
    let set = open_if(&fixtures(), Split::Train, None, Some(3)).unwrap();
    // PNG at native size: exact decoded value, CHW layout.
    let png = image::open(fixtures().join("train/cifar/cifar10_01_8.png"))
        .unwrap()
        .to_rgb8();
    for (c, y, x) in [(0, 0, 0), (1, 7, 20), (2, 31, 5)] {
        let got = set.image_u8(1)[c * 32 * 32 + y * 32 + x];
        assert_eq!(
            got,
            png.get_pixel(x as u32, y as u32)[c],
            "png pixel c{c} y{y} x{x}"
        );
    }
    // JPEG, 512x512 -> 32x32 with the triangle filter.
    let jpg = image::open(fixtures().join("train/imagenet/imagenet_11_630.jpg"))
        .unwrap()
        .to_rgb8();
    assert_eq!(jpg.dimensions(), (512, 512));
    let small = imageops::resize(&jpg, 32, 32, FilterType::Triangle);
    for (c, y, x) in [(0, 3, 4), (2, 16, 30)] {
        let got = set.image_u8(2)[c * 32 * 32 + y * 32 + x];
        assert_eq!(
            got,
            small.get_pixel(x as u32, y as u32)[c],
            "jpg pixel c{c} y{y} x{x}"
        );
    }
}

#[test]
fn resize_and_grayscale() {
    let set = open_if(&fixtures(), Split::Train, Some(16), Some(1)).unwrap();
    assert_eq!(
        (set.len, set.channels, set.height, set.width),
        (4, 1, 16, 16)
    );
    assert_eq!((set.mean.clone(), set.std.clone()), (vec![0.5], vec![0.5]));
    let luma = image::open(fixtures().join("train/cifar/cifar10_00_3.png"))
        .unwrap()
        .to_luma8();
    let small = imageops::resize(&luma, 16, 16, FilterType::Triangle);
    assert_eq!(set.image_u8(0), small.as_raw().as_slice());
    let rgb = open_if(&fixtures(), Split::Train, Some(16), Some(3)).unwrap();
    assert_eq!((rgb.channels, rgb.height, rgb.width), (3, 16, 16));
}

#[test]
fn test_split_and_val_fallback() {
    let set = open_if(&fixtures(), Split::Test, Some(24), None).unwrap();
    assert_eq!((set.len, set.height, set.width), (2, 24, 24));
    assert_eq!(set.labels, vec![0, 1]);
    assert_eq!(set.class_names, vec!["cifar", "imagenet"]);
    let dir = scratch();
    fs::rename(dir.path().join("test"), dir.path().join("val")).unwrap();
    let val = open_if(dir.path(), Split::Test, Some(24), None).unwrap();
    assert_eq!(val.pixels, set.pixels);
    fs::remove_dir_all(dir.path().join("val")).unwrap();
    let err = open_if(dir.path(), Split::Test, Some(24), None).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("test")),
        "{err}"
    );
}

#[test]
fn test_class_not_in_train() {
    let dir = scratch();
    let odd = dir.path().join("test/zebra");
    fs::create_dir(&odd).unwrap();
    fs::copy(
        fixtures().join("test/cifar/cifar10_02_8.png"),
        odd.join("z.png"),
    )
    .unwrap();
    let err = open_if(dir.path(), Split::Test, None, None).unwrap_err();
    assert!(
        matches!(&err, DataError::UnknownClass { path, class } if path == &odd && class == "zebra"),
        "{err}"
    );
}

#[test]
fn empty_folder_and_empty_class() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train");
    fs::create_dir(&train).unwrap();
    fs::write(train.join("stray.txt"), "not a class").unwrap();
    let err = open_if(dir.path(), Split::Train, Some(8), None).unwrap_err();
    assert!(
        matches!(&err, DataError::EmptyFolder { path } if path == &train),
        "{err}"
    );
    let class = train.join("cats");
    fs::create_dir(&class).unwrap();
    fs::write(class.join("notes.txt"), "no images here").unwrap();
    let err = open_if(dir.path(), Split::Train, Some(8), None).unwrap_err();
    assert!(
        matches!(&err, DataError::EmptyClass { path } if path == &class),
        "{err}"
    );
    // Also without img_size (the size probe hits the same check).
    let err = open_if(dir.path(), Split::Train, None, None).unwrap_err();
    assert!(matches!(&err, DataError::EmptyClass { .. }), "{err}");
}

#[test]
fn undecodable_image() {
    let dir = scratch();
    let bad = dir.path().join("train/imagenet/broken.png");
    fs::write(&bad, "this is text, not a PNG").unwrap();
    let err = open_if(dir.path(), Split::Train, Some(8), None).unwrap_err();
    assert!(
        matches!(&err, DataError::Decode { path, .. } if path == &bad),
        "{err}"
    );
    assert!(err.to_string().contains("broken.png"));
}

#[test]
fn invalid_options_and_missing_dir() {
    let err = open_if(&fixtures(), Split::Train, None, Some(2)).unwrap_err();
    assert!(matches!(err, DataError::InvalidOption { .. }), "{err}");
    let err = open_if(&fixtures(), Split::Train, Some(0), None).unwrap_err();
    assert!(matches!(err, DataError::InvalidOption { .. }), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = open_if(dir.path(), Split::Train, None, None).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("train")),
        "{err}"
    );
}
