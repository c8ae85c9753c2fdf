//! MNIST-canvas: detection, instance and semantic segmentation data made from MNIST digits
//! (no detection or segmentation data ships in any package these machines can reach).
//!
//! A canvas is an `S x S` gray image (black background) with 1 to `max_digits` digits pasted
//! on it (the count uniform), each scaled (bilinear) to a random square side in
//! `min_digit..=max_digit` at a random position fully inside the canvas. Overlapping pixels
//! combine by pixel-wise max. A digit's mask is its scaled pixels `> 127`.
//!
//! Pastes are drawn in order. A paste whose mask would cover more than `max_overlap` of what
//! is still visible of an earlier digit's mask is rejected: its position is re-drawn up to
//! `retries` times, then the digit is dropped. So every kept digit keeps at least
//! `(1 - max_overlap)^(later pastes)` of its mask (51% with the defaults). A digit whose scaled
//! mask is empty (a faint digit) is dropped before it is pasted, and one left with no visible
//! pixel (possible only with `max_overlap >= 1`) is dropped from the annotations.
//!
//! Where masks overlap **the later paste wins**: the instance map holds, per pixel, the
//! 1-based index of the last object whose mask covers it (0 = none); an object's visible
//! mask, box (`[x0, y0, x1 - x0 + 1, y1 - y0 + 1]`, the tight bounds of the visible mask) and
//! area (its pixel count) come from that map, and the semantic map is `class + 1` there
//! (0 background).
//!
//! Canvas `i` of a split depends only on the digits, the config and `(seed, split, i)`: sets
//! are byte-identical for any thread count. Train canvases must be made from the MNIST train
//! split and test canvases from the test split ([`crate::coco::write_canvas`] does so).

use image::imageops::{self, FilterType};
use image::GrayImage;
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dataset::{ImageSet, Split};
use crate::seed::{rng, TAG_CANVAS};

/// A scaled digit pixel above this is in the digit's mask.
pub const MASK_THRESHOLD: u8 = 127;

/// Settings of a canvas set; written to `canvas.json` by [`crate::coco::write_canvas`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanvasConfig {
    /// Canvas side `S` in pixels (at least `max_digit`).
    pub size: usize,
    /// Smallest and largest side of a scaled digit (`1 <= min_digit <= max_digit`).
    pub min_digit: usize,
    pub max_digit: usize,
    /// Digits drawn per canvas: uniform in `1..=max_digits` (at most 254).
    pub max_digits: usize,
    /// Largest fraction of an earlier digit's visible mask a paste may cover (0..=1).
    pub max_overlap: f64,
    /// Position re-draws for a rejected paste before the digit is dropped.
    pub retries: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Canvases in the train and test splits.
    pub train: usize,
    pub test: usize,
}

impl Default for CanvasConfig {
    /// DATA.md's recipe: 64 px canvases, digits 16-40 px, 1-4 per canvas, 20% overlap,
    /// 10 re-draws, seed 0, 10,000 train and 2,000 test canvases.
    fn default() -> Self {
        CanvasConfig {
            size: 64,
            min_digit: 16,
            max_digit: 40,
            max_digits: 4,
            max_overlap: 0.2,
            retries: 10,
            seed: 0,
            train: 10_000,
            test: 2_000,
        }
    }
}

impl CanvasConfig {
    /// Canvases of `split`.
    pub fn count(&self, split: Split) -> usize {
        match split {
            Split::Train => self.train,
            Split::Test => self.test,
        }
    }

    /// Checks the settings; the message names the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_digit == 0 || self.min_digit > self.max_digit {
            return Err(format!(
                "digit sizes must satisfy 1 <= min_digit <= max_digit, got {}..{}",
                self.min_digit, self.max_digit
            ));
        }
        if self.size < self.max_digit {
            return Err(format!(
                "canvas size {} is below the largest digit size {} (use a size of at least {})",
                self.size, self.max_digit, self.max_digit
            ));
        }
        if self.max_digits == 0 || self.max_digits > 254 {
            return Err(format!(
                "max_digits must be in 1..=254, got {}",
                self.max_digits
            ));
        }
        if !(0.0..=1.0).contains(&self.max_overlap) {
            return Err(format!(
                "max_overlap must be in 0..=1, got {}",
                self.max_overlap
            ));
        }
        Ok(())
    }
}

