//! CenterNet's detection head output ("Objects as Points", Zhou et al. 2019): per class a
//! centre heatmap, and at each centre the box size and the sub-cell offset of the centre.
//!
//! The head map has `K + 4` channels on a grid of stride `r` pixels: channels `0..K` are the
//! heatmap logits of the `K` classes, `K, K + 1` the box width and height in map cells, `K + 2,
//! K + 3` the offset of the true centre from its cell's corner (`[0, 1)`).
//!
//! - [`targets`]: each object's centre `c = (x + w / 2, y + h / 2) / r` puts a Gaussian on
//!   its class's heatmap at the cell `floor(c)` (radius from CenterNet's `gaussian_radius`
//!   with overlap 0.7, sigma = diameter / 6, overlapping objects' Gaussians combined by max),
//!   and size / offset targets at that cell.
//! - [`loss`]: the penalty-reduced focal loss on the heatmaps (alpha 2, beta 4, normalized by
//!   the number of objects) + 0.1 x L1 on sizes + 1 x L1 on offsets at the centre cells
//!   (CenterNet's weights). The log-probabilities come from `log_sigmoid`, stable without
//!   CenterNet's clamping of the sigmoid to `[1e-4, 1 - 1e-4]`.
//! - [`decode`]: local maxima of the heatmaps (a cell at least as high as its 8 neighbours,
//!   CenterNet's 3x3 max-pool test), the `top_k` highest as boxes.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use sweet_data::Object;

use crate::eval::Detection;

/// CenterNet's minimum IoU of a box whose corners move by the Gaussian radius.
pub const MIN_OVERLAP: f32 = 0.7;
/// CenterNet's loss weights of the size and offset terms.
pub const SIZE_WEIGHT: f64 = 0.1;
pub const OFFSET_WEIGHT: f64 = 1.0;
/// CenterNet's initial bias of the heatmap logits: a prior of 0.1 (`-ln(9)`).
pub const HEAT_PRIOR_BIAS: f32 = -2.19;

/// Channels of the head map for `classes` object classes.
pub fn channels(classes: usize) -> usize {
    classes + 4
}

/// CenterNet's `gaussian_radius((h, w), min_overlap)`: the smallest of the three radii at which
/// a box shifted at its corners keeps IoU `min_overlap` with the true one (the reference's
/// formula, kept as published).
pub fn gaussian_radius(h: f32, w: f32, min_overlap: f32) -> f32 {
    let r1 = {
        let (b, c) = (h + w, w * h * (1.0 - min_overlap) / (1.0 + min_overlap));
        (b + (b * b - 4.0 * c).sqrt()) / 2.0
    };
    let r2 = {
        let (a, b, c) = (4.0, 2.0 * (h + w), (1.0 - min_overlap) * w * h);
        (b + (b * b - 4.0 * a * c).sqrt()) / 2.0
    };
    let r3 = {
        let (a, b, c) = (
            4.0 * min_overlap,
            -2.0 * min_overlap * (h + w),
            (min_overlap - 1.0) * w * h,
        );
        (b + (b * b - 4.0 * a * c).sqrt()) / 2.0
    };
    r1.min(r2).min(r3)
}

/// The training targets of a batch, as host buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    /// `[B, K, H, W]`: Gaussian peaks (exactly 1 at every object's centre cell).
    pub heat: Vec<f32>,
    /// `[B, 4, H, W]`: width, height (cells), offset x, y at the centre cells; 0 elsewhere.
    pub boxes: Vec<f32>,
    /// `[B, 1, H, W]`: 1 at the centre cells, else 0.
    pub centres: Vec<f32>,
    /// Objects in the batch (centre cells: two objects of one cell count once).
    pub objects: usize,
    pub dims: [usize; 4],
}

/// The targets of `images` (the objects of each batch image) on a map of `[h, w]` cells of
/// `stride` pixels for `classes` classes.
pub fn targets(images: &[&[Object]], classes: usize, map: [usize; 2], stride: f32) -> Targets {
    let [h, w] = map;
    let b = images.len();
    let plane = h * w;
    let mut heat = vec![0f32; b * classes * plane];
    let mut boxes = vec![0f32; b * 4 * plane];
    let mut centres = vec![0f32; b * plane];
    for (i, objects) in images.iter().enumerate() {
        for o in objects.iter() {
            let [x, y, bw, bh] = o.bbox;
            let (cx, cy) = ((x + bw / 2.0) / stride, (y + bh / 2.0) / stride);
            let (ix, iy) = (cx.floor() as isize, cy.floor() as isize);
            if ix < 0 || iy < 0 || ix >= w as isize || iy >= h as isize {
                continue;
            }
            let (ix, iy) = (ix as usize, iy as usize);
            let radius = gaussian_radius(bh / stride, bw / stride, MIN_OVERLAP)
                .floor()
                .max(0.0) as isize;
            let sigma = (2 * radius + 1) as f32 / 6.0;
            let plane_k = &mut heat[(i * classes + o.class) * plane..][..plane];
            for dy in -radius..=radius {
                for dx in -radius..=radius {
                    let (yy, xx) = (iy as isize + dy, ix as isize + dx);
                    if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                        continue;
                    }
                    let g = (-((dx * dx + dy * dy) as f32) / (2.0 * sigma * sigma)).exp();
                    let cell = &mut plane_k[yy as usize * w + xx as usize];
                    *cell = cell.max(g);
                }
            }
            let at = iy * w + ix;
            let values = [bw / stride, bh / stride, cx - ix as f32, cy - iy as f32];
            for (c, v) in values.into_iter().enumerate() {
                boxes[(i * 4 + c) * plane + at] = v;
            }
            centres[i * plane + at] = 1.0;
        }
    }
    let objects = centres.iter().filter(|&&c| c > 0.0).count();
    Targets {
        heat,
        boxes,
        centres,
        objects,
        dims: [b, classes, h, w],
    }
}

