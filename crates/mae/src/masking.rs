//! MAE's per-sample random masking, planned on the host so every backend (and a resumed run)
//! draws the same masks, then applied to tensors with differentiable index selects.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Which patches each sample keeps, as MAE's `random_masking` computes it: per sample, sort the
/// tokens by ascending noise (`ids_shuffle`), keep the first `keep`, and remember how to undo the
/// sort (`ids_restore = argsort(ids_shuffle)`).
#[derive(Clone, Debug, PartialEq)]
pub struct MaskPlan {
    /// Samples B.
    pub batch: usize,
    /// Patch tokens per sample N.
    pub n: usize,
    /// Kept (visible) tokens per sample.
    pub keep: usize,
    /// `[B, keep]` row-major: the kept token indices of each sample, in shuffled order (lowest
    /// noise first), as MAE's `ids_keep = ids_shuffle[:, :keep]`.
    pub ids_keep: Vec<usize>,
    /// `[B, N]` row-major: position of each original token in the shuffled order
    /// (`argsort(ids_shuffle)`); `< keep` exactly for kept tokens.
    pub ids_restore: Vec<usize>,
    /// `[B, N]` row-major, original token order: 0 kept, 1 removed.
    pub mask: Vec<f32>,
}

/// Tokens kept out of `n` at mask ratio `ratio`: `round((1 - ratio) * n)`, at least 1, and at
/// most `n - 1` when `ratio > 0` (something is always masked then). Ratios outside [0, 1) are
/// clamped by these bounds (ratio <= 0 keeps everything).
pub fn keep_count(n: usize, ratio: f64) -> usize {
    let mut k = ((1.0 - ratio) * n as f64).round().max(0.0) as usize;
    if ratio > 0.0 {
        k = k.min(n.saturating_sub(1));
    }
    k.max(1).min(n)
}

/// A plan from noise drawn uniformly in [0, 1) from a ChaCha8 stream seeded by `seed`, `B * N`
/// values row-major. Callers derive `seed` from the run seed and the step, so a resumed run
/// re-draws the same masks.
pub fn random_masking(batch: usize, n: usize, ratio: f64, seed: u64) -> MaskPlan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise: Vec<f32> = (0..batch * n).map(|_| rng.random::<f32>()).collect();
    masking_from_noise(batch, n, ratio, &noise)
}

/// A plan from explicit noise `[B * N]` (row-major): per sample the tokens are sorted by
/// ascending noise (ties by index), the first [`keep_count`] are kept.
///
/// # Panics
/// If `noise.len() != batch * n`.
pub fn masking_from_noise(batch: usize, n: usize, ratio: f64, noise: &[f32]) -> MaskPlan {
    assert_eq!(
        noise.len(),
        batch * n,
        "noise must have B*N = {}*{} values",
        batch,
        n
    );
    let keep = keep_count(n, ratio);
    let mut ids_keep = Vec::with_capacity(batch * keep);
    let mut ids_restore = vec![0; batch * n];
    let mut mask = vec![0.0; batch * n];
    for b in 0..batch {
        let row = &noise[b * n..(b + 1) * n];
        let mut shuffle: Vec<usize> = (0..n).collect();
        shuffle.sort_by(|&i, &j| row[i].total_cmp(&row[j]).then(i.cmp(&j)));
        for (rank, &token) in shuffle.iter().enumerate() {
            ids_restore[b * n + token] = rank;
            mask[b * n + token] = if rank < keep { 0.0 } else { 1.0 };
        }
        ids_keep.extend_from_slice(&shuffle[..keep]);
    }
    MaskPlan {
        batch,
        n,
        keep,
        ids_keep,
        ids_restore,
        mask,
    }
}

/// A 1-D index tensor on `device`.
fn index_tensor(ids: impl Iterator<Item = usize>, device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = ids.map(|i| i as i64).collect();
    let len = v.len();
    Tensor::from_data(TensorData::new(v, [len]), device)
}

impl MaskPlan {
    /// Removed tokens per sample, N - keep.
    pub fn masked(&self) -> usize {
        self.n - self.keep
    }

    /// `[B, N]` row-major: the token order after shuffling (`ids_shuffle`), the inverse of
    /// [`ids_restore`](Self::ids_restore).
    pub fn ids_shuffle(&self) -> Vec<usize> {
        let mut out = vec![0; self.batch * self.n];
        for b in 0..self.batch {
            for t in 0..self.n {
                out[b * self.n + self.ids_restore[b * self.n + t]] = t;
            }
        }
        out
    }

    /// Visible tokens, MAE's `gather(x, 1, ids_keep)`: `[B, N, D]` -> `[B, keep, D]` (an index
    /// select on the flattened tokens, differentiable).
    pub fn gather_visible(&self, tokens: Tensor<3>) -> Tensor<3> {
        let [b, n, d] = tokens.dims();
        assert_eq!(
            (b, n),
            (self.batch, self.n),
            "tokens [B, N] differ from the plan's"
        );
        let idx = index_tensor(
            self.ids_keep
                .iter()
                .enumerate()
                .map(|(i, &t)| (i / self.keep) * n + t),
            &tokens.device(),
        );
        tokens
            .reshape([b * n, d])
            .select(0, idx)
            .reshape([b, self.keep, d])
    }

    /// The decoder's input sequence in original token order, as MAE's `forward_decoder`: the
    /// visible tokens followed by `N - keep` copies of the mask token, un-shuffled with
    /// `ids_restore`. visible `[B, keep, D]`, mask_token `[1, 1, D]` -> `[B, N, D]`.
    pub fn unshuffle_with_mask_token(
        &self,
        visible: Tensor<3>,
        mask_token: Tensor<3>,
    ) -> Tensor<3> {
        let [b, k, d] = visible.dims();
        assert_eq!(
            (b, k),
            (self.batch, self.keep),
            "visible [B, keep] differ from the plan's"
        );
        let n = self.n;
        let shuffled = if n > k {
            Tensor::cat(vec![visible, mask_token.expand([b, n - k, d])], 1)
        } else {
            visible
        };
        let idx = index_tensor(
            self.ids_restore
                .iter()
                .enumerate()
                .map(|(i, &r)| (i / n) * n + r),
            &shuffled.device(),
        );
        shuffled
            .reshape([b * n, d])
            .select(0, idx)
            .reshape([b, n, d])
    }

    /// The mask as a tensor `[B, N]`: 0 kept, 1 removed.
    pub fn mask_tensor(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.mask.clone(), [self.batch, self.n]),
            device,
        )
    }
}
