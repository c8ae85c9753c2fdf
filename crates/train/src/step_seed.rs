//! The seeds of a training step's randomness (MAE's masks, the SWS draw, drop-path masks,
//! diffusion's noise):
//! pure functions of (run seed, optimizer step, stream tag), so a resumed run redraws exactly
//! what the uninterrupted run drew, and no two streams coincide.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// MAE pre-training: the step's mask plan.
pub const TAG_MASK: u64 = 1;
/// MAE pre-training: the step's generator (SWS) draw.
pub const TAG_SWS: u64 = 2;
/// Classification: the step's drop-path masks.
pub const TAG_DROP_PATH: u64 = 3;
/// Diffusion: the step's timesteps, noise and dropped labels.
pub const TAG_DIFFUSION: u64 = 4;
/// MAE evaluation: the fixed masks of evaluation batch `i` (in place of the step).
pub const TAG_EVAL_MASK: u64 = 7;

/// The seed of stream `tag` at optimizer step `step` (0-based over the run) of a run seeded
/// by `seed` (a SplitMix64-style mix).
pub fn step_seed(seed: u64, step: usize, tag: u64) -> u64 {
    let mut z = seed
        ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ tag.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The tag of stream `tag` for data-parallel replica `rank` ([`crate::replicas`]): `tag`
/// itself for rank 0 (so a one-device run draws what it always drew), a distinct stream for
/// every other rank (its own masks, drop-path masks and noise for its part of the batch).
pub fn replica_tag(tag: u64, rank: usize) -> u64 {
    tag + ((rank as u64) << 16)
}

/// A ChaCha8 RNG seeded by [`step_seed`].
pub fn step_rng(seed: u64, step: usize, tag: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(step_seed(seed, step, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_step_tag_and_run_seed_and_repeat() {
        let s = step_seed(0, 5, TAG_DROP_PATH);
        assert_eq!(s, step_seed(0, 5, TAG_DROP_PATH));
        assert_ne!(s, step_seed(0, 6, TAG_DROP_PATH));
        assert_ne!(s, step_seed(0, 5, TAG_MASK));
        assert_ne!(s, step_seed(1, 5, TAG_DROP_PATH));
        assert_eq!(replica_tag(TAG_MASK, 0), TAG_MASK);
        let tags = [
            TAG_MASK,
            TAG_SWS,
            TAG_DROP_PATH,
            TAG_DIFFUSION,
            TAG_EVAL_MASK,
        ];
        for rank in 1..4 {
            for tag in tags {
                assert!(!tags.contains(&replica_tag(tag, rank)));
            }
        }
    }
}
