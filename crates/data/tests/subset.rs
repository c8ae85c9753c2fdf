//! labels_per_class: stratified and seeded.

use sweet_data::labels_per_class;

/// 50 of class 0, 3 of class 1, 20 of class 2, interleaved; plus two out-of-range labels.
fn labels() -> Vec<u32> {
    let mut l = Vec::new();
    for i in 0..50 {
        l.push(0);
        if i < 3 {
            l.push(1);
        }
        if i < 20 {
            l.push(2);
        }
    }
    l.push(7);
    l.push(3);
    l
}

fn count(labels: &[u32], idx: &[usize], class: u32) -> usize {
    idx.iter().filter(|&&i| labels[i] == class).count()
}

#[test]
fn stratified_sorted_and_seeded() {
    let l = labels();
    let idx = labels_per_class(&l, 3, 5, 9);
    assert_eq!(idx.len(), 13);
    assert_eq!(
        (count(&l, &idx, 0), count(&l, &idx, 1), count(&l, &idx, 2)),
        (5, 3, 5)
    );
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "not sorted ascending: {idx:?}"
    );
    assert_eq!(labels_per_class(&l, 3, 5, 9), idx);
    assert_ne!(labels_per_class(&l, 3, 5, 10), idx);
    // k larger than every class: everything in range.
    assert_eq!(labels_per_class(&l, 3, 1000, 1).len(), 73);
    assert!(labels_per_class(&l, 3, 0, 1).is_empty());
}

#[test]
fn seeds_spread_over_the_class() {
    let l = vec![0u32; 100];
    let mut union = std::collections::HashSet::new();
    for seed in 0..30 {
        union.extend(labels_per_class(&l, 1, 3, seed));
    }
    assert!(
        union.len() > 40,
        "seeded draws cover only {} of 100",
        union.len()
    );
}
