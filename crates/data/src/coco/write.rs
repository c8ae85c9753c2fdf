//! Writing a canvas set ([`crate::canvas`]) in the layout [`super::open_dense`] reads.

use std::fs;
use std::path::Path;

use hotcoco::mask::{encode, rle_to_string};
use hotcoco::types::{Annotation, Category, Dataset, Image, Segmentation};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ANNOTATIONS_FILE, CANVAS_FILE, IMAGES_DIR, SEMANTIC_DIR};
use crate::canvas::{Canvas, CanvasConfig, CanvasMaker};
use crate::dataset::{ImageSet, Split};
use crate::dense_files::{write_gray_png, write_json};
use crate::error::DataError;
use crate::staging::Staging;

/// `format` of `canvas.json`.
pub const CANVAS_FORMAT: &str = "sweet-mnist-canvas";
/// `version` of `canvas.json` (raised when the layout changes).
pub const CANVAS_VERSION: u32 = 1;
/// Canvases made (in parallel) between two progress reports.
const CHUNK: usize = 256;

/// What one split of a canvas set holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitCounts {
    pub images: usize,
    pub objects: usize,
}

/// The content of `canvas.json`: the settings a set was made with and what it holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanvasInfo {
    /// [`CANVAS_FORMAT`].
    pub format: String,
    /// [`CANVAS_VERSION`].
    pub version: u32,
    pub config: CanvasConfig,
    pub train: SplitCounts,
    pub test: SplitCounts,
}

/// Writes the canvas set `config` describes into the new folder `out`: train canvases from
/// `train_digits` (the MNIST train split), test canvases from `test_digits` (the test split).
///
/// Layout, for each split `train` and `test`:
/// - `<split>/images/000000.png ...`: 8-bit gray `size x size`;
/// - `<split>/semantic/000000.png ...`: 8-bit gray, 0 background, `class + 1` per digit;
/// - `<split>/annotations.json`: COCO; images with 1-based ids; annotations with 1-based
///   ids, `bbox`, `area`, `iscrowd` 0 and the visible mask as compressed RLE (pycocotools'
///   `counts` string); categories `1..=classes` named after the digit classes (`"0".."9"`);
///
/// plus `canvas.json` ([`CanvasInfo`]). Everything is written into a temporary folder beside
/// `out` and renamed into place at the end, so `out` never holds a partial set; an existing
/// non-empty `out` is refused before anything is made. `progress(split, done, total)` is
/// called as canvases are written.
pub fn write_canvas(
    out: &Path,
    config: &CanvasConfig,
    train_digits: &ImageSet,
    test_digits: &ImageSet,
    progress: &mut dyn FnMut(Split, usize, usize),
) -> Result<CanvasInfo, DataError> {
    let invalid = |message: String| DataError::InvalidOption {
        path: out.into(),
        message,
    };
    let train = CanvasMaker::new(train_digits, Split::Train, config).map_err(invalid)?;
    let test = CanvasMaker::new(test_digits, Split::Test, config).map_err(invalid)?;
    let staging = Staging::new(out)?;
    let mut counts = Vec::new();
    for (split, maker, digits) in [
        (Split::Train, &train, train_digits),
        (Split::Test, &test, test_digits),
    ] {
        let dir = staging.path().join(split.to_string());
        let n = config.count(split);
        counts.push(write_split(
            &dir, split, maker, n, digits, config, progress,
        )?);
    }
    let info = CanvasInfo {
        format: CANVAS_FORMAT.into(),
        version: CANVAS_VERSION,
        config: config.clone(),
        train: counts[0],
        test: counts[1],
    };
    write_json(&staging.path().join(CANVAS_FILE), &info, true)?;
    staging.commit()?;
    Ok(info)
}

