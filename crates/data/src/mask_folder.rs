//! Semantic-segmentation folders users bring: images with one class-index mask each.
//!
//! ```text
//! DIR/classes.txt                      optional: one object-class name per line (no background)
//! DIR/<split>/images/*.png|jpg|jpeg    the images (one size, one channel count)
//! DIR/<split>/masks/<stem>.png         8-bit gray: 0 background, k + 1 class k, 255 ignore
//! ```
//!
//! Without `classes.txt` the classes are `1..=K`, named by their mask value, where `K` is the
//! largest mask value (other than 255) in any split of `DIR` (train, test or val), so both
//! splits agree; write `classes.txt` to name them and to skip that scan.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataset::Split;
use crate::dense::{DenseSet, IGNORE};
use crate::dense_files::{load_images, read_class_map};
use crate::error::DataError;
use crate::image_folder::{decode, split_dir, EXTENSIONS};

/// The class-name file of a mask folder.
pub const CLASSES_FILE: &str = "classes.txt";

/// Opens one split of a mask folder (see the module docs) as a [`DenseSet`] with semantic
/// maps and no objects; images are sorted by file name, ids `1..=N`, category ids `1..=K`.
/// Errors name the file: a missing mask, a mask of another size or not 8-bit gray, a class
/// index above the number of classes (other than 255).
pub fn open_mask_folder(dir: &Path, split: Split) -> Result<DenseSet, DataError> {
    let d = split_dir(dir, split)?;
    let images_dir = d.join("images");
    let files = image_files(&images_dir)?;
    let classes = match read_classes(&dir.join(CLASSES_FILE))? {
        Some(names) => names,
        None => (1..=largest_mask_value(dir)?)
            .map(|k| k.to_string())
            .collect(),
    };
    let images = load_images(&files)?;
    let size = (images.width, images.height);
    let mut maps = Vec::with_capacity(files.len() * size.0 * size.1);
    for f in &files {
        let mask = mask_path(&d, f);
        if !mask.is_file() {
            return Err(DataError::Missing {
                path: mask,
                note: format!(" (the mask of {})", f.display()),
            });
        }
        maps.extend(read_class_map(&mask, f, size, classes.len())?);
    }
    let n = files.len();
    Ok(DenseSet {
        images: Arc::new(images),
        ids: (1..=n as u64).collect(),
        file_names: files.iter().map(|f| file_name(f)).collect(),
        objects: vec![Vec::new(); n],
        category_ids: (1..=classes.len() as u64).collect(),
        classes,
        semantic: Some(maps),
    })
}

fn file_name(f: &Path) -> String {
    f.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `split/masks/<stem of image>.png`.
fn mask_path(split: &Path, image: &Path) -> PathBuf {
    let stem = image.file_stem().unwrap_or_default();
    split.join("masks").join(stem).with_extension("png")
}

/// Sorted `.png` / `.jpg` / `.jpeg` files of `dir`; an error when there are none.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if path.is_file() && ext.is_some_and(|e| EXTENSIONS.contains(&e.as_str())) {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(DataError::invalid(dir, "holds no .png/.jpg/.jpeg images"));
    }
    files.sort();
    Ok(files)
}

/// The names of `classes.txt` (trimmed; trailing blank lines ignored), `None` when absent.
fn read_classes(path: &Path) -> Result<Option<Vec<String>>, DataError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, e)),
    };
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while names.last().is_some_and(String::is_empty) {
        names.pop();
    }
    for (i, name) in names.iter().enumerate() {
        let line = format!("line {}", i + 1);
        if name.is_empty() {
            return Err(DataError::entry(path, line, "empty class name"));
        }
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            let message = format!("class `{name}` repeats line {}", j + 1);
            return Err(DataError::entry(path, line, message));
        }
    }
    if names.is_empty() {
        return Err(DataError::invalid(path, "names no class"));
    }
    Ok(Some(names))
}

/// The largest mask value other than 255 over the masks of every split of `dir`; an error
/// when there is none above 0.
fn largest_mask_value(dir: &Path) -> Result<usize, DataError> {
    let mut largest = 0u8;
    for split in ["train", "test", "val"] {
        let masks = dir.join(split).join("masks");
        if !masks.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&masks).map_err(|e| DataError::io(&masks, e))? {
            let path = entry.map_err(|e| DataError::io(&masks, e))?.path();
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            {
                let map = decode(&path)?.to_luma8();
                let top = map.iter().copied().filter(|&v| v != IGNORE).max();
                largest = largest.max(top.unwrap_or(0));
            }
        }
    }
    if largest == 0 {
        return Err(DataError::invalid(
            dir,
            format!("no mask has a class pixel (all 0 or 255) and there is no {CLASSES_FILE}"),
        ));
    }
    Ok(usize::from(largest))
}