/// The three terms of the loss, each `[1]`.
pub struct Loss {
    pub heat: Tensor<1>,
    pub size: Tensor<1>,
    pub offset: Tensor<1>,
}

impl Loss {
    /// `heat + 0.1 size + offset`.
    pub fn total(&self) -> Tensor<1> {
        self.heat.clone() + self.size.clone() * SIZE_WEIGHT + self.offset.clone() * OFFSET_WEIGHT
    }
}

/// The loss of head map `map` `[B, K + 4, H, W]` against `t`.
pub fn loss(map: Tensor<4>, t: &Targets) -> Loss {
    let [b, k, h, w] = t.dims;
    let device = map.device();
    let tensor = |v: &[f32], c: usize| {
        Tensor::<4>::from_data(TensorData::new(v.to_vec(), [b, c, h, w]), &device)
    };
    let n = t.objects.max(1) as f64;
    let logits = map.clone().narrow(1, 0, k);
    let gt = tensor(&t.heat, k);
    let pos = gt.clone().equal_elem(1.0).float();
    let p = sigmoid(logits.clone());
    let pos_term =
        (p.clone().neg() + 1.0).powi_scalar(2) * log_sigmoid(logits.clone()) * pos.clone();
    let neg_term = (gt.neg() + 1.0).powi_scalar(4)
        * p.powi_scalar(2)
        * log_sigmoid(logits.neg())
        * (pos.neg() + 1.0);
    let heat = (pos_term + neg_term).sum().neg() / n;
    let boxes = map.narrow(1, k, 4);
    let gt_boxes = tensor(&t.boxes, 4);
    let centres = tensor(&t.centres, 1);
    let l1 = (boxes - gt_boxes).abs() * centres;
    let size = l1.clone().narrow(1, 0, 2).sum() / (2.0 * n);
    let offset = l1.narrow(1, 2, 2).sum() / (2.0 * n);
    Loss { heat, size, offset }
}

/// The boxes of one image's head map `[K + 4, H, W]` (host values, heatmap as logits), highest
/// first: at most `top_k` local maxima of the class heatmaps, scores the sigmoid of the peak,
/// boxes in pixels clipped to the `[img_h, img_w]` image.
pub fn decode(
    map: &[f32],
    classes: usize,
    grid: [usize; 2],
    stride: f32,
    image: [usize; 2],
    top_k: usize,
) -> Vec<Detection> {
    let [h, w] = grid;
    let plane = h * w;
    let at = |c: usize, y: usize, x: usize| map[c * plane + y * w + x];
    let mut peaks = Vec::new();
    for k in 0..classes {
        for y in 0..h {
            for x in 0..w {
                let v = at(k, y, x);
                let mut is_max = true;
                for yy in y.saturating_sub(1)..(y + 2).min(h) {
                    for xx in x.saturating_sub(1)..(x + 2).min(w) {
                        is_max &= at(k, yy, xx) <= v;
                    }
                }
                if is_max {
                    peaks.push((v, k, y, x));
                }
            }
        }
    }
    peaks.sort_by(|a, b| b.0.total_cmp(&a.0));
    peaks.truncate(top_k);
    let [ih, iw] = [image[0] as f32, image[1] as f32];
    peaks
        .into_iter()
        .map(|(v, k, y, x)| {
            let bw = at(classes, y, x).max(0.0) * stride;
            let bh = at(classes + 1, y, x).max(0.0) * stride;
            let cx = (x as f32 + at(classes + 2, y, x)) * stride;
            let cy = (y as f32 + at(classes + 3, y, x)) * stride;
            let (x0, y0) = (
                (cx - bw / 2.0).clamp(0.0, iw),
                (cy - bh / 2.0).clamp(0.0, ih),
            );
            let (x1, y1) = (
                (cx + bw / 2.0).clamp(0.0, iw),
                (cy + bh / 2.0).clamp(0.0, ih),
            );
            Detection {
                class: k,
                bbox: [x0, y0, x1 - x0, y1 - y0],
                score: 1.0 / (1.0 + (-v).exp()),
            }
        })
        .collect()
}
