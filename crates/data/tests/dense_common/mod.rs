//! Fixtures of the dense-data tests: generated digits (never real MNIST) and small PNGs.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

use image::{ExtendedColorType, ImageFormat};
use rand::Rng;
use sweet_data::dataset::ImageSet;

/// Train digits are drawn with strokes of this value, test digits with [`TEST_INK`]: a canvas
/// made from test digits has pixels above `TRAIN_INK`, one made from train digits has none
/// (bilinear scaling never exceeds its input's maximum).
pub const TRAIN_INK: u8 = 200;
pub const TEST_INK: u8 = 250;

/// `n` 28x28 gray "digits" (label `i % 10`): a seeded filled rectangle of `ink` with a
/// half-bright rim (pixels outside the `> 127` mask) on black.
pub fn digits(n: usize, ink: u8, seed: u64) -> ImageSet {
    let mut rng = sweet_data::seed::rng(&[99, seed]);
    let mut pixels = vec![0u8; n * 28 * 28];
    for i in 0..n {
        let img = &mut pixels[i * 784..(i + 1) * 784];
        let (w, h) = (rng.random_range(8..=20), rng.random_range(10..=22));
        let (x0, y0) = ((28 - w) / 2, (28 - h) / 2);
        for y in y0 - 1..y0 + h + 1 {
            for x in x0 - 1..x0 + w + 1 {
                let inside = (x0..x0 + w).contains(&x) && (y0..y0 + h).contains(&y);
                img[y * 28 + x] = if inside { ink } else { ink / 2 };
            }
        }
    }
    ImageSet {
        pixels,
        labels: (0..n).map(|i| (i % 10) as u32).collect(),
        len: n,
        channels: 1,
        height: 28,
        width: 28,
        num_classes: 10,
        class_names: (0..10).map(|k| k.to_string()).collect(),
        mean: vec![0.1307],
        std: vec![0.3081],
    }
}

/// Writes a gray (`L8`) or RGB (`Rgb8`, interleaved) PNG, creating its folder.
pub fn png(path: &Path, w: u32, h: u32, data: &[u8], color: ExtendedColorType) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::save_buffer_with_format(path, data, w, h, color, ImageFormat::Png).unwrap();
}

pub fn gray(path: &Path, w: u32, h: u32, data: &[u8]) {
    png(path, w, h, data, ExtendedColorType::L8);
}

/// Every file under `dir` (recursive), sorted, as (relative path, bytes).
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Decodes an 8-bit gray PNG, row-major.
pub fn read_gray(path: &Path) -> Vec<u8> {
    image::open(path).unwrap().into_luma8().into_raw()
}
