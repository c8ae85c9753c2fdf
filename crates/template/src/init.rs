//! Initializing a target model of depth L' and width D' from a pre-trained template
//! (METHOD.md section 5, step 1-2): new scalers mapped from the template's, the ViT parts mapped
//! by the same rules, and G kept as it is (frozen, bit for bit).
//!
//! - **Depth** ([`depth_source`]): target layer l takes source position `l (L0-1) / (L'-1)`,
//!   blending its two neighbours linearly; the rows of X per block type (row `12 l + c`) and
//!   every per-layer part (norms, biases) alike, deeper or shallower.
//! - **Width** ([`WidthRule`]): for `D' <= D0`, `rows` keeps the first D' rows of U and V (what
//!   channel SWS trains) and `ranks` also keeps only the leading `k = ceil(r D' / D0)` fibres
//!   (what nested SWS trains; the generator composes them rescaled, see
//!   [`crate::Scalers::layers`]); for `D' > D0` the trained rows, then new rows drawn at the
//!   standard deviation of the trained entries. Non-templated parts follow
//!   [`sweet_vit::width::fit_host`] (first channels of every chunk; new channels at timm's init).
//! - The sin-cos position table is recomputed at D', never sliced; a learned one is fitted.
//! - The head is fresh (timm's init) for the target's classes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use burn::module::{Module, Param};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::width::fit_host;
use sweet_vit::{PosEmbedKind, Vit, VitConfig};

use crate::config::{TemplateConfig, BLOCKS_PER_LAYER};
use crate::factors::gaussian;
use crate::generator::{Scalers, Tucker};
use crate::sws::SwsMode;
use crate::TemplatedVit;

/// How U and V are cut for a target narrower than the template (METHOD.md section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WidthRule {
    /// The first D' rows of U and V, every rank kept: what `--sws channels` trains.
    Rows,
    /// The first D' rows and the leading `ceil(r D' / D0)` fibres of G, U and V, rescaled:
    /// what `--sws nested` trains.
    #[default]
    Ranks,
}

impl WidthRule {
    pub fn name(self) -> &'static str {
        match self {
            WidthRule::Rows => "rows",
            WidthRule::Ranks => "ranks",
        }
    }

    /// The width rule that matches how a template was trained: `ranks` after nested SWS,
    /// `rows` otherwise.
    pub fn matching(sws: SwsMode) -> Self {
        match sws {
            SwsMode::Nested => WidthRule::Ranks,
            _ => WidthRule::Rows,
        }
    }
}

impl fmt::Display for WidthRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WidthRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rows" => Ok(WidthRule::Rows),
            "ranks" => Ok(WidthRule::Ranks),
            _ => Err(format!("unknown width rule `{s}` (expected rows or ranks)")),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InitError {
    #[error("{0}")]
    Invalid(String),
}

/// The head count of a target of width `width`: `heads` if given (it must divide the width),
/// else `width / head_dim` with the template's head dim; a width the head dim does not divide
/// is an error listing widths that work.
pub fn target_heads(
    template: &VitConfig,
    width: usize,
    heads: Option<usize>,
) -> Result<usize, InitError> {
    if let Some(h) = heads {
        if h == 0 || !width.is_multiple_of(h) {
            return Err(InitError::Invalid(format!(
                "--heads {h} does not divide --width {width}"
            )));
        }
        return Ok(h);
    }
    let hd = template.head_dim();
    if width == 0 || !width.is_multiple_of(hd) {
        let works: Vec<String> = (1..=8).map(|k| (k * hd).to_string()).collect();
        return Err(InitError::Invalid(format!(
            "--width {width} is not a multiple of the template's head dim {hd}: widths that work \
             are {}, ...; or give --heads for another head dim",
            works.join(", ")
        )));
    }
    Ok(width / hd)
}

/// Which source layers target layer `l` of `l_dst` blends, and how: `(i0, i1, t)` with the
/// value `(1 - t) src[i0] + t src[i1]`, from position `l (l_src - 1) / (l_dst - 1)` (exact
/// integer arithmetic, so `t = 0` at whole positions and the endpoints map to the endpoints).
pub fn depth_source(l: usize, l_src: usize, l_dst: usize) -> (usize, usize, f32) {
    if l_dst <= 1 || l_src <= 1 {
        return (0, 0, 0.0);
    }
    let (num, den) = (l * (l_src - 1), l_dst - 1);
    let (i0, rem) = (num / den, num % den);
    ((i0), (i0 + 1).min(l_src - 1), rem as f32 / den as f32)
}