/// Writes the `n` canvases of one split into `dir`.
fn write_split(
    dir: &Path,
    split: Split,
    maker: &CanvasMaker,
    n: usize,
    digits: &ImageSet,
    config: &CanvasConfig,
    progress: &mut dyn FnMut(Split, usize, usize),
) -> Result<SplitCounts, DataError> {
    for sub in [IMAGES_DIR, SEMANTIC_DIR] {
        let d = dir.join(sub);
        fs::create_dir_all(&d).map_err(|e| DataError::write(&d, e))?;
    }
    let side = (config.size, config.size);
    let mut images = Vec::with_capacity(n);
    let mut annotations = Vec::new();
    progress(split, 0, n);
    for start in (0..n).step_by(CHUNK) {
        let end = (start + CHUNK).min(n);
        let written: Vec<Result<(Image, Vec<Annotation>), DataError>> = (start..end)
            .into_par_iter()
            .map(|i| {
                let canvas = maker.make(i);
                let name = format!("{i:06}.png");
                write_gray_png(&dir.join(IMAGES_DIR).join(&name), &canvas.pixels, side)?;
                write_gray_png(
                    &dir.join(SEMANTIC_DIR).join(&name),
                    &canvas.semantic(),
                    side,
                )?;
                let id = i as u64 + 1;
                let image = Image {
                    id,
                    file_name: name,
                    width: config.size as u32,
                    height: config.size as u32,
                    ..Image::default()
                };
                Ok((image, canvas_annotations(&canvas, id)))
            })
            .collect();
        for w in written {
            let (image, anns) = w?;
            images.push(image);
            annotations.extend(anns);
        }
        progress(split, end, n);
    }
    for (k, a) in annotations.iter_mut().enumerate() {
        a.id = k as u64 + 1;
    }
    let objects = annotations.len();
    let categories = digits
        .class_names
        .iter()
        .enumerate()
        .map(|(k, name)| Category {
            id: k as u64 + 1,
            name: name.clone(),
            ..Category::default()
        })
        .collect();
    let dataset = Dataset {
        images,
        annotations,
        categories,
        ..Dataset::default()
    };
    write_json(&dir.join(ANNOTATIONS_FILE), &plain_coco(&dataset), false)?;
    Ok(SplitCounts { images: n, objects })
}

/// The annotations of one canvas (ids set later), category `class + 1`, masks as
/// compressed RLE.
fn canvas_annotations(canvas: &Canvas, image_id: u64) -> Vec<Annotation> {
    let s = canvas.size;
    (0..canvas.objects.len())
        .map(|k| {
            let o = &canvas.objects[k];
            let mask = canvas.mask(k);
            // hotcoco (like pycocotools) takes column-major masks: pixel (x, y) at y + h * x
            let column_major: Vec<u8> = (0..s * s).map(|j| mask[(j % s) * s + j / s]).collect();
            let rle = encode(&column_major, s as u32, s as u32).expect("mask has size^2 pixels");
            let [x, y, w, h] = o.bbox.map(f64::from);
            Annotation {
                image_id,
                category_id: o.class as u64 + 1,
                bbox: Some([x, y, w, h]),
                area: Some(f64::from(o.area)),
                segmentation: Some(Segmentation::CompressedRle {
                    size: [s as u32, s as u32],
                    counts: rle_to_string(&rle),
                }),
                iscrowd: false,
                ..Annotation::default()
            }
        })
        .collect()
}

/// `dataset` as JSON without the optional fields hotcoco writes as `null` (`score`,
/// `keypoints`, `license`, ...) and LVIS's empty per-image category lists, and with `iscrowd`
/// as COCO's 0 / 1 (hotcoco writes a bool), so the file reads as plain COCO ground truth.
fn plain_coco(dataset: &Dataset) -> serde_json::Value {
    let mut value = serde_json::to_value(dataset).expect("COCO types serialize to JSON");
    if let Some(top) = value.as_object_mut() {
        top.retain(|_, v| !v.is_null());
        for record in top.values_mut().filter_map(|v| v.as_array_mut()).flatten() {
            if let Some(fields) = record.as_object_mut() {
                if let Some(crowd) = fields.get_mut("iscrowd") {
                    *crowd = serde_json::Value::from(u8::from(crowd.as_bool() == Some(true)));
                }
                fields.retain(|key, v| {
                    let empty_lvis =
                        key.ends_with("category_ids") && v.as_array().is_some_and(|a| a.is_empty());
                    !v.is_null() && !empty_lvis
                });
            }
        }
    }
    value
}
