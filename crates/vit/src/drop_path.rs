//! Stochastic depth (timm's `DropPath`) for one training forward, as a plan drawn on the host.
//!
//! timm gives block `i` of `L` the rate `drop_path * i / (L - 1)` (`torch.linspace(0, rate, L)`:
//! the first block never drops, the last drops at the full rate) and drops its attention branch
//! and its MLP branch independently, per sample: `x + branch * mask / keep`, with
//! `mask ~ Bernoulli(keep)` of shape `[B, 1, 1]` and `keep = 1 - rate_i`. A dropped sample's
//! branch adds exactly nothing; a kept one is scaled by `1 / keep`, so the expectation is the
//! full model's.
//!
//! A [`DropPathPlan`] holds every mask of one forward. It is a pure function of its RNG, so a
//! trainer that seeds the RNG from (run seed, optimizer step) redraws the same masks when a
//! killed run resumes. Without a plan (evaluation, export) no branch is dropped.

use burn::prelude::*;
use rand::Rng;

/// One block's masks: whether each sample keeps its attention branch and its MLP branch.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockDrop {
    /// Keep probability `1 - rate_i`, in `(0, 1]`; kept branches are divided by it.
    pub keep: f64,
    /// Per sample `[B]`: the attention branch is kept.
    pub attn: Vec<bool>,
    /// Per sample `[B]`: the MLP branch is kept.
    pub mlp: Vec<bool>,
}

impl BlockDrop {
    /// Every sample of a batch of `batch` keeps both branches, at keep probability 1 (no
    /// scaling): the plain block.
    pub fn none(batch: usize) -> Self {
        BlockDrop {
            keep: 1.0,
            attn: vec![true; batch],
            mlp: vec![true; batch],
        }
    }

    /// `branch * mask / keep` for `branch` `[B, N, w]` and the per-sample `mask` `[B]`; the
    /// branch itself when no sample can be dropped (keep 1, all kept).
    pub fn apply(&self, branch: Tensor<3>, mask: &[bool]) -> Tensor<3> {
        let [b, n, w] = branch.dims();
        assert_eq!(
            mask.len(),
            b,
            "the drop-path plan was drawn for a batch of {}, the forward has {b}",
            mask.len()
        );
        if self.keep == 1.0 && mask.iter().all(|&k| k) {
            return branch;
        }
        let scale = (1.0 / self.keep) as f32;
        let values: Vec<f32> = mask.iter().map(|&k| if k { scale } else { 0.0 }).collect();
        let mask = Tensor::<3>::from_data(TensorData::new(values, [b, 1, 1]), &branch.device());
        branch * mask.expand([b, n, w])
    }
}

/// Every block's masks for one training forward of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct DropPathPlan {
    /// One entry per block, in order.
    pub blocks: Vec<BlockDrop>,
}

impl DropPathPlan {
    /// timm's per-block rates for `depth` blocks: `linspace(0, rate, depth)` (`[0]` for one
    /// block).
    pub fn rates(rate: f64, depth: usize) -> Vec<f64> {
        (0..depth)
            .map(|i| {
                if depth > 1 {
                    rate * i as f64 / (depth - 1) as f64
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Draws the masks of a batch of `batch` for `depth` blocks at the drop-path `rate` (in
    /// `[0, 1)`), block by block, attention masks then MLP masks, one uniform draw per sample:
    /// kept when it falls below the block's keep probability. A block at rate 0 draws nothing.
    ///
    /// # Panics
    /// If `rate` is outside `[0, 1)`.
    pub fn draw(rate: f64, depth: usize, batch: usize, rng: &mut impl Rng) -> Self {
        assert!(
            (0.0..1.0).contains(&rate),
            "drop-path rate {rate} must be in [0, 1)"
        );
        let blocks = Self::rates(rate, depth)
            .into_iter()
            .map(|r| {
                if r == 0.0 {
                    return BlockDrop::none(batch);
                }
                let keep = 1.0 - r;
                let mut masks = (0..2).map(|_| {
                    (0..batch)
                        .map(|_| rng.random::<f64>() < keep)
                        .collect::<Vec<bool>>()
                });
                let attn = masks.next().expect("two masks");
                let mlp = masks.next().expect("two masks");
                BlockDrop { keep, attn, mlp }
            })
            .collect();
        DropPathPlan { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn rates_are_timms_linspace() {
        assert_eq!(DropPathPlan::rates(0.1, 1), [0.0]);
        let r = DropPathPlan::rates(0.3, 4);
        let want = [0.0, 0.1, 0.2, 0.3];
        assert!(
            r.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{r:?}"
        );
        assert_eq!(r.len(), 4);
        assert_eq!(DropPathPlan::rates(0.0, 3), [0.0; 3]);
    }

    #[test]
    fn a_seed_fixes_the_masks_and_the_rate_sets_how_many_drop() {
        let draw = |seed| DropPathPlan::draw(0.5, 3, 4000, &mut ChaCha8Rng::seed_from_u64(seed));
        let (a, b, c) = (draw(7), draw(7), draw(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // block 0 never drops; block 1 keeps 75%, block 2 50%, each branch on its own
        assert_eq!(a.blocks[0], BlockDrop::none(4000));
        for (i, keep) in [(1, 0.75), (2, 0.5)] {
            let blk = &a.blocks[i];
            assert_eq!(blk.keep, keep);
            for mask in [&blk.attn, &blk.mlp] {
                let kept = mask.iter().filter(|&&k| k).count() as f64 / 4000.0;
                assert!(
                    (kept - keep).abs() < 0.03,
                    "block {i}: kept {kept}, want {keep}"
                );
            }
            assert_ne!(blk.attn, blk.mlp, "the two branches draw their own masks");
        }
    }

    #[test]
    fn apply_zeroes_dropped_samples_and_scales_kept_ones() {
        let device = Device::default();
        let branch = Tensor::<3>::ones([3, 2, 2], &device);
        let blk = BlockDrop {
            keep: 0.8,
            attn: vec![true, false, true],
            mlp: vec![true; 3],
        };
        let out = blk.apply(branch.clone(), &blk.attn).into_data();
        let v = out.try_to_vec::<f32>().unwrap();
        assert_eq!(&v[0..4], [1.25; 4]);
        assert_eq!(&v[4..8], [0.0; 4]);
        assert_eq!(&v[8..12], [1.25; 4]);
        // keep 1 with every sample kept: the branch itself
        let none = BlockDrop::none(3);
        assert_eq!(
            none.apply(branch.clone(), &none.mlp).into_data(),
            branch.into_data()
        );
    }

    #[test]
    #[should_panic(expected = "must be in [0, 1)")]
    fn a_rate_of_one_is_refused() {
        DropPathPlan::draw(1.0, 2, 2, &mut ChaCha8Rng::seed_from_u64(0));
    }
}
