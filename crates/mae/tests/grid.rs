//! The reconstruction picture: size, original tile, grey removed patches, and a perfect
//! prediction drawn back as the original.

use burn::prelude::*;
use burn::tensor::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_mae::grid::{
    grid_size, tile_scale, write_reconstruction_grid, GridError, GAP, MASK_GREY,
};
use sweet_mae::masking::random_masking;
use sweet_mae::patches::{norm_pix, patchify};

/// Normalized images made from random bytes, and the bytes `[B, C, H, W]`.
fn images(b: usize, c: usize, side: usize, mean: &[f32], std: &[f32]) -> (Tensor<4>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let px: Vec<u8> = (0..b * c * side * side).map(|_| rng.random()).collect();
    let v: Vec<f32> = px
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let ch = (i / (side * side)) % c;
            (p as f32 / 255.0 - mean[ch]) / std[ch]
        })
        .collect();
    (
        Tensor::from_data(TensorData::new(v, [b, c, side, side]), &Device::default()),
        px,
    )
}

/// Pixel `(y, x)` of channel `ch` in tile `tile` of row `row`, read from the PNG.
fn tile_px(
    img: &image::DynamicImage,
    row: usize,
    tile: usize,
    y: usize,
    x: usize,
    ch: usize,
    side: usize,
) -> u8 {
    let s = tile_scale(side, side);
    let (px, py) = (
        GAP + tile * (side * s + GAP) + x * s + s / 2,
        GAP + row * (side * s + GAP) + y * s + s / 2,
    );
    img.to_rgb8().get_pixel(px as u32, py as u32)[ch]
}

fn check(c: usize, side: usize, p: usize) {
    let (mean, std) = if c == 1 {
        (vec![0.1307], vec![0.3081])
    } else {
        (vec![0.49, 0.48, 0.45], vec![0.25, 0.24, 0.26])
    };
    let b = 3;
    let (x, px) = images(b, c, side, &mean, &std);
    let n = (side / p) * (side / p);
    let plan = random_masking(b, n, 0.75, 4);
    // A perfect prediction: exactly MAE's target.
    let pred = norm_pix(patchify(x.clone(), p));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recon.png");
    write_reconstruction_grid(&path, &x, &pred, &plan, p, &mean, &std, 2).unwrap();
    let img = image::open(&path).unwrap();
    let (w, h) = grid_size(2, side, side);
    assert_eq!((img.width() as usize, img.height() as usize), (w, h));
    assert_eq!(
        (w, h),
        (
            3 * side * tile_scale(side, side) + 4 * GAP,
            2 * side * tile_scale(side, side) + 3 * GAP
        )
    );
    let color = if c == 1 {
        image::ColorType::L8
    } else {
        image::ColorType::Rgb8
    };
    assert_eq!(img.color(), color);
    let gw = side / p;
    for row in 0..2 {
        for y in 0..side {
            for x in 0..side {
                let removed = plan.mask[row * n + (y / p) * gw + x / p] == 1.0;
                for ch in 0..c {
                    let want = px[((row * c + ch) * side + y) * side + x] as i32;
                    let read = |tile| {
                        tile_px(&img, row, tile, y, x, if c == 1 { 0 } else { ch }, side) as i32
                    };
                    assert!(
                        (read(0) - want).abs() <= 1,
                        "original tile at row {row} ({y}, {x}) ch {ch}"
                    );
                    if removed {
                        assert_eq!(read(1), MASK_GREY as i32, "masked tile grey at ({y}, {x})");
                    } else {
                        assert!(
                            (read(1) - want).abs() <= 1,
                            "masked tile shows visible ({y}, {x})"
                        );
                    }
                    assert!(
                        (read(2) - want).abs() <= 1,
                        "perfect reconstruction at ({y}, {x}): {} vs {want}",
                        read(2)
                    );
                }
            }
        }
    }
}

#[test]
fn grey_grid_has_the_expected_size_and_pixels() {
    assert_eq!(tile_scale(28, 28), 4);
    check(1, 28, 4);
}

#[test]
fn rgb_grid_has_the_expected_size_and_pixels() {
    check(3, 16, 4);
}

#[test]
fn a_zero_prediction_paints_patch_means_into_removed_patches() {
    let (mean, std) = (vec![0.5], vec![0.5]);
    let (x, _) = images(1, 1, 8, &mean, &std);
    let plan = random_masking(1, 4, 0.5, 0);
    let pred = Tensor::<3>::zeros([1, 4, 16], &Device::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.png");
    write_reconstruction_grid(&path, &x, &pred, &plan, 4, &mean, &std, 5).unwrap();
    let img = image::open(&path).unwrap();
    assert_eq!(
        (img.width() as usize, img.height() as usize),
        grid_size(1, 8, 8),
        "rows capped at the batch"
    );
    let patches: Vec<f32> = patchify(x, 4)
        .into_data()
        .convert::<f32>()
        .try_into_vec()
        .unwrap();
    for t in (0..4).filter(|&t| plan.mask[t] == 1.0) {
        let m = patches[t * 16..(t + 1) * 16].iter().sum::<f32>() / 16.0;
        let want = ((m * 0.5 + 0.5) * 255.0).round() as i32;
        let (y, x) = ((t / 2) * 4, (t % 2) * 4);
        for (dy, dx) in [(0, 0), (3, 3), (1, 2)] {
            let got = tile_px(&img, 0, 2, y + dy, x + dx, 0, 8) as i32;
            assert!((got - want).abs() <= 1, "patch {t}: {got} vs mean {want}");
        }
    }
}

#[test]
fn bad_inputs_are_errors_and_leave_no_file() {
    let device = Device::default();
    let x = Tensor::<4>::random([1, 2, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let plan = random_masking(1, 4, 0.5, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.png");
    let pred = Tensor::<3>::zeros([1, 4, 32], &device);
    let err =
        write_reconstruction_grid(&path, &x, &pred, &plan, 4, &[0.5; 2], &[0.5; 2], 1).unwrap_err();
    assert!(matches!(err, GridError::Channels(2)), "{err}");
    let x = Tensor::<4>::random([1, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let pred = Tensor::<3>::zeros([1, 4, 8], &device);
    let err = write_reconstruction_grid(&path, &x, &pred, &plan, 4, &[0.5], &[0.5], 1).unwrap_err();
    assert!(err.to_string().contains("do not match"), "{err}");
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temp file left"
    );
}