/// One visible digit of a canvas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanvasObject {
    /// The digit's label (0..=9 for MNIST).
    pub class: usize,
    /// Tight bounds of the visible mask, `[x0, y0, x1 - x0 + 1, y1 - y0 + 1]`.
    pub bbox: [u32; 4],
    /// Visible mask pixels.
    pub area: u32,
    /// Index of the source digit in its split's [`ImageSet`].
    pub digit: usize,
    /// Where the scaled digit was pasted: `[x, y, side]` of its square.
    pub paste: [u32; 3],
}

/// One generated canvas. Maps are row-major `[size, size]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    pub size: usize,
    /// Gray pixels.
    pub pixels: Vec<u8>,
    /// Instance map: `k + 1` where object `k`'s visible mask is, 0 elsewhere.
    pub instances: Vec<u8>,
    /// Objects in paste order.
    pub objects: Vec<CanvasObject>,
}

impl Canvas {
    /// The visible mask of object `k`, row-major `[size, size]`, 1 inside.
    pub fn mask(&self, k: usize) -> Vec<u8> {
        let id = (k + 1) as u8;
        self.instances.iter().map(|&v| u8::from(v == id)).collect()
    }

    /// The semantic map: 0 background, `class + 1` on each object's visible mask.
    pub fn semantic(&self) -> Vec<u8> {
        self.instances
            .iter()
            .map(|&v| match v {
                0 => 0,
                k => self.objects[k as usize - 1].class as u8 + 1,
            })
            .collect()
    }
}

/// Makes the canvases of one split from that split's digits.
pub struct CanvasMaker<'a> {
    digits: &'a ImageSet,
    split: Split,
    config: CanvasConfig,
}

impl<'a> CanvasMaker<'a> {
    /// `digits` must be 1-channel, non-empty, labels `< 255`; `config` must pass
    /// [`CanvasConfig::validate`]. The message says what is wrong.
    pub fn new(digits: &'a ImageSet, split: Split, config: &CanvasConfig) -> Result<Self, String> {
        config.validate()?;
        if digits.channels != 1 || digits.len == 0 {
            return Err(format!(
                "the {split} digits must be a non-empty 1-channel set, got {} images of {} channels",
                digits.len, digits.channels
            ));
        }
        if digits.num_classes > 254 {
            return Err(format!(
                "at most 254 digit classes, got {}",
                digits.num_classes
            ));
        }
        Ok(CanvasMaker {
            digits,
            split,
            config: config.clone(),
        })
    }

    /// Canvas `index` of the split.
    pub fn make(&self, index: usize) -> Canvas {
        let cfg = &self.config;
        let s = cfg.size;
        let split_tag = match self.split {
            Split::Train => 0,
            Split::Test => 1,
        };
        let mut rng = rng(&[TAG_CANVAS, cfg.seed, split_tag, index as u64]);
        let mut pixels = vec![0u8; s * s];
        let mut instances = vec![0u8; s * s];
        let mut kept: Vec<Pasted> = Vec::new();
        let mut visible: Vec<u32> = Vec::new();
        let count = rng.random_range(1..=cfg.max_digits);
        for _ in 0..count {
            let digit = rng.random_range(0..self.digits.len);
            let side = rng.random_range(cfg.min_digit..=cfg.max_digit);
            let scaled = self.scaled(digit, side);
            if !scaled.iter().any(|&p| p > MASK_THRESHOLD) {
                continue;
            }
            let mut spot = None;
            for _ in 0..=cfg.retries {
                let x = rng.random_range(0..=s - side);
                let y = rng.random_range(0..=s - side);
                if self.fits(&scaled, side, (x, y), &instances, &visible) {
                    spot = Some((x, y));
                    break;
                }
            }
            let Some((x, y)) = spot else { continue };
            let id = kept.len() as u8 + 1;
            visible.push(0);
            for dy in 0..side {
                for dx in 0..side {
                    let v = scaled[dy * side + dx];
                    let p = (y + dy) * s + x + dx;
                    pixels[p] = pixels[p].max(v);
                    if v > MASK_THRESHOLD {
                        if instances[p] > 0 {
                            visible[instances[p] as usize - 1] -= 1;
                        }
                        instances[p] = id;
                        visible[id as usize - 1] += 1;
                    }
                }
            }
            kept.push(Pasted {
                class: self.digits.labels[digit] as usize,
                digit,
                paste: [x as u32, y as u32, side as u32],
            });
        }
        finish(s, pixels, instances, &kept, &visible)
    }

