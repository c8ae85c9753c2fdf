//! Mimetic initialization (Trockman & Kolter, ICML 2023, arXiv 2305.09828; BASELINES.md §1):
//! data-free, closed-form attention weights whose products mimic those of trained ViTs.
//!
//! Per layer `l` and head `h`, with `Z` entries i.i.d. U(±√(3/D)) (mean 0, variance 1/D;
//! fresh per head and per layer) **[3p: osiriszjq/structured_init]**:
//! - `A = α1 Z + β1 I` (`[D, D]`), factored `A = L R` by an f64 SVD ([`crate::svd`]);
//!   `qkv.weight[h hd .. (h+1) hd, :] = (L[:, :hd])ᵀ` and
//!   `qkv.weight[D + h hd .. D + (h+1) hd, :] = R[:hd, :]`, so head h's `q kᵀ = x A_hd xᵀ`
//!   with `A_hd` the best rank-hd part of A;
//! - `A' = α2 Z' − β2 I`, factored `A' = L' R'`; `qkv.weight[2D .. 3D, :] = L'ᵀ` and
//!   `proj.weight = R'ᵀ`, so `x ↦ proj(v(x)) = x L' R' = x A'` exactly.
//!
//! Everything else, biases included, is timm's default init ([`Vit::new`]), position table too.
//!
//! Stated choices and deviations (BASELINES.md §1):
//! - the **transposed** V/proj assignment above; structured_init writes `V ← L'`, `proj ← R'`,
//!   which realises `(R' L')ᵀ`, not `A'` (only the trace agrees);
//! - α1 = β1 = 0.7 (structured_init's README "mimetic0.7_0.7"), α2 = β2 = 0.4 (hard-coded
//!   there); the paper's own values and distribution are unverified; uniform Z only;
//! - unlike structured_init, timm's `init_weights` for every other tensor, a class token and a
//!   learned position embedding (the random baseline's model, not structured_init's).

use std::collections::BTreeMap;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};
use serde::{Deserialize, Serialize};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

use crate::error::BaselineError;
use crate::svd::{balanced_factors, Factors};

/// The four mimetic constants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MimeticConfig {
    /// Scale of the noise in W_q W_kᵀ ≈ α1 Z + β1 I.
    pub alpha1: f64,
    /// Weight of the identity in W_q W_kᵀ.
    pub beta1: f64,
    /// Scale of the noise in W_v W_proj ≈ α2 Z' − β2 I.
    pub alpha2: f64,
    /// Weight of the (negative) identity in W_v W_proj.
    pub beta2: f64,
}

impl Default for MimeticConfig {
    /// structured_init's values: 0.7, 0.7, 0.4, 0.4.
    fn default() -> Self {
        MimeticConfig {
            alpha1: 0.7,
            beta1: 0.7,
            alpha2: 0.4,
            beta2: 0.4,
        }
    }
}

/// Stream tag of the Z draws (separate from the parts' stream of `Vit::new`).
const Z_STREAM: u64 = 0x006d_696d_6574_6963;

/// The products one layer's attention is set to mimic, row-major `[D, D]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerTargets {
    /// Per head, `A = α1 Z + β1 I` (q·kᵀ takes its best rank-hd part).
    pub qk: Vec<Vec<f64>>,
    /// `A' = α2 Z' − β2 I` (v then proj realises it exactly).
    pub vo: Vec<f64>,
}

/// The targets of every layer of a `depth x width` model with `heads` heads, drawn from
/// `seed`: per layer, one Z per head (in head order), then Z'.
pub fn targets(
    depth: usize,
    width: usize,
    heads: usize,
    m: &MimeticConfig,
    seed: u64,
) -> Vec<LayerTargets> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ Z_STREAM);
    let bound = (3.0 / width as f64).sqrt();
    let z = Uniform::new_inclusive(-bound, bound).expect("finite bound");
    let mut draw = |alpha: f64, beta: f64| -> Vec<f64> {
        (0..width * width)
            .map(|i| {
                let eye = if i / width == i % width { 1.0 } else { 0.0 };
                alpha * z.sample(&mut rng) + beta * eye
            })
            .collect()
    };
    (0..depth)
        .map(|_| LayerTargets {
            qk: (0..heads).map(|_| draw(m.alpha1, m.beta1)).collect(),
            vo: draw(m.alpha2, -m.beta2),
        })
        .collect()
}