/// `(1 - t) a + t b` entry by entry; `a` itself when `t = 0`.
pub(crate) fn blend(a: &HostTensor, b: &HostTensor, t: f32) -> HostTensor {
    if t == 0.0 {
        return a.clone();
    }
    HostTensor {
        shape: a.shape.clone(),
        values: a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| (1.0 - t) * x + t * y)
            .collect(),
    }
}

/// X `[12 L0, r1]` -> X' `[12 L', r1]`: row `12 l + c` blends rows `12 i0 + c` and `12 i1 + c`
/// ([`depth_source`]), per block type c.
pub fn interpolate_depth(x: &HostTensor, l_dst: usize) -> HostTensor {
    let (rows, r1) = (x.shape[0], x.shape[1]);
    let l_src = rows / BLOCKS_PER_LAYER;
    let row = |i: usize| HostTensor {
        shape: vec![r1],
        values: x.values[i * r1..(i + 1) * r1].to_vec(),
    };
    let mut values = Vec::with_capacity(BLOCKS_PER_LAYER * l_dst * r1);
    for l in 0..l_dst {
        let (i0, i1, t) = depth_source(l, l_src, l_dst);
        for c in 0..BLOCKS_PER_LAYER {
            let r = blend(
                &row(BLOCKS_PER_LAYER * i0 + c),
                &row(BLOCKS_PER_LAYER * i1 + c),
                t,
            );
            values.extend(r.values);
        }
    }
    HostTensor {
        shape: vec![BLOCKS_PER_LAYER * l_dst, r1],
        values,
    }
}

/// U or V `[D0, r]` -> `[D', k]`: the first `min(D0, D')` rows, then (growing) rows drawn from
/// N(0, s^2) with s the standard deviation of the trained entries; the first `k` columns.
pub fn map_basis(m: &HostTensor, d_dst: usize, k: usize, rng: &mut ChaCha8Rng) -> HostTensor {
    let (d_src, r) = (m.shape[0], m.shape[1]);
    let keep = d_src.min(d_dst);
    let mut values: Vec<f32> = m.values[..keep * r].to_vec();
    if d_dst > d_src {
        let n = m.values.len() as f64;
        let mean = m.values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = m
            .values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        values.extend(gaussian((d_dst - d_src) * r, var.sqrt(), rng));
    }
    let values = values
        .chunks(r)
        .flat_map(|row| row[..k].iter().copied())
        .collect();
    HostTensor {
        shape: vec![d_dst, k],
        values,
    }
}

/// The fibres kept of a rank `r` at width `d_dst` of a template of width `d_src`:
/// `ceil(r d_dst / d_src)` under `ranks` when narrower, else all of them.
pub fn kept_rank(r: usize, d_src: usize, d_dst: usize, rule: WidthRule) -> usize {
    match rule {
        WidthRule::Ranks if d_dst < d_src => (r * d_dst).div_ceil(d_src).clamp(1, r),
        _ => r,
    }
}

