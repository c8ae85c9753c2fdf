//! Reading COCO detection / instance JSON with its images (and optional semantic maps) into a
//! [`DenseSet`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotcoco::mask;
use hotcoco::types::{placeholder_cat_name, Annotation, Category, Dataset, Segmentation};

use super::{ANNOTATIONS_FILE, IMAGES_DIR, SEMANTIC_DIR};
use crate::dataset::Split;
use crate::dense::{DenseSet, Object};
use crate::dense_files::{load_images, read_class_map};
use crate::error::DataError;
use crate::image_folder::split_dir;

/// How far (pixels) a box may stick out of its image before it is an error; within this it is
/// clipped to the image (other tools round boxes outwards).
pub const EDGE_TOLERANCE: f64 = 1.0;

/// Opens one split of the layout [`super::write_canvas`] writes (any data in that layout, not
/// only canvases): `dir/<split>/images/`, `dir/<split>/annotations.json` and, when the folder
/// exists, `dir/<split>/semantic/`. The test split falls back to `dir/val`.
pub fn open_dense(dir: &Path, split: Split) -> Result<DenseSet, DataError> {
    let d = split_dir(dir, split)?;
    let semantic = d.join(SEMANTIC_DIR);
    let semantic = semantic.is_dir().then_some(semantic.as_path());
    open_coco(&d.join(IMAGES_DIR), &d.join(ANNOTATIONS_FILE), semantic)
}

/// Opens a COCO detection / instance-segmentation split: the JSON `annotations`, the images it
/// lists under `images_dir` (by `file_name`) and, with `semantic_dir`, one semantic map per
/// image at `semantic_dir/<file_name with .png>` (8-bit gray, 0 background, `k + 1` class
/// `k`, 255 ignore).
///
/// - Images keep the file's order. All must exist and share one size and channel count (gray
///   -> 1 channel, colour -> 3; alpha dropped); normalization as [`crate::image_folder`].
///   An entry's `width` / `height`, when given, must match its file.
/// - Classes are the categories sorted by id (a nameless one is `cat_<id>`).
/// - An annotation's box must be finite, of positive width and height and inside its image
///   (up to [`EDGE_TOLERANCE`], then clipped). Without `bbox`, the box and area come from the
///   `segmentation` (polygons or RLE, through hotcoco); without either it is an error.
///   `area` missing: the mask's pixel count where the box came from a mask, else `w * h`.
/// - `iscrowd: 1` annotations are checked for their image and category, then left out of the
///   objects (a crowd region is no object to detect; evaluators that honour crowds should
///   read the JSON themselves).
///
/// Errors name the file and the entry, e.g. `annotations.json: annotation 17 (index 16):
/// bbox [3, 4, -2, 5] has a non-positive width`.
pub fn open_coco(
    images_dir: &Path,
    annotations: &Path,
    semantic_dir: Option<&Path>,
) -> Result<DenseSet, DataError> {
    let json = annotations;
    let bytes = std::fs::read(json).map_err(|e| DataError::io(json, e))?;
    let dataset: Dataset = serde_json::from_slice(&bytes).map_err(|e| DataError::Json {
        path: json.into(),
        message: e.to_string(),
    })?;
    let (classes, category_ids) = categories(json, &dataset.categories)?;
    let class_of: HashMap<u64, usize> = category_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| (id, k))
        .collect();
    if dataset.images.is_empty() {
        return Err(DataError::invalid(json, "lists no images"));
    }
    let mut index_of: HashMap<u64, usize> = HashMap::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for (i, im) in dataset.images.iter().enumerate() {
        let entry = format!("image {} (index {i})", im.id);
        if let Some(first) = index_of.insert(im.id, i) {
            let message = format!("duplicate image id {} (also at index {first})", im.id);
            return Err(DataError::entry(json, entry, message));
        }
        if im.file_name.is_empty() {
            return Err(DataError::entry(json, entry, "has no file_name"));
        }
        files.push(images_dir.join(&im.file_name));
    }
    let images = load_images(&files)?;
    let (w, h) = (images.width, images.height);
    for (i, im) in dataset.images.iter().enumerate() {
        let given = (im.width as usize, im.height as usize);
        if given != (0, 0) && given != (w, h) {
            let message = format!(
                "says {}x{} but {} is {w}x{h}",
                im.width,
                im.height,
                files[i].display()
            );
            return Err(DataError::entry(
                json,
                format!("image {} (index {i})", im.id),
                message,
            ));
        }
    }
    let mut objects = vec![Vec::new(); dataset.images.len()];
    for (i, a) in dataset.annotations.iter().enumerate() {
        let entry = || format!("annotation {} (index {i})", a.id);
        let bad = |message: String| DataError::entry(json, entry(), message);
        let image = *index_of
            .get(&a.image_id)
            .ok_or_else(|| bad(format!("image_id {} is not among the images", a.image_id)))?;
        let class = *class_of.get(&a.category_id).ok_or_else(|| {
            bad(format!(
                "category_id {} is not among the categories",
                a.category_id
            ))
        })?;
        if a.iscrowd {
            continue;
        }
        let (bbox, area) = object_box(a, w, h).map_err(bad)?;
        objects[image].push(Object { class, bbox, area });
    }
    let semantic = match semantic_dir {
        None => None,
        Some(dir) => {
            let mut maps = Vec::with_capacity(files.len() * w * h);
            for (im, file) in dataset.images.iter().zip(&files) {
                let path = dir.join(Path::new(&im.file_name).with_extension("png"));
                maps.extend(read_class_map(&path, file, (w, h), classes.len())?);
            }
            Some(maps)
        }
    };
    Ok(DenseSet {
        images: Arc::new(images),
        ids: dataset.images.iter().map(|im| im.id).collect(),
        file_names: dataset
            .images
            .iter()
            .map(|im| im.file_name.clone())
            .collect(),
        objects,
        classes,
        category_ids,
        semantic,
    })
}