/// A mimetic ViT of architecture `vit` (validated): timm's default init from `seed`
/// ([`Vit::new`]), then every layer's `qkv.weight` `[3D, D]` and `proj.weight` `[D, D]` set
/// from [`targets`] (module doc). Needs `D >= hd`, which every valid config has.
pub fn mimetic_vit(
    vit: &VitConfig,
    m: &MimeticConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit, BaselineError> {
    vit.validate()
        .map_err(|e| BaselineError::Invalid(format!("invalid architecture: {e}")))?;
    let (d, heads) = (vit.embed_dim, vit.num_heads);
    let layers = targets(vit.depth, d, heads, m, seed);
    // one batched SVD: per layer its heads' A, then A'
    let mats: Vec<Vec<f64>> = layers
        .iter()
        .flat_map(|t| t.qk.iter().chain(std::iter::once(&t.vo)).cloned())
        .collect();
    let factors = balanced_factors(&mats, d, device);
    let model = Vit::new(vit, seed, device);
    let mut tensors: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    for (l, f) in factors.chunks(heads + 1).enumerate() {
        let (qk, vo) = f.split_at(heads);
        let key = format!("blocks.{l}.attn.qkv.weight");
        let qkv = tensors.get_mut(&key).expect("a dense block has qkv");
        set_qkv(&mut qkv.values, d, qk, &vo[0]);
        let key = format!("blocks.{l}.attn.proj.weight");
        let proj = tensors.get_mut(&key).expect("a dense block has proj");
        proj.values = transposed(&vo[0].right, d);
    }
    load_named(model, &tensors).map_err(|e| BaselineError::Invalid(e.to_string()))
}

/// Writes the rows of `qkv` `[3D, D]`: head h's q rows `(L_h[:, :hd])ᵀ`, its k rows
/// `R_h[:hd, :]`, and the v rows `L'ᵀ`.
fn set_qkv(qkv: &mut [f32], d: usize, heads: &[Factors], vo: &Factors) {
    let hd = d / heads.len();
    for (h, f) in heads.iter().enumerate() {
        for j in 0..hd {
            let (q_row, k_row) = (h * hd + j, d + h * hd + j);
            for c in 0..d {
                qkv[q_row * d + c] = f.left[c * d + j] as f32;
                qkv[k_row * d + c] = f.right[j * d + c] as f32;
            }
        }
    }
    for r in 0..d {
        for c in 0..d {
            qkv[(2 * d + r) * d + c] = vo.left[c * d + r] as f32;
        }
    }
}

/// The transpose of a row-major `[n, n]` matrix, as f32.
fn transposed(m: &[f64], n: usize) -> Vec<f32> {
    (0..n * n).map(|i| m[(i % n) * n + i / n] as f32).collect()
}

/// Writes a mimetic model folder `out` (module doc) for architecture `vit` (its head, if any,
/// at timm's init), with `mean`/`std` in `config.json` and `init.json` last.
pub fn write_mimetic(
    vit: &VitConfig,
    m: &MimeticConfig,
    seed: u64,
    mean: Vec<f32>,
    std: Vec<f32>,
    out: &std::path::Path,
    device: &Device,
) -> Result<crate::BaselineRecord, BaselineError> {
    let started = std::time::Instant::now();
    crate::folder::refuse_existing(out)?;
    let model = mimetic_vit(vit, m, seed, device)?;
    let record = crate::BaselineRecord {
        method: crate::Method::Mimetic(m.clone()),
        source: None,
        vit: vit.clone(),
        parameters: 0,
        seed,
        mae_loss_before: None,
        mae_loss_after: None,
        seconds: 0.0,
    };
    crate::folder::write_folder(&model, vit, mean, std, out, record, started)
}
