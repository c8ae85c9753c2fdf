//! LiGO's learned operators (VITA-Group/LiGO at 68e657d, `ligo.py` **[code]**): the depth
//! coefficients (every target layer a mixture of the source layers, per module, weight and
//! bias apart) and the width expansions (`C` matrices mixing old units into new ones).
//! Only these train.

use burn::module::Param;
use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use sweet_vit::names::HostTensor;

/// One module's depth mixing: target layer `i` = `Σ_j coef[i, j] · source layer j`.
#[derive(Module, Debug)]
pub struct Coeffs {
    /// `[L2, L1]`, for the module's weight (a LayerNorm's γ).
    pub weight_coef: Param<Tensor<2>>,
    /// `[L2, L1]`, for the module's bias (a LayerNorm's β).
    pub bias_coef: Param<Tensor<2>>,
}

/// The depth operator: separate coefficients for every module of a block, the fused qkv's
/// q, k and v segments apart **[project]**.
#[derive(Module, Debug)]
pub struct DepthOperator {
    pub q: Coeffs,
    pub k: Coeffs,
    pub v: Coeffs,
    pub proj: Coeffs,
    pub norm1: Coeffs,
    pub fc1: Coeffs,
    pub fc2: Coeffs,
    pub norm2: Coeffs,
}

/// The width expansions of one target layer (tying as in LiGO's default: attn-out's in-dim
/// shares `v`, fc2's in-dim shares `ffn`).
#[derive(Module, Debug)]
pub struct LayerWidth {
    /// `[D2 − D1, D1]`: new q units (head-major, appended to the q segment).
    pub q: Param<Tensor<2>>,
    /// `[D2 − D1, D1]`.
    pub k: Param<Tensor<2>>,
    /// `[D2 − D1, D1]`: new v units, and proj's new input columns.
    pub v: Param<Tensor<2>>,
    /// `[4 (D2 − D1), 4 D1]`: new hidden units (fc1 rows, fc2 columns).
    pub ffn: Param<Tensor<2>>,
}

/// The width operator: one `C_e` for the residual stream (embeddings, every in-dim of q, k,
/// v and fc1, the out-dims of proj and fc2, every LayerNorm), and per target layer its own.
#[derive(Module, Debug)]
pub struct WidthOperator {
    /// `C_e` `[D2 − D1, D1]`.
    pub embed: Param<Tensor<2>>,
    pub layers: Vec<LayerWidth>,
}

fn param(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(
        HostTensor {
            shape: shape.to_vec(),
            values,
        }
        .to_tensor(device),
    )
}

/// `stackbert_noisy` `[L2, L1]`: row i ~ U(0, 0.03) with entry `i mod L1` set to 1, then
/// normalized to sum 1 (target layer i starts as source layer `i mod L1`, plus a little of
/// every other).
pub fn stackbert_noisy(l2: usize, l1: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut v = Vec::with_capacity(l2 * l1);
    for i in 0..l2 {
        let mut row: Vec<f64> = (0..l1).map(|_| rng.random_range(0.0..0.03)).collect();
        row[i % l1] = 1.0;
        let sum: f64 = row.iter().sum();
        v.extend(row.iter().map(|x| (x / sum) as f32));
    }
    v
}

/// `rand` `[rows, cols]`: each row ~ U(0, 1), normalized to sum 1 (a new unit is a convex
/// mixture of the old ones).
pub fn rand_rows(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut v = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let row: Vec<f64> = (0..cols).map(|_| rng.random_range(0.0..1.0)).collect();
        let sum: f64 = row.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        v.extend(row.iter().map(|x| (x / sum) as f32));
    }
    v
}

impl DepthOperator {
    /// `stackbert_noisy` for every module, drawn in field order (weight, then bias).
    pub fn stackbert_noisy(l2: usize, l1: usize, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let mut c = || Coeffs {
            weight_coef: param(stackbert_noisy(l2, l1, rng), [l2, l1], device),
            bias_coef: param(stackbert_noisy(l2, l1, rng), [l2, l1], device),
        };
        DepthOperator {
            q: c(),
            k: c(),
            v: c(),
            proj: c(),
            norm1: c(),
            fc1: c(),
            fc2: c(),
            norm2: c(),
        }
    }
}

impl WidthOperator {
    /// `rand` for `C_e`, then per target layer q, k, v, ffn; `None` when the width does not
    /// grow (`d2 == d1`).
    pub fn rand(
        l2: usize,
        d1: usize,
        d2: usize,
        hidden1: usize,
        hidden2: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Option<Self> {
        if d2 == d1 {
            return None;
        }
        let (e, eh) = (d2 - d1, hidden2 - hidden1);
        let mut c =
            |rows: usize, cols: usize| param(rand_rows(rows, cols, rng), [rows, cols], device);
        let embed = c(e, d1);
        let layers = (0..l2)
            .map(|_| LayerWidth {
                q: c(e, d1),
                k: c(e, d1),
                v: c(e, d1),
                ffn: c(eh, hidden1),
            })
            .collect();
        Some(WidthOperator { embed, layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn stackbert_rows_sum_to_one_and_favour_layer_i_mod_l1() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (l2, l1) = (5, 2);
        let c = stackbert_noisy(l2, l1, &mut rng);
        for i in 0..l2 {
            let row = &c[i * l1..(i + 1) * l1];
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            // 1 / (1 + at most 0.03) against at most 0.03 / 1
            assert!(row[i % l1] > 0.97, "{row:?}");
        }
        let r = rand_rows(3, 4, &mut rng);
        for row in r.chunks(4) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(row.iter().all(|&x| x >= 0.0));
        }
    }
}
