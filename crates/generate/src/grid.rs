//! Sample grids as PNG: one row per class, images in [-1, 1] mapped to 8-bit pixels.

use std::path::Path;

use image::{ImageBuffer, Luma, Rgb};

/// Pixels of padding between images (and around the grid), drawn black.
pub const PAD: usize = 2;

/// Writes `images` (`[rows * cols, C, H, W]` row-major f32 in [-1, 1], `C` 1 or 3) as a grid of
/// `rows` x `cols`, image `r * cols + c` at row `r`, column `c`; atomically (temp file, then
/// rename).
pub fn write_grid(
    path: &Path,
    images: &[f32],
    [rows, cols]: [usize; 2],
    [c, h, w]: [usize; 3],
) -> Result<(), String> {
    if c != 1 && c != 3 {
        return Err(format!("a grid takes 1 or 3 channels, not {c}"));
    }
    if images.len() != rows * cols * c * h * w {
        return Err(format!(
            "{} values are not {rows} x {cols} images of {c}x{h}x{w}",
            images.len()
        ));
    }
    let (gw, gh) = (cols * (w + PAD) + PAD, rows * (h + PAD) + PAD);
    let pixel = |v: f32| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    let mut rgb = vec![0u8; gw * gh * c];
    for r in 0..rows {
        for col in 0..cols {
            let img = &images[(r * cols + col) * c * h * w..][..c * h * w];
            for y in 0..h {
                for x in 0..w {
                    let (gy, gx) = (PAD + r * (h + PAD) + y, PAD + col * (w + PAD) + x);
                    for ch in 0..c {
                        rgb[(gy * gw + gx) * c + ch] = pixel(img[ch * h * w + y * w + x]);
                    }
                }
            }
        }
    }
    let tmp = path.with_extension("png.tmp");
    let saved = if c == 1 {
        ImageBuffer::<Luma<u8>, _>::from_raw(gw as u32, gh as u32, rgb)
            .expect("sized above")
            .save_with_format(&tmp, image::ImageFormat::Png)
    } else {
        ImageBuffer::<Rgb<u8>, _>::from_raw(gw as u32, gh as u32, rgb)
            .expect("sized above")
            .save_with_format(&tmp, image::ImageFormat::Png)
    };
    saved.map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}
