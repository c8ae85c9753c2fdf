//! The files of dense data sets: a split's images (one size, one channel count), class-index
//! maps (8-bit gray PNG), gray PNGs written out.

use std::path::{Path, PathBuf};

use image::{DynamicImage, ExtendedColorType, ImageFormat};
use rayon::prelude::*;

use crate::dataset::ImageSet;
use crate::dense::{unlabelled_images, IGNORE};
use crate::error::DataError;
use crate::image_folder::{decode, to_chw};

/// One decoded image: channels, width, height, `[C, H, W]` bytes.
type Decoded = (usize, u32, u32, Vec<u8>);

/// Decodes `files` (in parallel, in order) into an [`ImageSet`] `[N, C, H, W]`: gray images
/// give 1 channel, colour ones 3 (alpha dropped). Every file must have the size and channel
/// count of the first; the error names the first file that does not.
pub(crate) fn load_images(files: &[PathBuf]) -> Result<ImageSet, DataError> {
    let decoded: Vec<Result<Decoded, DataError>> = files
        .par_iter()
        .map(|f| {
            let img = decode(f)?;
            let channels = if img.color().has_color() { 3 } else { 1 };
            let (w, h) = (img.width(), img.height());
            Ok((channels, w, h, to_chw(&img, channels, w, h)))
        })
        .collect();
    let mut first: Option<(usize, u32, u32)> = None;
    let mut pixels = Vec::new();
    for (file, d) in files.iter().zip(decoded) {
        let (c, w, h, chw) = d?;
        match first {
            None => first = Some((c, w, h)),
            Some((c0, w0, h0)) if (c0, w0, h0) != (c, w, h) => {
                return Err(DataError::invalid(
                    file,
                    format!(
                        "{c}-channel {w}x{h} image, but {} is {c0}-channel {w0}x{h0}: the images of a split must share one size and channel count",
                        files[0].display()
                    ),
                ));
            }
            Some(_) => {}
        }
        pixels.extend_from_slice(&chw);
    }
    let (c, w, h) = first.unwrap_or((1, 0, 0));
    Ok(unlabelled_images(
        pixels,
        files.len(),
        c,
        h as usize,
        w as usize,
    ))
}

/// Reads the class-index map `path` of the image `of`: an 8-bit gray PNG of `width x height`
/// whose pixels are `0..=classes` or [`IGNORE`]. Returns it row-major.
pub(crate) fn read_class_map(
    path: &Path,
    of: &Path,
    (width, height): (usize, usize),
    classes: usize,
) -> Result<Vec<u8>, DataError> {
    let img = decode(path)?;
    let DynamicImage::ImageLuma8(map) = img else {
        return Err(DataError::invalid(
            path,
            format!(
                "a class map must be an 8-bit gray PNG (one class index per pixel), this one is {:?}",
                img.color()
            ),
        ));
    };
    let (w, h) = (map.width() as usize, map.height() as usize);
    if (w, h) != (width, height) {
        return Err(DataError::invalid(
            path,
            format!(
                "map is {w}x{h} but its image {} is {width}x{height}",
                of.display()
            ),
        ));
    }
    let map = map.into_raw();
    if let Some(p) = map
        .iter()
        .position(|&v| v != IGNORE && usize::from(v) > classes)
    {
        return Err(DataError::entry(
            path,
            format!("pixel ({}, {})", p % w, p / w),
            format!(
                "class index {} is not a class: 0 (background) to {classes}, or {IGNORE} (ignore)",
                map[p]
            ),
        ));
    }
    Ok(map)
}

/// Writes `pixels` (row-major `[height, width]`) as an 8-bit gray PNG.
pub(crate) fn write_gray_png(
    path: &Path,
    pixels: &[u8],
    (width, height): (usize, usize),
) -> Result<(), DataError> {
    image::save_buffer_with_format(
        path,
        pixels,
        width as u32,
        height as u32,
        ExtendedColorType::L8,
        ImageFormat::Png,
    )
    .map_err(|e| DataError::write(path, std::io::Error::other(e)))
}

/// Writes `value` as JSON (pretty when `pretty`).
pub(crate) fn write_json(
    path: &Path,
    value: &impl serde::Serialize,
    pretty: bool,
) -> Result<(), DataError> {
    let bytes = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    let bytes = bytes.map_err(|e| DataError::write(path, std::io::Error::other(e)))?;
    std::fs::write(path, bytes).map_err(|e| DataError::write(path, e))
}
