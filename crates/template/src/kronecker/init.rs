//! A target of depth L' and width D' from Kronecker templates (BASELINES.md section 4): the
//! templates shared as they are, the target's scalers mapped from the aux net's (the zero-shot
//! rule), the ordinary parts by SWEET's rules ([`crate::init::map_parts`]).
//!
//! Zero-shot scalers, per weight type and template t:
//! - **depth**: target layer l blends the aux's layers `i0`, `i1` of
//!   [`depth_source`](crate::init::depth_source) (relative depth, as SWEET's X);
//! - **width**: in tiles, per segment ([`sweet_vit::width::fit_host`] on the tile grid): qkv's
//!   rows are three segments q | k | v of `D/w` tiles each, fc1's rows and fc2's columns four
//!   hidden segments, every other axis one; each segment keeps its first `D'/w` tiles, or
//!   (growing) its trained tiles then new ones drawn from `N(0, s^2)`, s the standard deviation
//!   of that layer's mapped scalers of that type and template (SWEET's rule for new U/V rows).
//!
//! At the aux's own size the mapping is the identity, bit for bit.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_vit::names::HostTensor;
use sweet_vit::width::fit_host;
use sweet_vit::Vit;

use super::{check_width, Kind, Kronecker, KroneckerConfig, LayerScalers, Templates, KINDS};
use crate::factors::gaussian;
use crate::init::{blend, depth_source, map_parts, InitError};

/// The aux's scalers of every layer on the host, `[N, a, b]` per type in [`KINDS`] order.
pub fn host_scalers(scalers: &[LayerScalers]) -> Vec<[HostTensor; 4]> {
    scalers
        .iter()
        .map(|s| KINDS.map(|k| HostTensor::from_tensor(&s.get(k).val())))
        .collect()
}

/// Population standard deviation of `values` (0 for none).
fn std_of(values: &[f32]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// One scaler `[N, a, b]` of type `kind` at `d_src` tiles of width fitted to `d_dst` tiles, per
/// segment (module doc); new tiles of template t from `N(0, s_t^2)` with `s_t` the std of
/// `s[t]`, drawn from `rng` only when growing.
pub fn fit_scaler(
    s: &HostTensor,
    kind: Kind,
    d_src: usize,
    d_dst: usize,
    rng: &mut ChaCha8Rng,
) -> Result<HostTensor, String> {
    let n = s.shape[0];
    let (r, c) = kind.segments();
    let (a, b) = (r * d_dst, c * d_dst);
    let per = s.values.len() / n.max(1);
    let values = if d_dst > d_src {
        (0..n)
            .flat_map(|t| {
                let std = std_of(&s.values[t * per..(t + 1) * per]);
                gaussian(a * b, std, rng)
            })
            .collect()
    } else {
        vec![0.0; n * a * b]
    };
    let fresh = HostTensor {
        shape: vec![n, a, b],
        values,
    };
    fit_host(s, &fresh, d_src, d_dst).map_err(|e| format!("{} scalers: {e}", kind.name()))
}

/// The target's scalers (module doc): `depth` layers at `width`, from the aux's scalers at
/// `d_src` with tile `tile`.
pub fn map_scalers(
    src: &[[HostTensor; 4]],
    tile: usize,
    d_src: usize,
    depth: usize,
    width: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<[HostTensor; 4]>, String> {
    check_width(width, tile)?;
    let l_src = src.len();
    let (ts, td) = (d_src / tile, width / tile);
    (0..depth)
        .map(|l| {
            let (i0, i1, t) = depth_source(l, l_src, depth);
            let mut out = Vec::with_capacity(KINDS.len());
            for (j, &kind) in KINDS.iter().enumerate() {
                let blended = blend(&src[i0][j], &src[i1][j], t);
                out.push(fit_scaler(&blended, kind, ts, td, rng)?);
            }
            Ok(out.try_into().expect("four kinds"))
        })
        .collect()
}

/// Initializes the target `target` from the aux net `aux`: the templates copied, mapped scalers
/// (module doc), the parts mapped as SWEET maps them (new channels and the head at timm's init
/// from `seed`; new scaler tiles from a stream seeded by it too).
pub fn init_from_kronecker(
    aux: &Vit<Kronecker>,
    aux_cfg: &KroneckerConfig,
    target: &KroneckerConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit<Kronecker>, InitError> {
    let invalid = |e: String| InitError::Invalid(e);
    target
        .validate()
        .map_err(|e| invalid(format!("target model: {e}")))?;
    if (target.templates, target.tile) != (aux_cfg.templates, aux_cfg.tile) {
        return Err(invalid(format!(
            "the target needs the aux's {} templates of {} per type, not {} of {}",
            aux_cfg.templates, aux_cfg.tile, target.templates, target.tile
        )));
    }
    if aux.grid != target.vit.grid() {
        return Err(invalid(format!(
            "the target's patch grid {:?} differs from the aux's {:?}",
            target.vit.grid(),
            aux.grid
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ca1e5);
    let scalers = map_scalers(
        &host_scalers(&aux.generator.scalers),
        aux_cfg.tile,
        aux.embed_dim(),
        target.vit.depth,
        target.vit.embed_dim,
        &mut rng,
    )
    .map_err(invalid)?;
    let copy = |p: &burn::module::Param<Tensor<3>>| burn::module::Param::from_tensor(p.val());
    let t = &aux.generator.templates;
    let generator = Kronecker {
        templates: Templates {
            qkv: copy(&t.qkv),
            proj: copy(&t.proj),
            fc1: copy(&t.fc1),
            fc2: copy(&t.fc2),
        },
        scalers: scalers
            .into_iter()
            .map(|s| LayerScalers::from_host(s, device))
            .collect(),
    };
    let fresh = Vit::with_generator(&target.vit, seed, device, |_| generator);
    map_parts(aux, fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qkv_cut_keeps_the_first_tiles_of_q_k_and_v() {
        // qkv scalers of one template at 2 tiles of width: rows q0 q1 | k0 k1 | v0 v1, columns
        // c0 c1; entry = 100 segment + 10 row + column
        let values = (0..3)
            .flat_map(|seg| {
                (0..2).flat_map(move |r| (0..2).map(move |c| (100 * seg + 10 * r + c) as f32))
            })
            .collect();
        let s = HostTensor {
            shape: vec![1, 6, 2],
            values,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let cut = fit_scaler(&s, Kind::Qkv, 2, 1, &mut rng).unwrap();
        assert_eq!(cut.shape, [1, 3, 1]);
        assert_eq!(cut.values, [0., 100., 200.], "q0, k0, v0 at column 0");
        // growing to 3 tiles: each segment keeps its two rows, then one new row
        let grown = fit_scaler(&s, Kind::Qkv, 2, 3, &mut rng).unwrap();
        assert_eq!(grown.shape, [1, 9, 3]);
        for seg in 0..3 {
            for r in 0..2 {
                let row = &grown.values[(3 * seg + r) * 3..(3 * seg + r) * 3 + 2];
                let want = [(100 * seg + 10 * r) as f32, (100 * seg + 10 * r + 1) as f32];
                assert_eq!(row, want, "segment {seg} row {r}");
            }
        }
    }
}
