//! Per-sample augmentation on normalized CHW `f32` images: pad-and-random-crop and horizontal flip.

use rand::Rng;

/// Augmentation settings. Deterministic given the RNG: `apply` draws, in order, the crop offsets
/// `dy`, `dx` (only when `pad_crop > 0`) and then the flip coin (only when `hflip`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Augment {
    /// Pad each side by this many pixels of value `pad_value` (the normalized pixel 0, i.e.
    /// `-mean/std`), then crop back to `H x W` at a uniformly random offset. `0` = off.
    pub pad_crop: usize,
    /// Flip left-right with probability 1/2.
    pub hflip: bool,
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Augment {
            pad_crop: 0,
            hflip: false,
        }
    }

    /// True when [`Augment::apply`] never changes an image.
    pub fn is_identity(&self) -> bool {
        self.pad_crop == 0 && !self.hflip
    }

    /// Augments one image `img` of shape `[c, h, w]` in place. `pad_value[ch]` is the border
    /// value of channel `ch` (missing entries read as 0). Panics if `img.len() != c * h * w`.
    pub fn apply(
        &self,
        img: &mut [f32],
        c: usize,
        h: usize,
        w: usize,
        pad_value: &[f32],
        rng: &mut impl Rng,
    ) {
        assert_eq!(
            img.len(),
            c * h * w,
            "Augment::apply: image length is not c*h*w"
        );
        if self.pad_crop > 0 {
            // i64 (not isize) so that the draw is the same on every platform.
            let p = self.pad_crop.min(1 << 30) as i64;
            let dy = rng.random_range(-p..=p) as isize;
            let dx = rng.random_range(-p..=p) as isize;
            shift(img, c, h, w, dy, dx, pad_value);
        }
        if self.hflip && rng.random_bool(0.5) {
            hflip(img, c, h, w);
        }
    }
}

/// Shifts `img` (`[c, h, w]`) so that `out[ch][y][x] = img[ch][y + dy][x + dx]`, with
/// `pad_value[ch]` where that source lies outside the image. This is the crop at offset
/// `(p + dy, p + dx)` of the image padded by `p` on each side.
pub fn shift(
    img: &mut [f32],
    c: usize,
    h: usize,
    w: usize,
    dy: isize,
    dx: isize,
    pad_value: &[f32],
) {
    if dy == 0 && dx == 0 {
        return;
    }
    let src = img.to_vec();
    for ch in 0..c {
        let pad = pad_value.get(ch).copied().unwrap_or(0.0);
        let plane = &src[ch * h * w..(ch + 1) * h * w];
        let out = &mut img[ch * h * w..(ch + 1) * h * w];
        for y in 0..h {
            let sy = y as isize + dy;
            let row = &mut out[y * w..(y + 1) * w];
            if sy < 0 || sy >= h as isize {
                row.fill(pad);
                continue;
            }
            let src_row = &plane[sy as usize * w..(sy as usize + 1) * w];
            for (x, o) in row.iter_mut().enumerate() {
                let sx = x as isize + dx;
                *o = if sx < 0 || sx >= w as isize {
                    pad
                } else {
                    src_row[sx as usize]
                };
            }
        }
    }
}

/// Flips `img` (`[c, h, w]`) left-right in place.
pub fn hflip(img: &mut [f32], c: usize, h: usize, w: usize) {
    if w == 0 {
        return;
    }
    for row in img[..c * h * w].chunks_exact_mut(w) {
        row.reverse();
    }
}
