//! Augmentation: identity, flip, crop as a shift with padded border, determinism.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_data::augment::{hflip, shift};
use sweet_data::Augment;

/// A 2x5x6 image whose values are all distinct.
fn image() -> Vec<f32> {
    (0..2 * 5 * 6).map(|i| i as f32 * 0.5 + 1.0).collect()
}

const PAD: [f32; 2] = [-0.4, -2.0];

#[test]
fn off_is_identity() {
    for seed in 0..20 {
        let mut img = image();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Augment::none().apply(&mut img, 2, 5, 6, &PAD, &mut rng);
        assert_eq!(img, image());
    }
    let mut img = image();
    shift(&mut img, 2, 5, 6, 0, 0, &PAD);
    assert_eq!(img, image());
}

#[test]
fn hflip_flips_rows() {
    let mut img = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 1 x 2 x 3
    hflip(&mut img, 1, 2, 3);
    assert_eq!(img, vec![3.0, 2.0, 1.0, 6.0, 5.0, 4.0]);
    let mut flipped = image();
    hflip(&mut flipped, 2, 5, 6);
    let (mut saw_flip, mut saw_same) = (false, false);
    let aug = Augment {
        pad_crop: 0,
        hflip: true,
    };
    for seed in 0..40 {
        let mut img = image();
        aug.apply(
            &mut img,
            2,
            5,
            6,
            &PAD,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        if img == flipped {
            saw_flip = true;
        } else {
            assert_eq!(img, image());
            saw_same = true;
        }
    }
    assert!(saw_flip && saw_same);
}

#[test]
fn shift_puts_pad_in_the_border() {
    // 1 x 3 x 3, shift down by 1 (source row y-1) and right by 1 (source column x-1):
    // out[y][x] = in[y + dy][x + dx] with dy = dx = -1.
    let mut img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    shift(&mut img, 1, 3, 3, -1, -1, &[0.0]);
    assert_eq!(img, vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);
    let mut img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    shift(&mut img, 1, 3, 3, 2, 1, &[-7.0]);
    assert_eq!(
        img,
        vec![8.0, 9.0, -7.0, -7.0, -7.0, -7.0, -7.0, -7.0, -7.0]
    );
}

#[test]
fn crop_is_some_shift_with_pad_values() {
    let aug = Augment {
        pad_crop: 2,
        hflip: false,
    };
    let mut shifts = std::collections::HashSet::new();
    for seed in 0..60 {
        let mut img = image();
        aug.apply(
            &mut img,
            2,
            5,
            6,
            &PAD,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        let found = (-2..=2isize)
            .flat_map(|dy| (-2..=2isize).map(move |dx| (dy, dx)))
            .find(|&(dy, dx)| {
                let mut want = image();
                shift(&mut want, 2, 5, 6, dy, dx, &PAD);
                want == img
            });
        let (dy, dx) = found.expect("augmented image is not a shift of the input");
        shifts.insert((dy, dx));
        if dy > 0 {
            // Bottom rows of channel 1 come from outside the image: its pad value.
            assert!(img[30 + 4 * 6..60].iter().all(|&v| v == PAD[1]));
        }
    }
    assert!(shifts.len() > 10, "only {} distinct crops", shifts.len());
}

#[test]
fn deterministic_given_rng() {
    let aug = Augment {
        pad_crop: 3,
        hflip: true,
    };
    let run = |seed| {
        let mut img = image();
        aug.apply(
            &mut img,
            2,
            5,
            6,
            &PAD,
            &mut ChaCha8Rng::seed_from_u64(seed),
        );
        img
    };
    assert_eq!(run(7), run(7));
    assert!((0..10).any(|s| run(s) != run(7)));
}
