//! The batch loader: determinism across worker counts, ordering, coverage, shutdown.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use sweet_data::loader::augment_rng;
use sweet_data::{synthetic, Augment, Batch, ImageSet, Loader, LoaderConfig};

fn set(n: usize) -> Arc<ImageSet> {
    Arc::new(synthetic(n, 3, 8, 8, 10, 1))
}

fn cfg(batch_size: usize, workers: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        shuffle: true,
        drop_last: false,
        seed: 42,
        workers,
        augment: Augment {
            pad_crop: 2,
            hflip: true,
        },
    }
}

fn all(loader: &Loader, epoch: usize) -> Vec<Batch> {
    loader.epoch(epoch).collect()
}

fn indices(batches: &[Batch]) -> Vec<usize> {
    batches
        .iter()
        .flat_map(|b| b.indices.iter().copied())
        .collect()
}

#[test]
fn identical_for_any_worker_count() {
    let s = set(103);
    let one = all(&Loader::new(s.clone(), cfg(10, 1)), 3);
    let three = all(&Loader::new(s.clone(), cfg(10, 3)), 3);
    assert_eq!(one.len(), 11);
    assert_eq!(one, three);
    // A fresh loader ("resumed run") gives the same epoch, and so does the synchronous path.
    let again = Loader::new(s, cfg(10, 2));
    assert_eq!(all(&again, 3), one);
    assert_eq!(again.batch(3, 7).unwrap(), one[7]);
    assert!(again.batch(3, 11).is_none());
}

#[test]
fn seed_and_epoch_change_the_order() {
    let s = set(103);
    let loader = Loader::new(s.clone(), cfg(10, 2));
    let (e0, e1) = (indices(&all(&loader, 0)), indices(&all(&loader, 1)));
    assert_ne!(e0, e1);
    let mut other = cfg(10, 2);
    other.seed = 43;
    assert_ne!(indices(&all(&Loader::new(s, other), 0)), e0);
}

#[test]
fn every_sample_once_per_epoch() {
    let s = set(103);
    let loader = Loader::new(s.clone(), cfg(10, 3));
    for epoch in 0..3 {
        let batches = all(&loader, epoch);
        let mut seen = indices(&batches);
        seen.sort_unstable();
        assert_eq!(seen, (0..103).collect::<Vec<_>>());
        for b in &batches {
            assert_eq!(b.images.len(), b.batch_size * 3 * 8 * 8);
            assert_eq!((b.channels, b.height, b.width), (3, 8, 8));
            let want: Vec<u32> = b.indices.iter().map(|&i| s.labels[i]).collect();
            assert_eq!(b.labels, want);
        }
    }
}

#[test]
fn no_shuffle_is_identity_order_and_unaugmented_is_normalized() {
    let s = set(25);
    let mut c = cfg(4, 2);
    c.shuffle = false;
    c.augment = Augment::none();
    let loader = Loader::new(s.clone(), c);
    let batches = all(&loader, 5);
    assert_eq!(indices(&batches), (0..25).collect::<Vec<_>>());
    let mut want = vec![0f32; s.image_len()];
    s.image_f32(9, &mut want);
    let b = &batches[2]; // positions 8..12
    assert_eq!(&b.images[s.image_len()..2 * s.image_len()], want.as_slice());
}

#[test]
fn augmentation_changes_some_images() {
    let s = set(40);
    let mut plain = cfg(40, 1);
    plain.augment = Augment::none();
    let a = Loader::new(s.clone(), cfg(40, 1)).batch(0, 0).unwrap();
    let p = Loader::new(s, plain).batch(0, 0).unwrap();
    assert_eq!(a.indices, p.indices);
    let n = 3 * 8 * 8;
    let changed = (0..40)
        .filter(|&i| a.images[i * n..(i + 1) * n] != p.images[i * n..(i + 1) * n])
        .count();
    assert!(changed > 20, "only {changed} of 40 images augmented");
}

#[test]
fn augmentation_rng_is_keyed_by_epoch_and_position() {
    let s = set(30);
    let c = cfg(7, 2);
    let batches = all(&Loader::new(s.clone(), c.clone()), 4);
    let n = s.image_len();
    for p in [0, 6, 7, 15, 29] {
        let (b, slot) = (&batches[p / 7], p % 7);
        let mut want = vec![0f32; n];
        s.image_f32(b.indices[slot], &mut want);
        c.augment.apply(
            &mut want,
            3,
            8,
            8,
            &s.pad_value(),
            &mut augment_rng(42, 4, p),
        );
        assert_eq!(
            &b.images[slot * n..(slot + 1) * n],
            want.as_slice(),
            "position {p}"
        );
    }
    // Hence the batch size does not change what each position of the epoch sees.
    let small = all(&Loader::new(s.clone(), cfg(3, 3)), 4);
    let cat = |bs: &[Batch]| {
        bs.iter()
            .flat_map(|b| b.images.clone())
            .collect::<Vec<f32>>()
    };
    assert_eq!(cat(&small), cat(&batches));
}

#[test]
fn drop_last() {
    let s = set(103);
    let mut c = cfg(10, 2);
    assert_eq!(Loader::new(s.clone(), c.clone()).num_batches(), 11);
    let batches = all(&Loader::new(s.clone(), c.clone()), 0);
    assert_eq!(batches.last().unwrap().batch_size, 3);
    c.drop_last = true;
    let loader = Loader::new(s, c);
    assert_eq!(loader.num_batches(), 10);
    let batches = all(&loader, 0);
    assert_eq!(batches.len(), 10);
    assert!(batches
        .iter()
        .all(|b| b.batch_size == 10 && b.labels.len() == 10));
}

#[test]
fn empty_set_and_zero_sizes() {
    let loader = Loader::new(set(0), cfg(0, 0));
    assert_eq!(loader.num_batches(), 0);
    assert_eq!(loader.epoch(0).count(), 0);
    let loader = Loader::new(set(5), cfg(0, 0)); // read as batch 1, 1 worker
    assert_eq!(loader.epoch(0).len(), 5);
}

#[test]
fn dropping_early_does_not_hang() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let loader = Loader::new(set(2000), cfg(4, 3));
        for _ in 0..20 {
            let mut it = loader.epoch(0);
            let first = it.next().unwrap();
            assert_eq!(first.batch_size, 4);
            drop(it); // workers are blocked on full channels here
        }
        let _never_polled = loader.epoch(1);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("loader hung when its iterator was dropped");
}
