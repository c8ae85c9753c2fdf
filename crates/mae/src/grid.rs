//! A picture of what the MAE sees and predicts: per image, the original, the masked input and
//! the reconstruction side by side, written as a PNG.

use std::io::Cursor;
use std::path::Path;

use burn::prelude::*;
use image::{GrayImage, ImageFormat, RgbImage};
use sweet_vit::tensor_file::{atomic_write, TensorFileError};

use crate::masking::MaskPlan;
use crate::patches::NORM_PIX_EPS;

/// Pixels between tiles, between rows and around the picture.
pub const GAP: usize = 2;
/// Grey drawn over removed patches in the masked tile.
pub const MASK_GREY: u8 = 128;
/// Gap colour.
const BACKGROUND: u8 = 255;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("reconstruction grid: {0}")]
    Shape(String),
    #[error("reconstruction grid: {0} channels; only 1 (grey) or 3 (RGB) can be drawn")]
    Channels(usize),
    #[error("reconstruction grid: encoding the PNG: {0}")]
    Encode(#[from] image::ImageError),
    #[error(transparent)]
    Write(#[from] TensorFileError),
}

/// Integer up-scaling of a tile of `h x w` pixels: `max(1, 128 / max(h, w))` (4 for 28x28,
/// 4 for 32x32, 1 from 128 up).
pub fn tile_scale(h: usize, w: usize) -> usize {
    (128 / h.max(w).max(1)).max(1)
}

/// Size `(width, height)` in pixels of a grid of `rows` images of `h x w`: three tiles of
/// `tile_scale * (w, h)` per row, [`GAP`] pixels between and around everything.
pub fn grid_size(rows: usize, h: usize, w: usize) -> (usize, usize) {
    let s = tile_scale(h, w);
    (3 * w * s + 4 * GAP, rows * h * s + (rows + 1) * GAP)
}

fn host<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// Writes the reconstruction picture of the first `rows` images (fewer if the batch is
/// smaller) to `path` as a PNG, atomically (temp file + rename).
///
/// Each row: the original; the masked input (removed patches [`MASK_GREY`]); the reconstruction
/// (removed patches from `pred`, un-normalized with the mean and std of the same original patch
/// as MAE's visualization does for norm-pix models; visible patches from the original).
///
/// images `[B, C, H, W]` normalized as `(x/255 - mean[c]) / std[c]`, `pred` `[B, N, p*p*C]`
/// in MAE's patch order ([`crate::patches::patchify`]), C = 1 (grey PNG) or 3 (RGB PNG).
#[allow(clippy::too_many_arguments)]
pub fn write_reconstruction_grid(
    path: &Path,
    images: &Tensor<4>,
    pred: &Tensor<3>,
    plan: &MaskPlan,
    patch: usize,
    mean: &[f32],
    std: &[f32],
    rows: usize,
) -> Result<(), GridError> {
    let [b, c, h, w] = images.dims();
    let [pb, n, plen] = pred.dims();
    let p = patch;
    if c != 1 && c != 3 {
        return Err(GridError::Channels(c));
    }
    if p == 0 || h % p != 0 || w % p != 0 || (h / p) * (w / p) != n || plen != p * p * c || pb != b
    {
        return Err(GridError::Shape(format!(
            "images [{b}, {c}, {h}, {w}] with patch {p} do not match predictions [{pb}, {n}, {plen}]"
        )));
    }
    if (plan.batch, plan.n) != (b, n) {
        return Err(GridError::Shape(format!(
            "mask plan is [{}, {}], predictions [{b}, {n}]",
            plan.batch, plan.n
        )));
    }
    if mean.len() != c || std.len() != c {
        return Err(GridError::Shape(format!(
            "{} means and {} stds for {c} channels",
            mean.len(),
            std.len()
        )));
    }
    let rows = rows.min(b);
    if rows == 0 {
        return Err(GridError::Shape(
            "nothing to draw (0 rows or an empty batch)".into(),
        ));
    }
    let (img, pred) = (host(images), host(pred));
    let (gw, s) = (w / p, tile_scale(h, w));
    let (width, height) = grid_size(rows, h, w);
    // Row-major `[height, width, c]` bytes.
    let mut canvas = vec![BACKGROUND; width * height * c];
    let to_u8 =
        |v: f32, ch: usize| ((v * std[ch] + mean[ch]) * 255.0).round().clamp(0.0, 255.0) as u8;

    for r in 0..rows {
        // Per-patch mean and std of the original (normalized values), as the norm-pix target.
        let stats: Vec<(f32, f32)> = (0..n)
            .map(|t| {
                let (py0, px0) = ((t / gw) * p, (t % gw) * p);
                let vals: Vec<f64> = (0..p * p * c)
                    .map(|k| {
                        let (y, x, ch) = (py0 + k / (p * c), px0 + (k / c) % p, k % c);
                        img[((r * c + ch) * h + y) * w + x] as f64
                    })
                    .collect();
                let m = vals.iter().sum::<f64>() / vals.len() as f64;
                let denom = (vals.len().max(2) - 1) as f64;
                let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / denom;
                (m as f32, (var + NORM_PIX_EPS).sqrt() as f32)
            })
            .collect();
        let top = GAP + r * (h * s + GAP);
        for y in 0..h {
            for x in 0..w {
                let t = (y / p) * gw + x / p;
                let removed = plan.mask[r * n + t] > 0.5;
                let mut tiles = [[0u8; 3]; 3];
                for ch in 0..c {
                    let orig = img[((r * c + ch) * h + y) * w + x];
                    let k = ((y % p) * p + x % p) * c + ch;
                    let (m, sd) = stats[t];
                    let recon = if removed {
                        pred[(r * n + t) * plen + k] * sd + m
                    } else {
                        orig
                    };
                    tiles[0][ch] = to_u8(orig, ch);
                    tiles[1][ch] = if removed { MASK_GREY } else { to_u8(orig, ch) };
                    tiles[2][ch] = to_u8(recon, ch);
                }
                for (i, tile) in tiles.iter().enumerate() {
                    let left = GAP + i * (w * s + GAP);
                    for dy in 0..s {
                        for dx in 0..s {
                            let at = ((top + y * s + dy) * width + left + x * s + dx) * c;
                            canvas[at..at + c].copy_from_slice(&tile[..c]);
                        }
                    }
                }
            }
        }
    }
    let mut bytes = Vec::new();
    let mut out = Cursor::new(&mut bytes);
    let (wu, hu) = (width as u32, height as u32);
    if c == 1 {
        GrayImage::from_raw(wu, hu, canvas)
            .expect("buffer fits")
            .write_to(&mut out, ImageFormat::Png)?;
    } else {
        RgbImage::from_raw(wu, hu, canvas)
            .expect("buffer fits")
            .write_to(&mut out, ImageFormat::Png)?;
    }
    atomic_write(path, &bytes)?;
    Ok(())
}
