//! IDX reading/writing and every bad-input case for MNIST-style folders.

use std::fs;
use std::io::Write;
use std::path::Path;

use sweet_data::{idx, open, synthetic, write_idx, DataError, DatasetKind, OpenOptions, Split};

fn opts() -> OpenOptions {
    OpenOptions::default()
}

/// Raw IDX bytes: magic `00 00 08 ndims`, big-endian dims, data.
fn idx_bytes(ndims: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, ndims];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A valid 3-image 2x2 train split in `dir`, raw files.
fn write_valid(dir: &Path) {
    fs::write(
        dir.join("train-images-idx3-ubyte"),
        idx_bytes(3, &[3, 2, 2], &[0; 12]),
    )
    .unwrap();
    fs::write(
        dir.join("train-labels-idx1-ubyte"),
        idx_bytes(1, &[3], &[0, 1, 2]),
    )
    .unwrap();
}

fn open_train(dir: &Path) -> Result<sweet_data::ImageSet, DataError> {
    open(DatasetKind::Mnist, dir, Split::Train, &opts())
}

fn roundtrip(gzip: bool) {
    let dir = tempfile::tempdir().unwrap();
    let set = synthetic(37, 1, 5, 7, 10, 3);
    write_idx(&set, dir.path(), "train", gzip).unwrap();
    write_idx(&set.take(11), dir.path(), "t10k", gzip).unwrap();
    let ext = if gzip { ".gz" } else { "" };
    assert!(dir
        .path()
        .join(format!("train-images-idx3-ubyte{ext}"))
        .is_file());
    let back = open(DatasetKind::FashionMnist, dir.path(), Split::Train, &opts()).unwrap();
    assert_eq!(
        (back.len, back.channels, back.height, back.width),
        (37, 1, 5, 7)
    );
    assert_eq!(back.pixels, set.pixels);
    assert_eq!(back.labels, set.labels);
    assert_eq!(back.num_classes, 10);
    assert_eq!(back.mean, vec![0.2860]);
    let test = open(DatasetKind::Mnist, dir.path(), Split::Test, &opts()).unwrap();
    assert_eq!(test.len, 11);
    assert_eq!(test.pixels, set.take(11).pixels);
    assert_eq!(test.mean, vec![0.1307]);
}

#[test]
fn roundtrip_raw() {
    roundtrip(false);
}

#[test]
fn roundtrip_gz() {
    roundtrip(true);
}

#[test]
fn raw_is_preferred_over_gz() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    // A broken .gz next to a good raw file is never read.
    fs::write(dir.path().join("train-images-idx3-ubyte.gz"), b"junk").unwrap();
    assert_eq!(open_train(dir.path()).unwrap().len, 3);
}

#[test]
fn write_idx_rejects_colour() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_idx(&synthetic(2, 3, 4, 4, 2, 0), dir.path(), "train", false).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn missing_folder_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("nope");
    let err = open_train(&gone).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path == &gone),
        "{err}"
    );
    let err = open_train(dir.path()).unwrap_err();
    assert!(matches!(&err, DataError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
    assert!(err.to_string().contains(".gz"), "{err}");
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let f = dir.path().join("train-images-idx3-ubyte");
    let mut bytes = idx_bytes(3, &[3, 2, 2], &[0; 12]);
    bytes[2] = 0x09; // i8 instead of u8
    fs::write(&f, &bytes).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::BadMagic { path, expected_dims: 3, .. } if path == &f),
        "{err}"
    );
    // A label file given 3 dims is also a magic error.
    write_valid(dir.path());
    let l = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&l, idx_bytes(3, &[3, 1, 1], &[0, 1, 2])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::BadMagic { path, expected_dims: 1, .. } if path == &l),
        "{err}"
    );
    assert!(err.to_string().contains("train-labels-idx1-ubyte"), "{err}");
}

#[test]
fn truncated_data_and_header() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let f = dir.path().join("train-images-idx3-ubyte");
    fs::write(&f, idx_bytes(3, &[60000, 28, 28], &[0; 1000])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Truncated { path, expected: 47_040_000, actual: 1000, .. } if path == &f),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.ends_with("train-images-idx3-ubyte: truncated: header says 60000x28x28 = 47040000 bytes, file has 1000"), "{msg}");
    fs::write(&f, &idx_bytes(3, &[3, 2, 2], &[])[..9]).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Truncated { path, .. } if path == &f),
        "{err}"
    );
}

#[test]
fn trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let l = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&l, idx_bytes(1, &[3], &[0, 1, 2, 7])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::TrailingBytes { path, expected: 3, actual: 4, .. } if path == &l),
        "{err}"
    );
}

#[test]
fn count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let l = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&l, idx_bytes(1, &[2], &[0, 1])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::CountMismatch { path, labels: 2, images: 3, .. } if path == &l),
        "{err}"
    );
}

#[test]
fn label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let l = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&l, idx_bytes(1, &[3], &[0, 10, 2])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::LabelOutOfRange { path, index: 1, label: 10, num_classes: 10 } if path == &l),
        "{err}"
    );
}

#[test]
fn zero_image_side() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    let f = dir.path().join("train-images-idx3-ubyte");
    fs::write(&f, idx_bytes(3, &[3, 0, 2], &[])).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::BadDims { path, .. } if path == &f),
        "{err}"
    );
}

#[test]
fn bad_gzip() {
    let dir = tempfile::tempdir().unwrap();
    write_valid(dir.path());
    fs::remove_file(dir.path().join("train-images-idx3-ubyte")).unwrap();
    let f = dir.path().join("train-images-idx3-ubyte.gz");
    fs::write(&f, b"this is not gzip at all").unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Gzip { path, .. } if path == &f),
        "{err}"
    );
    // A gzip stream cut in the middle is a gzip error too.
    let good = gz(&idx_bytes(3, &[3, 2, 2], &[7; 12]));
    fs::write(&f, &good[..good.len() / 2]).unwrap();
    let err = open_train(dir.path()).unwrap_err();
    assert!(
        matches!(&err, DataError::Gzip { path, .. } if path == &f),
        "{err}"
    );
    // And the whole stream reads fine.
    fs::write(&f, &good).unwrap();
    assert_eq!(open_train(dir.path()).unwrap().pixels, vec![7; 12]);
}

#[test]
fn read_images_direct() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x-idx3-ubyte");
    fs::write(&f, idx_bytes(3, &[2, 1, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
    let img = idx::read_images(&f).unwrap();
    assert_eq!((img.count, img.height, img.width), (2, 1, 3));
    assert_eq!(img.data, vec![1, 2, 3, 4, 5, 6]);
    let err = idx::read_labels(&f).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }));
}
