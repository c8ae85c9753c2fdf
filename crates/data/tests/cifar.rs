//! CIFAR-10 binary batches.

use std::fs;
use std::path::Path;

use sweet_data::cifar::{IMAGE_BYTES, RECORD_BYTES};
use sweet_data::{open, DataError, DatasetKind, OpenOptions, Split};

/// Record `i` of a generated batch: label `i % 10`, pixel bytes `(i * 7 + j) % 251`.
fn record(i: usize) -> Vec<u8> {
    let mut r = vec![(i % 10) as u8];
    r.extend((0..IMAGE_BYTES).map(|j| ((i * 7 + j) % 251) as u8));
    r
}

fn write_batch(path: &Path, first: usize, n: usize) {
    let bytes: Vec<u8> = (first..first + n).flat_map(record).collect();
    fs::write(path, bytes).unwrap();
}

fn open_split(dir: &Path, split: Split) -> Result<sweet_data::ImageSet, DataError> {
    open(DatasetKind::Cifar10, dir, split, &OpenOptions::default())
}

#[test]
fn reads_test_batch_pixel_and_label() {
    let dir = tempfile::tempdir().unwrap();
    write_batch(&dir.path().join("test_batch.bin"), 0, 4);
    let set = open_split(dir.path(), Split::Test).unwrap();
    assert_eq!(
        (set.len, set.channels, set.height, set.width),
        (4, 3, 32, 32)
    );
    assert_eq!(set.labels, vec![0, 1, 2, 3]);
    assert_eq!(set.class_names[9], "9");
    assert_eq!(set.mean, vec![0.4914, 0.4822, 0.4465]);
    // Image 3, channel 2 (blue), row 5, column 17: byte 1 + 2*1024 + 5*32 + 17 of record 3.
    let (i, c, y, x) = (3, 2, 5, 17);
    let j = c * 1024 + y * 32 + x;
    assert_eq!(set.pixels[i * IMAGE_BYTES + j], ((i * 7 + j) % 251) as u8);
    let mut f = vec![0f32; IMAGE_BYTES];
    set.image_f32(i, &mut f);
    let want = (((i * 7 + j) % 251) as f32 / 255.0 - 0.4465) / 0.2616;
    assert!((f[j] - want).abs() < 1e-5);
}

#[test]
fn reads_train_batches_in_subfolder_with_meta() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("cifar-10-batches-bin");
    fs::create_dir(&sub).unwrap();
    for b in 1..=5 {
        write_batch(&sub.join(format!("data_batch_{b}.bin")), (b - 1) * 3, 3);
    }
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    fs::write(sub.join("batches.meta.txt"), names).unwrap();
    let set = open_split(dir.path(), Split::Train).unwrap();
    assert_eq!(set.len, 15);
    assert_eq!(
        set.labels,
        (0..15).map(|i| (i % 10) as u32).collect::<Vec<_>>()
    );
    assert_eq!(set.class_names[3], "cat");
    assert_eq!(&set.pixels[14 * IMAGE_BYTES..], &record(14)[1..]);
}

#[test]
fn bad_length() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("test_batch.bin");
    fs::write(&f, vec![0u8; RECORD_BYTES + 5]).unwrap();
    let err = open_split(dir.path(), Split::Test).unwrap_err();
    assert!(
        matches!(&err, DataError::CifarLength { path, len } if path == &f && *len == RECORD_BYTES as u64 + 5),
        "{err}"
    );
    assert!(err.to_string().contains("test_batch.bin"));
    fs::write(&f, b"").unwrap();
    assert!(matches!(
        open_split(dir.path(), Split::Test),
        Err(DataError::CifarLength { len: 0, .. })
    ));
}

#[test]
fn missing_batch_and_bad_label() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_split(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("data_batch_1.bin")),
        "{err}"
    );
    for b in 1..=4 {
        write_batch(&dir.path().join(format!("data_batch_{b}.bin")), 0, 1);
    }
    let err = open_split(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::Missing { path, .. } if path.ends_with("data_batch_5.bin")),
        "{err}"
    );
    let f = dir.path().join("data_batch_5.bin");
    let mut bytes = record(0);
    bytes[0] = 10;
    fs::write(&f, bytes).unwrap();
    let err = open_split(dir.path(), Split::Train).unwrap_err();
    assert!(
        matches!(&err, DataError::LabelOutOfRange { path, label: 10, .. } if path == &f),
        "{err}"
    );
}
