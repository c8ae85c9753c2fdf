//! Seed derivation: one `u64` seed plus context numbers (epoch, position, class, ...) give an
//! independent, reproducible RNG stream for every place randomness is used.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stream tags, so that e.g. the epoch-order RNG and the augmentation RNG never coincide.
pub(crate) const TAG_ORDER: u64 = 1;
pub(crate) const TAG_AUGMENT: u64 = 2;
pub(crate) const TAG_SUBSET: u64 = 3;
pub(crate) const TAG_SYNTH: u64 = 4;
pub(crate) const TAG_CANVAS: u64 = 5;

/// SplitMix64 finalizer: a bijective 64-bit mix with good avalanche.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Folds `parts` (in order) into one seed. Different orders or lengths give different seeds.
pub fn derive(parts: &[u64]) -> u64 {
    let mut h = splitmix64(parts.len() as u64);
    for &p in parts {
        h = splitmix64(h ^ splitmix64(p));
    }
    h
}

/// A ChaCha8 RNG seeded by [`derive()`]`(parts)`.
pub fn rng(parts: &[u64]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(derive(parts))
}
