//! Pictures of predictions: boxes drawn over an image, and colour-coded class maps.
//!
//! Colours are a fixed palette indexed by class (background black in maps), so the same class
//! has the same colour in every picture of a run; the class names go with the JSON that
//! `predict` writes beside the pictures.

use image::{Rgb, RgbImage};

use crate::eval::Detection;

/// Class colours (Tableau 10); class `k` takes `PALETTE[k % 10]`.
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// The colour of object class `k`.
pub fn colour(k: usize) -> [u8; 3] {
    PALETTE[k % PALETTE.len()]
}

/// An image `[C, H, W]` (`u8`, 1 or 3 channels) as RGB, enlarged `scale` times (nearest).
pub fn to_rgb(pixels: &[u8], channels: usize, h: usize, w: usize, scale: usize) -> RgbImage {
    let plane = h * w;
    RgbImage::from_fn((w * scale) as u32, (h * scale) as u32, |x, y| {
        let at = (y as usize / scale) * w + x as usize / scale;
        let c = |i: usize| pixels[(i.min(channels - 1)) * plane + at];
        Rgb([c(0), c(1), c(2)])
    })
}

/// Draws the outline of each detection (pixel coordinates of the original image, drawn on
/// `img` enlarged `scale` times) in its class colour, 2 px wide at `scale >= 4`.
pub fn draw_boxes(img: &mut RgbImage, dets: &[Detection], scale: usize) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    let thick = if scale >= 4 { 2 } else { 1 };
    for d in dets {
        let [x, y, w, h] = d.bbox.map(|v| (v * scale as f32).round() as i64);
        let (x1, y1) = (x + w - 1, y + h - 1);
        let px = Rgb(colour(d.class));
        let mut put = |xx: i64, yy: i64| {
            if (0..iw).contains(&xx) && (0..ih).contains(&yy) {
                img.put_pixel(xx as u32, yy as u32, px);
            }
        };
        for t in 0..thick {
            for xx in x..=x1 {
                put(xx, y + t);
                put(xx, y1 - t);
            }
            for yy in y..=y1 {
                put(x + t, yy);
                put(x1 - t, yy);
            }
        }
    }
}

/// A semantic map `[H, W]` (0 background, `k + 1` class `k`, 255 ignore) in colours:
/// background black, ignore white, class `k` [`colour`]`(k)`; enlarged `scale` times.
pub fn colour_map(map: &[u8], h: usize, w: usize, scale: usize) -> RgbImage {
    RgbImage::from_fn((w * scale) as u32, (h * scale) as u32, |x, y| {
        let v = map[(y as usize / scale) * w + x as usize / scale];
        Rgb(match v {
            0 => [0, 0, 0],
            255 => [255, 255, 255],
            k => colour(k as usize - 1),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_outline_lands_on_its_pixels_and_nowhere_inside() {
        let mut img = to_rgb(&[0u8; 16 * 16], 1, 16, 16, 1);
        let det = Detection {
            class: 3,
            bbox: [2.0, 4.0, 6.0, 5.0],
            score: 0.9,
        };
        draw_boxes(&mut img, &[det], 1);
        let red = Rgb(colour(3));
        for (x, y) in [(2, 4), (7, 4), (2, 8), (7, 8), (5, 4), (2, 6)] {
            assert_eq!(*img.get_pixel(x, y), red, "({x}, {y}) is on the outline");
        }
        for (x, y) in [(3, 5), (6, 7), (1, 4), (8, 8), (2, 9)] {
            assert_eq!(*img.get_pixel(x, y), Rgb([0, 0, 0]), "({x}, {y}) is off it");
        }
    }

    #[test]
    fn class_maps_colour_background_classes_and_ignore() {
        let img = colour_map(&[0, 1, 10, 255], 2, 2, 2);
        assert_eq!(img.dimensions(), (4, 4));
        assert_eq!(*img.get_pixel(0, 0), Rgb([0, 0, 0]));
        assert_eq!(*img.get_pixel(2, 0), Rgb(colour(0)));
        assert_eq!(*img.get_pixel(1, 3), Rgb(colour(9)));
        assert_eq!(*img.get_pixel(3, 3), Rgb([255, 255, 255]));
    }
}
