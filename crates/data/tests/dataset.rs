//! DatasetKind parsing, ImageSet helpers, the synthetic set, and (when fetched) real MNIST data.

use std::path::Path;

use sweet_data::{open, synthetic, DatasetKind, OpenOptions, Split};

#[test]
fn kind_names_round_trip() {
    for kind in [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::ImageFolder,
    ] {
        assert_eq!(kind.to_string().parse::<DatasetKind>().unwrap(), kind);
    }
    assert_eq!(DatasetKind::FashionMnist.to_string(), "fashion-mnist");
    assert_eq!(
        "CIFAR-10".parse::<DatasetKind>().unwrap(),
        DatasetKind::Cifar10
    );
    assert_eq!(
        "fashion_mnist".parse::<DatasetKind>().unwrap(),
        DatasetKind::FashionMnist
    );
    assert!("svhn".parse::<DatasetKind>().is_err());
    assert_eq!(Split::Test.to_string(), "test");
}

#[test]
fn image_f32_normalizes_per_channel() {
    let mut s = synthetic(3, 2, 2, 2, 2, 0);
    s.pixels = (0..24).map(|v| v * 10).collect();
    s.mean = vec![0.5, 0.25];
    s.std = vec![0.5, 0.2];
    let mut out = vec![0f32; 8];
    s.image_f32(1, &mut out);
    for (j, &o) in out.iter().enumerate() {
        let c = j / 4;
        let want = ((80 + j * 10) as f32 / 255.0 - s.mean[c]) / s.std[c];
        assert!((o - want).abs() < 1e-6, "{j}: {o} vs {want}");
    }
    assert_eq!(s.pad_value(), vec![-1.0, -1.25]);
}

#[test]
fn subset_and_take() {
    let s = synthetic(10, 1, 3, 3, 4, 5);
    let sub = s.subset(&[7, 2, 7]);
    assert_eq!(sub.len, 3);
    assert_eq!(sub.labels, vec![3, 2, 3]);
    assert_eq!(sub.image_u8(0), s.image_u8(7));
    assert_eq!(sub.image_u8(1), s.image_u8(2));
    assert_eq!(sub.pixels.len(), 27);
    let t = s.take(4);
    assert_eq!((t.len, t.labels.clone()), (4, vec![0, 1, 2, 3]));
    assert_eq!(t.pixels, s.pixels[..36]);
    assert_eq!(s.take(99).len, 10);
    assert_eq!(s.class_counts(), vec![3, 3, 2, 2]);
}

#[test]
fn synthetic_is_seeded_and_learnable() {
    let (c, h, w, k) = (2, 12, 12, 10);
    let s = synthetic(400, c, h, w, k, 1);
    assert_eq!(s, synthetic(400, c, h, w, k, 1));
    assert_ne!(s.pixels, synthetic(400, c, h, w, k, 2).pixels);
    assert_eq!(
        (s.len, s.num_classes, s.mean.clone()),
        (400, 10, vec![0.5, 0.5])
    );
    assert_eq!(s.pixels.len(), 400 * c * h * w);
    // Nearest class-centroid from the first half classifies the second half (near) perfectly.
    let n = c * h * w;
    let mut centroids = vec![vec![0f32; n]; k];
    for i in 0..200 {
        for (a, &p) in centroids[s.labels[i] as usize]
            .iter_mut()
            .zip(s.image_u8(i))
        {
            *a += p as f32 / 20.0;
        }
    }
    let correct = (200..400)
        .filter(|&i| {
            let dist = |m: &Vec<f32>| {
                m.iter()
                    .zip(s.image_u8(i))
                    .map(|(a, &p)| (a - p as f32).powi(2))
                    .sum::<f32>()
            };
            let best = (0..k)
                .min_by(|&a, &b| dist(&centroids[a]).total_cmp(&dist(&centroids[b])))
                .unwrap();
            best as u32 == s.labels[i]
        })
        .count();
    assert!(correct >= 198, "nearest centroid got {correct}/200");
    // Degenerate arguments do not panic.
    assert_eq!(synthetic(5, 1, 1, 1, 0, 0).num_classes, 1);
    assert_eq!(synthetic(0, 3, 4, 4, 10, 0).len, 0);
}

/// Runs on the real files when `scripts/fetch-data.sh` has filled `<repo>/data` (git-ignored);
/// otherwise says so and passes.
#[test]
fn real_mnist_and_fashion_when_fetched() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    for (kind, sub, first_train, first_test) in [
        (DatasetKind::Mnist, "mnist", 5, 7),
        (DatasetKind::FashionMnist, "fashion-mnist", 9, 9),
    ] {
        let dir = root.join(sub);
        if !dir.is_dir() {
            eprintln!(
                "skipping {kind}: {} not fetched (run scripts/fetch-data.sh)",
                dir.display()
            );
            continue;
        }
        let train = open(kind, &dir, Split::Train, &OpenOptions::default()).unwrap();
        let test = open(kind, &dir, Split::Test, &OpenOptions::default()).unwrap();
        assert_eq!(
            (train.len, test.len, train.height, train.width),
            (60000, 10000, 28, 28)
        );
        assert_eq!((train.labels[0], test.labels[0]), (first_train, first_test));
        assert!(train.class_counts().iter().all(|&n| n > 5000));
    }
}