    /// Canvases `range` of the split, made in parallel (same result for any thread count).
    pub fn make_range(&self, range: std::ops::Range<usize>) -> Vec<Canvas> {
        range.into_par_iter().map(|i| self.make(i)).collect()
    }

    /// Digit `i` scaled (bilinear) to `side x side`, row-major.
    fn scaled(&self, i: usize, side: usize) -> Vec<u8> {
        let (w, h) = (self.digits.width as u32, self.digits.height as u32);
        let img = GrayImage::from_raw(w, h, self.digits.image_u8(i).to_vec())
            .expect("an ImageSet image has width * height bytes");
        imageops::resize(&img, side as u32, side as u32, FilterType::Triangle).into_raw()
    }

    /// Whether the mask of `scaled` at `(x, y)` covers at most `max_overlap` of every earlier
    /// object's visible mask.
    fn fits(
        &self,
        scaled: &[u8],
        side: usize,
        (x, y): (usize, usize),
        instances: &[u8],
        visible: &[u32],
    ) -> bool {
        let s = self.config.size;
        let mut covered = vec![0u32; visible.len()];
        for dy in 0..side {
            for dx in 0..side {
                let under = instances[(y + dy) * s + x + dx];
                if under > 0 && scaled[dy * side + dx] > MASK_THRESHOLD {
                    covered[under as usize - 1] += 1;
                }
            }
        }
        covered
            .iter()
            .zip(visible)
            .all(|(&c, &v)| c as f64 <= self.config.max_overlap * v as f64)
    }
}

/// A digit on the canvas, before its box is known.
struct Pasted {
    class: usize,
    digit: usize,
    paste: [u32; 3],
}

/// Drops objects with no visible pixel (renumbering the instance map) and computes boxes.
fn finish(
    s: usize,
    pixels: Vec<u8>,
    mut instances: Vec<u8>,
    kept: &[Pasted],
    visible: &[u32],
) -> Canvas {
    let mut renumber = vec![0u8; kept.len() + 1];
    let mut next = 0u8;
    for (k, &v) in visible.iter().enumerate() {
        if v > 0 {
            next += 1;
            renumber[k + 1] = next;
        }
    }
    // [x0, y0, x1, y1] per kept object
    let mut bounds = vec![[u32::MAX, u32::MAX, 0, 0]; next as usize];
    for (p, v) in instances.iter_mut().enumerate() {
        *v = renumber[*v as usize];
        if *v > 0 {
            let b = &mut bounds[*v as usize - 1];
            let (x, y) = ((p % s) as u32, (p / s) as u32);
            *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    let objects = kept
        .iter()
        .zip(visible)
        .filter(|(_, &v)| v > 0)
        .zip(&bounds)
        .map(|((p, &area), b)| CanvasObject {
            class: p.class,
            bbox: [b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1],
            area,
            digit: p.digit,
            paste: p.paste,
        })
        .collect();
    Canvas {
        size: s,
        pixels,
        instances,
        objects,
    }
}
