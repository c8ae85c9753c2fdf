//! A generated, learnable toy dataset for tests and benchmarks.

use rand::Rng;

use crate::dataset::{numbered_classes, ImageSet};
use crate::seed::{rng, TAG_SYNTH};

/// Background and foreground intensities before noise.
const BACKGROUND: i32 = 20;
const FOREGROUND: i32 = 220;
/// Noise is uniform in `-NOISE..=NOISE`, then clamped to `0..=255`.
const NOISE: i32 = 30;

/// The `(top, left, height, width)` of the bright square of class `k`: the image is split into
/// a `g x g` grid (`g = ceil(sqrt(classes))`) and class `k` lights cell `(k / g, k % g)`
/// (less a 1-pixel margin when cells are at least 3 pixels). Classes are distinct whenever
/// `height, width >= g`.
pub fn class_square(
    k: usize,
    classes: usize,
    height: usize,
    width: usize,
) -> (usize, usize, usize, usize) {
    let mut g = 1;
    while g * g < classes {
        g += 1;
    }
    let (ch, cw) = ((height / g).max(1), (width / g).max(1));
    let top = ((k / g) * ch).min(height.saturating_sub(ch));
    let left = ((k % g) * cw).min(width.saturating_sub(cw));
    let (my, mx) = (usize::from(ch >= 3), usize::from(cw >= 3));
    (top + my, left + mx, ch - 2 * my, cw - 2 * mx)
}

/// `n` images of `[channels, height, width]` with `classes` classes (label of image `i` is
/// `i % classes`, so classes are balanced); each class is a bright square at a class-dependent
/// position (see [`class_square`]) on a dark background, plus seeded uniform noise on every
/// pixel. Mean/std are 0.5/0.5 per channel. `classes == 0` is treated as 1. Same arguments ->
/// same set.
pub fn synthetic(
    n: usize,
    channels: usize,
    height: usize,
    width: usize,
    classes: usize,
    seed: u64,
) -> ImageSet {
    let classes = classes.max(1);
    let plane = height * width;
    let mut rng = rng(&[TAG_SYNTH, seed]);
    let mut pixels = vec![0u8; n * channels * plane];
    let mut labels = Vec::with_capacity(n);
    let mut pattern = vec![BACKGROUND; plane];
    for i in 0..n {
        let k = i % classes;
        labels.push(k as u32);
        pattern.fill(BACKGROUND);
        let (top, left, sh, sw) = class_square(k, classes, height, width);
        for y in top..(top + sh).min(height) {
            pattern[y * width + left..y * width + (left + sw).min(width)].fill(FOREGROUND);
        }
        let img = &mut pixels[i * channels * plane..(i + 1) * channels * plane];
        for (j, p) in img.iter_mut().enumerate() {
            let v = pattern[j % plane] + rng.random_range(-NOISE..=NOISE);
            *p = v.clamp(0, 255) as u8;
        }
    }
    ImageSet {
        pixels,
        labels,
        len: n,
        channels,
        height,
        width,
        num_classes: classes,
        class_names: numbered_classes(classes),
        mean: vec![0.5; channels],
        std: vec![0.5; channels],
    }
}
