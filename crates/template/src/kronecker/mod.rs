//! Kronecker weight templates, the WAVE baseline as this project reconstructs it
//! (../shared/BASELINES.md section 4): every layer's attention and MLP matrices are sums of
//! Kronecker products `W = sum_t S^(t) (x) T^(t)`, tile `(a, b)` of W (rows `a w1 ..`, columns
//! `b w2 ..`) being `sum_t S^(t)[a, b] T^(t)`.
//!
//! - Templates `T [N, w1, w2]`, one set per weight type (qkv, proj, fc1, fc2), shared by every
//!   layer and every model size; `w1 = w2 =` the tile (32, the head dim, so a tile row never
//!   leaves its head, nor its q, k or v segment).
//! - Scalers, per layer and type, `S [N, rows / w1, cols / w2]`: qkv `[N, 3D/w, D/w]`, proj
//!   `[N, D/w, D/w]`, fc1 `[N, 4D/w, D/w]`, fc2 `[N, D/w, 4D/w]`; widths are multiples of the
//!   tile.
//! - Init: `T ~ N(0, 0.02^2)`, `S ~ N(0, 1/N)`, so every composed entry (a sum of N products of
//!   independent factors) has variance `N 0.02^2 / N = 0.02^2`, timm's.
//!
//! Keys (the generator field adds no segment): `templates.{qkv,proj,fc1,fc2}` and
//! `scalers.<l>.{qkv,proj,fc1,fc2}`. Biases, norms, embeddings and the class token are the
//! ViT's ordinary parts, as with the Tucker template.
//!
//! - [`init`]: a target of another depth and width (zero-shot scalers).
//! - [`file`]: the Kronecker template file.

pub mod file;
pub mod init;

use burn::module::Param;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sweet_vit::names::HostTensor;
use sweet_vit::{BlockGenerator, LayerWeights, Vit, VitConfig};

use crate::factors::gaussian;
use crate::sws::SwsDraw;
use crate::TemplateError;

/// The project's tile (`w1 = w2`): the head dim of every model of the study.
pub const DEFAULT_TILE: usize = 32;
/// Templates per weight type (BASELINES.md section 4: 64 templates in all).
pub const DEFAULT_TEMPLATES: usize = 16;
/// Standard deviation of the templates' entries at init (timm's weight std).
pub const TEMPLATE_STD: f64 = 0.02;

/// The four weight types, in the order every file and loop uses.
pub const KINDS: [Kind; 4] = [Kind::Qkv, Kind::Proj, Kind::Fc1, Kind::Fc2];

/// One weight type: its name (the key leaf) and its shape at width D in tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `[3D, D]`, rows `[q | k | v]`.
    Qkv,
    /// `[D, D]`.
    Proj,
    /// `[4D, D]`.
    Fc1,
    /// `[D, 4D]`.
    Fc2,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Qkv => "qkv",
            Kind::Proj => "proj",
            Kind::Fc1 => "fc1",
            Kind::Fc2 => "fc2",
        }
    }

    /// `(row segments, column segments)` of width D each: qkv (3, 1), proj (1, 1), fc1 (4, 1),
    /// fc2 (1, 4).
    pub fn segments(self) -> (usize, usize) {
        match self {
            Kind::Qkv => (3, 1),
            Kind::Proj => (1, 1),
            Kind::Fc1 => (4, 1),
            Kind::Fc2 => (1, 4),
        }
    }

    /// The scaler's tile grid `[rows, cols]` at width `d` with tile `w`.
    pub fn grid(self, d: usize, w: usize) -> [usize; 2] {
        let (r, c) = self.segments();
        [r * d / w, c * d / w]
    }
}

/// Shapes of a ViT whose block weights Kronecker templates compose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KroneckerConfig {
    /// The dense architecture (mlp_ratio 4, width a multiple of the tile).
    pub vit: VitConfig,
    /// Templates per weight type, N.
    pub templates: usize,
    /// Template size `w1 = w2`.
    pub tile: usize,
}

impl KroneckerConfig {
    /// N = 16 templates of 32 x 32 per type (BASELINES.md section 4).
    pub fn with_defaults(vit: VitConfig) -> Self {
        KroneckerConfig {
            vit,
            templates: DEFAULT_TEMPLATES,
            tile: DEFAULT_TILE,
        }
    }

