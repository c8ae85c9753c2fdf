//! Image folders: `dir/train/<class>/*.{png,jpg,jpeg}` and `dir/test/<class>/...` (or `dir/val`).
//! Classes are the sorted subfolder names of `train`; the test split must use a subset of them.
//! Every image is converted to the requested channels (1 = luma, 3 = RGB; alpha dropped) and
//! resized (triangle filter) when its size differs from the target.

use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageReader};
use rayon::prelude::*;

use crate::dataset::{ImageSet, OpenOptions, Split};
use crate::error::DataError;

/// File extensions read (case-insensitive).
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// ImageNet normalization for 3 channels.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Normalization for 1 channel.
pub const GRAY_MEAN: f32 = 0.5;
pub const GRAY_STD: f32 = 0.5;

/// The folder of a split: `dir/train`, or `dir/test` falling back to `dir/val`.
pub fn split_dir(dir: &Path, split: Split) -> Result<PathBuf, DataError> {
    let first = dir.join(split.to_string());
    if first.is_dir() {
        return Ok(first);
    }
    if split == Split::Test && dir.join("val").is_dir() {
        return Ok(dir.join("val"));
    }
    let note = if split == Split::Test {
        format!(" (nor {})", dir.join("val").display())
    } else {
        String::new()
    };
    Err(DataError::Missing { path: first, note })
}

/// Sorted `(name, path)` of the class subfolders of `split_dir` (hidden folders skipped);
/// `EmptyFolder` when there are none.
pub fn class_folders(split_dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let entries = fs::read_dir(split_dir).map_err(|e| DataError::io(split_dir, e))?;
    let mut classes = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(split_dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() && !name.starts_with('.') {
            classes.push((name, path));
        }
    }
    if classes.is_empty() {
        return Err(DataError::EmptyFolder {
            path: split_dir.into(),
        });
    }
    classes.sort();
    Ok(classes)
}

/// Sorted image files (by extension) of a class folder; `EmptyClass` when there are none.
pub fn image_files(class_dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = fs::read_dir(class_dir).map_err(|e| DataError::io(class_dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(class_dir, e))?.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::EmptyClass {
            path: class_dir.into(),
        });
    }
    files.sort();
    Ok(files)
}

fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<fs::File>>, DataError> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))
}

/// Decodes one image file.
pub fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    reader(path)?.decode().map_err(|e| DataError::Decode {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Decodes `path`, converts to `channels` (1 or 3) and resizes to `width x height` if needed.
/// Returns `[channels, height, width]` bytes.
pub fn load_chw(
    path: &Path,
    channels: usize,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, DataError> {
    Ok(to_chw(&decode(path)?, channels, width, height))
}

/// `img` converted to `channels` (1 or 3; alpha dropped) and resized to `width x height` if
/// needed, as `[channels, height, width]` bytes.
pub fn to_chw(img: &DynamicImage, channels: usize, width: u32, height: u32) -> Vec<u8> {
    if channels == 1 {
        let mut g = img.to_luma8();
        if g.dimensions() != (width, height) {
            g = imageops::resize(&g, width, height, FilterType::Triangle);
        }
        return g.into_raw();
    }
    let mut rgb = img.to_rgb8();
    if rgb.dimensions() != (width, height) {
        rgb = imageops::resize(&rgb, width, height, FilterType::Triangle);
    }
    let plane = (width * height) as usize;
    let mut chw = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px.0[c];
        }
    }
    chw
}

/// Checks `opts` and returns `(channels, width, height)`; without `img_size` the size is the
/// one of the first image (sorted) of the train split, so both splits agree.
fn target(dir: &Path, opts: &OpenOptions) -> Result<(usize, u32, u32), DataError> {
    let invalid = |message: String| DataError::InvalidOption {
        path: dir.into(),
        message,
    };
    let channels = opts.channels.unwrap_or(3);
    if channels != 1 && channels != 3 {
        return Err(invalid(format!("channels must be 1 or 3, got {channels}")));
    }
    if let Some(s) = opts.img_size {
        let side = u32::try_from(s).ok().filter(|&s| s > 0 && s <= 1 << 14);
        let side =
            side.ok_or_else(|| invalid(format!("img_size must be in 1..=16384, got {s}")))?;
        return Ok((channels, side, side));
    }
    let classes = class_folders(&split_dir(dir, Split::Train)?)?;
    let first = image_files(&classes[0].1)?.swap_remove(0);
    let (w, h) = reader(&first)?
        .into_dimensions()
        .map_err(|e| DataError::Decode {
            path: first.clone(),
            message: e.to_string(),
        })?;
    Ok((channels, w, h))
}

/// Opens one split of an image folder.
pub fn open(dir: &Path, split: Split, opts: &OpenOptions) -> Result<ImageSet, DataError> {
    let (channels, width, height) = target(dir, opts)?;
    let train_classes = class_folders(&split_dir(dir, Split::Train)?)?;
    let class_names: Vec<String> = train_classes.iter().map(|(n, _)| n.clone()).collect();
    let classes = match split {
        Split::Train => train_classes,
        Split::Test => class_folders(&split_dir(dir, Split::Test)?)?,
    };
    let mut files: Vec<(PathBuf, u32)> = Vec::new();
    for (name, path) in &classes {
        let label =
            class_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| DataError::UnknownClass {
                    path: path.clone(),
                    class: name.clone(),
                })?;
        files.extend(image_files(path)?.into_iter().map(|f| (f, label as u32)));
    }
    let decoded: Vec<Result<Vec<u8>, DataError>> = files
        .par_iter()
        .map(|(f, _)| load_chw(f, channels, width, height))
        .collect();
    let mut pixels = Vec::with_capacity(files.len() * channels * (width * height) as usize);
    for img in decoded {
        pixels.extend_from_slice(&img?);
    }
    let (mean, std) = if channels == 3 {
        (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec())
    } else {
        (vec![GRAY_MEAN], vec![GRAY_STD])
    };
    Ok(ImageSet {
        pixels,
        labels: files.iter().map(|(_, l)| *l).collect(),
        len: files.len(),
        channels,
        height: height as usize,
        width: width as usize,
        num_classes: class_names.len(),
        class_names,
        mean,
        std,
    })
}