/// Class names and category ids, sorted by id; an error on a repeated id.
fn categories(json: &Path, cats: &[Category]) -> Result<(Vec<String>, Vec<u64>), DataError> {
    let mut order: Vec<usize> = (0..cats.len()).collect();
    order.sort_by_key(|&i| (cats[i].id, i));
    for pair in order.windows(2) {
        let (a, b) = (&cats[pair[0]], &cats[pair[1]]);
        if a.id == b.id {
            let entry = format!("category {} (index {})", b.id, pair[1]);
            let message = format!("duplicate category id (also at index {})", pair[0]);
            return Err(DataError::entry(json, entry, message));
        }
    }
    let names = order
        .iter()
        .map(|&i| match cats[i].name.as_str() {
            "" => placeholder_cat_name(cats[i].id),
            name => name.to_string(),
        })
        .collect();
    Ok((names, order.iter().map(|&i| cats[i].id).collect()))
}

/// Formats a box as `[x, y, w, h]` (integers without a fraction).
fn show(b: &[f64; 4]) -> String {
    format!("[{}, {}, {}, {}]", b[0], b[1], b[2], b[3])
}

/// The checked, clipped box and the area of an annotation on a `w x h` image.
fn object_box(a: &Annotation, w: usize, h: usize) -> Result<([f32; 4], f32), String> {
    let (wf, hf) = (w as f64, h as f64);
    let (b, mask_area) = match (&a.bbox, &a.segmentation) {
        (Some(b), _) => (*b, None),
        (None, Some(seg)) => {
            let (b, area) = mask_box(seg, w as u32, h as u32)?;
            (b, Some(area))
        }
        (None, None) => return Err("has no bbox (and no segmentation to take one from)".into()),
    };
    let text = show(&b);
    if b.iter().any(|v| !v.is_finite()) {
        return Err(format!("bbox {text} is not finite"));
    }
    if b[2] <= 0.0 {
        return Err(format!("bbox {text} has a non-positive width"));
    }
    if b[3] <= 0.0 {
        return Err(format!("bbox {text} has a non-positive height"));
    }
    let t = EDGE_TOLERANCE;
    let (x0, y0) = (b[0].max(0.0), b[1].max(0.0));
    let (x1, y1) = ((b[0] + b[2]).min(wf), (b[1] + b[3]).min(hf));
    if b[0] < -t
        || b[1] < -t
        || b[0] + b[2] > wf + t
        || b[1] + b[3] > hf + t
        || x1 <= x0
        || y1 <= y0
    {
        return Err(format!("bbox {text} lies outside the {w}x{h} image"));
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let area = match (a.area, mask_area) {
        (Some(v), _) if !v.is_finite() || v < 0.0 => {
            return Err(format!("area {v} is not a non-negative number"));
        }
        (Some(v), _) => v,
        (None, Some(m)) => m,
        (None, None) => cw * ch,
    };
    Ok(([x0 as f32, y0 as f32, cw as f32, ch as f32], area as f32))
}

/// The box and pixel count of a segmentation on a `w x h` image.
fn mask_box(seg: &Segmentation, w: u32, h: u32) -> Result<([f64; 4], f64), String> {
    let rle = seg
        .to_rle(h, w)
        .map_err(|e| format!("has no bbox, and its segmentation does not decode: {e}"))?;
    if (rle.h, rle.w) != (h, w) {
        return Err(format!(
            "has no bbox, and its segmentation is {}x{} (h x w) on a {h}x{w} image",
            rle.h, rle.w
        ));
    }
    let area = mask::area(&rle);
    if area == 0 {
        return Err("has no bbox, and its segmentation is empty".into());
    }
    Ok((mask::to_bbox(&rle), area as f64))
}