    pub fn validate(&self) -> Result<(), TemplateError> {
        self.vit.validate()?;
        if self.vit.mlp_ratio != 4.0 {
            return Err(TemplateError::MlpRatio(self.vit.mlp_ratio));
        }
        if self.templates == 0 || self.tile == 0 {
            return Err(TemplateError::Invalid(format!(
                "Kronecker templates need at least one template and a tile of at least 1, got \
                 {} templates of {}",
                self.templates, self.tile
            )));
        }
        check_width(self.vit.embed_dim, self.tile).map_err(TemplateError::Invalid)
    }

    /// Parameters the templates hold (4 N w^2), the part every model size shares.
    pub fn template_params(&self) -> usize {
        KINDS.len() * self.templates * self.tile * self.tile
    }

    /// Scaler parameters of one model of this size (`12 (D/w)^2 N` per layer).
    pub fn scaler_params(&self) -> usize {
        let (d, w) = (self.vit.embed_dim, self.tile);
        let per_layer: usize = KINDS
            .iter()
            .map(|k| k.grid(d, w).iter().product::<usize>())
            .sum();
        self.vit.depth * self.templates * per_layer
    }
}

/// A width the tile divides, or an error listing the widths that work.
pub fn check_width(width: usize, tile: usize) -> Result<(), String> {
    if width > 0 && tile > 0 && width.is_multiple_of(tile) {
        return Ok(());
    }
    let works: Vec<String> = (1..=8).map(|k| (k * tile).to_string()).collect();
    Err(format!(
        "width {width} is not a multiple of the Kronecker tile {tile}: widths that work are {}, \
         ...",
        works.join(", ")
    ))
}

/// `sum_t S^(t) (x) T^(t)`: s `[N, a, b]`, t `[N, w1, w2]` -> `[a w1, b w2]`, tile `(i, j)`
/// being `sum_t s[t, i, j] t[t]`. One matrix product (`[a b, N] x [N, w1 w2]`), then the tiles
/// put in place by one permutation; no slicing, so its backward costs as much as its forward.
pub fn kron_sum(s: Tensor<3>, t: Tensor<3>) -> Tensor<2> {
    let [n, a, b] = s.dims();
    let [nt, w1, w2] = t.dims();
    assert_eq!(n, nt, "scalers for {n} templates, {nt} templates given");
    s.reshape([n, a * b])
        .transpose()
        .matmul(t.reshape([n, w1 * w2]))
        .reshape([a, b, w1, w2])
        .swap_dims(1, 2)
        .reshape([a * w1, b * w2])
}

/// The templates of every weight type, `[N, w, w]` each.
#[derive(Module, Debug)]
pub struct Templates {
    pub qkv: Param<Tensor<3>>,
    pub proj: Param<Tensor<3>>,
    pub fc1: Param<Tensor<3>>,
    pub fc2: Param<Tensor<3>>,
}

/// One layer's scalers, `[N, rows / w, cols / w]` per weight type.
#[derive(Module, Debug)]
pub struct LayerScalers {
    pub qkv: Param<Tensor<3>>,
    pub proj: Param<Tensor<3>>,
    pub fc1: Param<Tensor<3>>,
    pub fc2: Param<Tensor<3>>,
}

impl Templates {
    pub fn get(&self, k: Kind) -> &Param<Tensor<3>> {
        match k {
            Kind::Qkv => &self.qkv,
            Kind::Proj => &self.proj,
            Kind::Fc1 => &self.fc1,
            Kind::Fc2 => &self.fc2,
        }
    }

    /// The same templates frozen (no gradient: the optimizer leaves them bit for bit).
    pub fn frozen(self) -> Self {
        Templates {
            qkv: self.qkv.set_require_grad(false),
            proj: self.proj.set_require_grad(false),
            fc1: self.fc1.set_require_grad(false),
            fc2: self.fc2.set_require_grad(false),
        }
    }
}

impl LayerScalers {
    pub fn get(&self, k: Kind) -> &Param<Tensor<3>> {
        match k {
            Kind::Qkv => &self.qkv,
            Kind::Proj => &self.proj,
            Kind::Fc1 => &self.fc1,
            Kind::Fc2 => &self.fc2,
        }
    }

    /// Scalers from host tensors in [`KINDS`] order.
    pub fn from_host(t: [HostTensor; 4], device: &Device) -> Self {
        let [qkv, proj, fc1, fc2] = t.map(|h| Param::from_tensor(h.to_tensor(device)));
        LayerScalers {
            qkv,
            proj,
            fc1,
            fc2,
        }
    }
}