/// The target's scalers mapped from the template's (module doc), on `device`.
pub fn map_scalers(
    scalers: &Scalers,
    depth: usize,
    width: usize,
    rule: WidthRule,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Scalers {
    let x = HostTensor::from_tensor(&scalers.depth.val());
    let u = HostTensor::from_tensor(&scalers.inner.val());
    let v = HostTensor::from_tensor(&scalers.residual.val());
    let d_src = u.shape[0];
    let k2 = kept_rank(u.shape[1], d_src, width, rule);
    let k3 = kept_rank(v.shape[1], d_src, width, rule);
    let p = |h: HostTensor| Param::from_tensor(h.to_tensor(device));
    Scalers {
        depth: p(interpolate_depth(&x, depth)),
        inner: p(map_basis(&u, width, k2, rng)),
        residual: p(map_basis(&v, width, k3, rng)),
    }
}

/// The target's config: the template's architecture at depth `depth`, width `width`, `heads`
/// heads and `classes` outputs, with the template's ranks and orientation and no SWS (scaler
/// learning runs SWS off).
pub fn target_config(
    template: &TemplateConfig,
    depth: usize,
    width: usize,
    heads: usize,
    classes: usize,
) -> TemplateConfig {
    TemplateConfig {
        vit: VitConfig {
            depth,
            embed_dim: width,
            num_heads: heads,
            num_classes: classes,
            ..template.vit.clone()
        },
        ranks: template.ranks,
        orientation: template.orientation,
        sws: SwsMode::Off,
    }
}

/// Initializes the target `target` (from [`target_config`]) from the pre-trained `template`:
/// G shared as it is, mapped scalers and parts (module doc), new channels and the head at
/// timm's init drawn from `seed`, and new U/V rows from a stream seeded by it too.
pub fn init_from_template(
    template: &TemplatedVit,
    target: &TemplateConfig,
    rule: WidthRule,
    seed: u64,
    device: &Device,
) -> Result<Vit<Tucker>, InitError> {
    target
        .validate()
        .map_err(|e| InitError::Invalid(format!("target model: {e}")))?;
    let src = template;
    let (d_dst, l_dst) = (target.vit.embed_dim, target.vit.depth);
    if src.grid != target.vit.grid() {
        return Err(InitError::Invalid(format!(
            "the target's patch grid {:?} differs from the template's {:?}",
            target.vit.grid(),
            src.grid
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ca1e5);
    let scalers = map_scalers(&src.generator.scalers, l_dst, d_dst, rule, &mut rng, device);
    let generator = Tucker {
        template: Param::from_tensor(src.generator.template.val()),
        scalers,
        orientation: src.generator.orientation,
    };
    let fresh = Vit::with_generator(&target.vit, seed, device, |_| generator);
    map_parts(src, fresh)
}

/// `fresh` (the target: its generator already mapped, its parts at timm's init) with the
/// ordinary parts of `src` mapped onto it: per-layer parts blended along depth, every part
/// fitted in width by [`fit_host`] (new channels from `fresh`); the generator's own keys, the
/// head, `fc_norm` and a sin-cos position table (then recomputed at the target's width) stay
/// `fresh`'s. Whatever generators `src` and `fresh` hold (a Tucker template, Kronecker
/// templates), the parts follow the same rules.
pub fn map_parts<S: Module, G: Module>(src: &Vit<S>, fresh: Vit<G>) -> Result<Vit<G>, InitError>
where
    Vit<S>: Module,
    Vit<G>: Module,
{
    let (d_src, d_dst) = (src.embed_dim(), fresh.embed_dim());
    let (l_src, l_dst) = (src.blocks.len(), fresh.blocks.len());
    let generator: BTreeSet<String> = named_shapes(&fresh.generator)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let source: BTreeMap<String, HostTensor> = named_tensors(src).into_iter().collect();
    let mut mapped = BTreeMap::new();
    for (key, fresh_t) in named_tensors(&fresh) {
        let is_generator = generator.contains(&key);
        let keep_fresh = key.starts_with("head.")
            || key.starts_with("fc_norm.")
            || (key == "pos_embed" && src.pos_kind == PosEmbedKind::SinCos);
        let value = if is_generator || keep_fresh {
            fresh_t
        } else {
            let from = source_part(&source, &key, l_src, l_dst)?;
            fit_host(&from, &fresh_t, d_src, d_dst)
                .map_err(|e| InitError::Invalid(format!("{key}: {e}")))?
        };
        mapped.insert(key, value);
    }
    let model = load_named(fresh, &mapped).map_err(|e| InitError::Invalid(e.to_string()))?;
    Ok(match src.pos_kind {
        PosEmbedKind::SinCos => model.with_sincos_pos_embed(),
        PosEmbedKind::Learned => model,
    })
}

/// The template's value for target part `key`: per-layer parts (`blocks.l.*`) blended along
/// depth, every other part as it is.
fn source_part(
    source: &BTreeMap<String, HostTensor>,
    key: &str,
    l_src: usize,
    l_dst: usize,
) -> Result<HostTensor, InitError> {
    let get = |k: &str| {
        source.get(k).ok_or_else(|| {
            InitError::Invalid(format!("the template has no {k} for the target's {key}"))
        })
    };
    let Some(rest) = key.strip_prefix("blocks.") else {
        return get(key).cloned();
    };
    let (layer, leaf) = rest
        .split_once('.')
        .ok_or_else(|| InitError::Invalid(format!("odd key {key}")))?;
    let l: usize = layer
        .parse()
        .map_err(|_| InitError::Invalid(format!("odd key {key}")))?;
    let (i0, i1, t) = depth_source(l, l_src, l_dst);
    Ok(blend(
        get(&format!("blocks.{i0}.{leaf}"))?,
        get(&format!("blocks.{i1}.{leaf}"))?,
        t,
    ))
}
