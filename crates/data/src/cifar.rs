//! CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes (R, G, B planes of
//! 32x32, row-major), which is exactly the `[C, H, W]` layout of [`ImageSet`].

use std::fs;
use std::path::{Path, PathBuf};

use crate::dataset::{check_labels, numbered_classes, ImageSet, Split};
use crate::error::DataError;

/// Image side.
pub const SIDE: usize = 32;
/// Pixel bytes per record: 3 x 32 x 32.
pub const IMAGE_BYTES: usize = 3 * SIDE * SIDE;
/// Bytes per record: 1 label byte + [`IMAGE_BYTES`].
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of classes.
pub const NUM_CLASSES: usize = 10;
/// Per-channel normalization mean (R, G, B).
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel normalization std (R, G, B).
pub const STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// Subfolder name of the official archive, accepted inside `dir`.
pub const SUBFOLDER: &str = "cifar-10-batches-bin";

/// Batch file names of a split.
pub fn file_names(split: Split) -> Vec<String> {
    match split {
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
        Split::Test => vec!["test_batch.bin".to_string()],
    }
}

/// The folder holding the batch files: `dir` itself, else `dir/cifar-10-batches-bin`.
fn base_dir(dir: &Path, first: &str) -> Result<PathBuf, DataError> {
    if dir.join(first).is_file() {
        return Ok(dir.to_path_buf());
    }
    let sub = dir.join(SUBFOLDER);
    if sub.join(first).is_file() {
        return Ok(sub);
    }
    Err(DataError::Missing {
        path: dir.join(first),
        note: format!(" (nor {})", sub.join(first).display()),
    })
}

/// Class names from `batches.meta.txt` (first 10 non-empty lines), else `"0".."9"`.
fn class_names(base: &Path) -> Vec<String> {
    let names: Vec<String> = fs::read_to_string(base.join("batches.meta.txt"))
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if names.len() >= NUM_CLASSES {
        names.into_iter().take(NUM_CLASSES).collect()
    } else {
        numbered_classes(NUM_CLASSES)
    }
}

/// Appends the records of one batch file to `pixels` / `labels`.
pub fn read_batch(
    path: &Path,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u32>,
) -> Result<(), DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    if bytes.is_empty() || bytes.len() % RECORD_BYTES != 0 {
        return Err(DataError::CifarLength {
            path: path.into(),
            len: bytes.len() as u64,
        });
    }
    let records = bytes.chunks_exact(RECORD_BYTES);
    let file_labels = check_labels(path, records.clone().map(|r| u32::from(r[0])), NUM_CLASSES)?;
    pixels.reserve(bytes.len() / RECORD_BYTES * IMAGE_BYTES);
    for r in records {
        pixels.extend_from_slice(&r[1..]);
    }
    labels.extend(file_labels);
    Ok(())
}

/// Opens a CIFAR-10 split from `dir` (or `dir/cifar-10-batches-bin`).
pub fn open(dir: &Path, split: Split) -> Result<ImageSet, DataError> {
    let names = file_names(split);
    let base = base_dir(dir, &names[0])?;
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for name in &names {
        read_batch(&base.join(name), &mut pixels, &mut labels)?;
    }
    Ok(ImageSet {
        len: labels.len(),
        pixels,
        labels,
        channels: 3,
        height: SIDE,
        width: SIDE,
        num_classes: NUM_CLASSES,
        class_names: class_names(&base),
        mean: MEAN.to_vec(),
        std: STD.to_vec(),
    })
}