/// The Kronecker generator of one size: the shared templates and that size's scalers.
#[derive(Module, Debug)]
pub struct Kronecker {
    pub templates: Templates,
    /// One set per layer (composing layer by layer: no slice of a stacked tensor).
    pub scalers: Vec<LayerScalers>,
}

impl Kronecker {
    /// Fresh templates (`N(0, 0.02^2)`, qkv, proj, fc1, fc2 in turn), then every layer's
    /// scalers (`N(0, 1/N)`, layer by layer, in the same type order), drawn from `rng`.
    pub fn new(cfg: &KroneckerConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let (n, w, d) = (cfg.templates, cfg.tile, cfg.vit.embed_dim);
        let mut draw = |shape: [usize; 3], std: f64| {
            let values = gaussian(shape.iter().product(), std, rng);
            Param::from_tensor(
                HostTensor {
                    shape: shape.to_vec(),
                    values,
                }
                .to_tensor(device),
            )
        };
        let [qkv, proj, fc1, fc2] = KINDS.map(|_| draw([n, w, w], TEMPLATE_STD));
        let templates = Templates {
            qkv,
            proj,
            fc1,
            fc2,
        };
        let s_std = 1.0 / (n as f64).sqrt();
        let scalers = (0..cfg.vit.depth)
            .map(|_| {
                let [qkv, proj, fc1, fc2] = KINDS.map(|k| {
                    let [a, b] = k.grid(d, w);
                    draw([n, a, b], s_std)
                });
                LayerScalers {
                    qkv,
                    proj,
                    fc1,
                    fc2,
                }
            })
            .collect();
        Kronecker { templates, scalers }
    }

    /// Every layer's weights, composed layer by layer.
    pub fn compose(&self) -> Vec<LayerWeights> {
        let t = KINDS.map(|k| self.templates.get(k).val());
        self.scalers
            .iter()
            .map(|s| {
                let [qkv, proj, fc1, fc2] =
                    std::array::from_fn(|i| kron_sum(s.get(KINDS[i]).val(), t[i].clone()));
                LayerWeights {
                    qkv,
                    proj,
                    fc1,
                    fc2,
                }
            })
            .collect()
    }
}

impl BlockGenerator for Kronecker {
    /// Kronecker templates have no training draw (SWS is the Tucker template's); the draw is
    /// accepted so that every generator of a pre-training shares one type.
    type Draw = SwsDraw;

    fn layers(&self, _draw: &SwsDraw) -> Vec<LayerWeights> {
        self.compose()
    }
}

/// A ViT whose blocks Kronecker templates compose: the ViT parts with timm's init and fresh
/// templates and scalers, drawn from a stream seeded by the parts' stream at the generator's
/// place in the draw order ([`Vit::with_generator`]).
pub fn kronecker_vit(
    cfg: &KroneckerConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit<Kronecker>, TemplateError> {
    cfg.validate()?;
    Ok(Vit::with_generator(&cfg.vit, seed, device, |init| {
        let mut rng = ChaCha8Rng::seed_from_u64(init.next_seed());
        Kronecker::new(cfg, &mut rng, device)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t3(shape: [usize; 3], values: Vec<f32>) -> Tensor<3> {
        HostTensor {
            shape: shape.to_vec(),
            values,
        }
        .to_tensor(&Device::default())
    }

    #[test]
    fn grids_and_widths() {
        assert_eq!(Kind::Qkv.grid(128, 32), [12, 4]);
        assert_eq!(Kind::Fc2.grid(128, 32), [4, 16]);
        assert!(check_width(96, 32).is_ok());
        let e = check_width(80, 32).unwrap_err();
        assert!(e.contains("32, 64, 96, 128, 160, 192"), "{e}");
    }

    #[test]
    fn kron_sum_places_tiles_row_major() {
        // one template [[1, 2], [3, 4]], scalers [[1, 10]]: W = [T, 10 T]
        let w = kron_sum(
            t3([1, 1, 2], vec![1., 10.]),
            t3([1, 2, 2], vec![1., 2., 3., 4.]),
        );
        assert_eq!(w.dims(), [2, 4]);
        assert_eq!(
            HostTensor::from_tensor(&w).values,
            [1., 2., 10., 20., 3., 4., 30., 40.]
        );
    }
}
