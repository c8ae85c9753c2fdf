//! Seeded, stratified subsets (e.g. "k labels per class" for few-shot / linear-probe runs).

use rand::seq::SliceRandom;

use crate::seed::{rng, TAG_SUBSET};

/// For each class `0..num_classes`, the first `k` indices of a seeded shuffle of that class's
/// indices in `labels` (all of them when the class has fewer than `k`); returned sorted
/// ascending. Labels `>= num_classes` are ignored. Same `(labels, k, seed)` -> same indices;
/// the draw for a class does not depend on the other classes.
pub fn labels_per_class(labels: &[u32], num_classes: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if let Some(v) = by_class.get_mut(l as usize) {
            v.push(i);
        }
    }
    let mut out = Vec::with_capacity(num_classes.saturating_mul(k).min(labels.len()));
    for (class, mut indices) in by_class.into_iter().enumerate() {
        if indices.len() > k {
            indices.shuffle(&mut rng(&[TAG_SUBSET, seed, class as u64]));
            indices.truncate(k);
        }
        out.extend(indices);
    }
    out.sort_unstable();
    out
}
