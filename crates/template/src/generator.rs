//! Block generators made of a template: the Tucker template with one size's scalers
//! ([`Tucker`]), one template shared by several sizes ([`SharedTemplate`]), and the enum of
//! every generator a pre-training can train ([`Generator`], configured by
//! [`GeneratorConfig`]).
//!
//! A generator produces each layer's attention and MLP weights under one training draw; the
//! ordinary parts (embeddings, norms, biases, head) are the [`Vit`]'s, whatever the generator.

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sweet_vit::names::HostTensor;
use sweet_vit::width::first;
use sweet_vit::{BlockGenerator, DenseBlocks, EncoderView, LayerWeights, Vit};

use crate::config::{Orientation, TemplateConfig};
use crate::factors::{gaussian, orthonormal, template_std};
use crate::kronecker::{kronecker_vit, Kronecker, KroneckerConfig};
use crate::linear_expansion::{linear_expansion_vit, LinearExpansion};
use crate::sws::SwsDraw;
use crate::tucker::compose_layers;

/// One size's scalers.
#[derive(Module, Debug)]
pub struct Scalers {
    /// X `[12L, r1]`.
    pub depth: Param<Tensor<2>>,
    /// U `[D, r2]` (inner / head and hidden channels).
    pub inner: Param<Tensor<2>>,
    /// V `[D, r3]` (residual stream).
    pub residual: Param<Tensor<2>>,
}

impl Scalers {
    /// Fresh scalers at timm's scale (METHOD.md section 4): X ~ N(0, 1/r1), U and V with
    /// orthonormal columns.
    pub fn new(cfg: &TemplateConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let d = cfg.vit.embed_dim;
        let [r1, r2, r3] = cfg.ranks;
        let n = cfg.num_blocks();
        let p = |values: Vec<f32>, shape: Vec<usize>| {
            Param::from_tensor(HostTensor { shape, values }.to_tensor(device))
        };
        Scalers {
            depth: p(gaussian(n * r1, 1.0 / (r1 as f64).sqrt(), rng), vec![n, r1]),
            inner: p(orthonormal(d, r2, rng), vec![d, r2]),
            residual: p(orthonormal(d, r3, rng), vec![d, r3]),
        }
    }

    /// Every layer's weights composed from `g` `[r1, r2, r3]` and these scalers under `draw`:
    /// nested keeps the leading `k2 x k3` fibres (rescaled by `sqrt(r2 r3 / (k2 k3))`), fibre
    /// scales them, channels keeps the first `w` rows of U and V (weights of width w).
    ///
    /// Scalers with fewer columns than G has fibres (U `[D, k2]`, V `[D, k3]`, `k2 <= r2`,
    /// `k3 <= r3`: the `ranks` width rule of initialization) compose with G's leading `k2 x k3`
    /// fibres rescaled exactly as nested SWS does, so such a model is what nested SWS trained;
    /// a draw then acts within those fibres.
    pub fn layers(
        &self,
        g: Tensor<3>,
        draw: &SwsDraw,
        orientation: Orientation,
    ) -> Vec<LayerWeights> {
        let (x, u, v) = (self.depth.val(), self.inner.val(), self.residual.val());
        let g = leading_fibres(g, u.dims()[1], v.dims()[1]);
        let [_, r2, r3] = g.dims();
        match draw {
            SwsDraw::Full => compose_layers(g, x, u, v, orientation),
            SwsDraw::Nested { k2, k3 } => {
                let (k2, k3) = ((*k2).min(r2), (*k3).min(r3));
                let g = leading_fibres(g, k2, k3);
                compose_layers(g, x, u.narrow(1, 0, k2), v.narrow(1, 0, k3), orientation)
            }
            SwsDraw::Fibre { s2, s3 } => {
                let device = u.device();
                let s = |s: &[f32], r: usize| {
                    Tensor::<1>::from_data(TensorData::new(s[..r].to_vec(), [r]), &device)
                        .reshape([1, r])
                };
                compose_layers(g, x, u * s(s2, r2), v * s(s3, r3), orientation)
            }
            SwsDraw::Channels { width } => {
                // The width rule for the scalers: the first w rows of U and V.
                let w = (*width).min(u.dims()[0]);
                compose_layers(g, x, first(u, 0, w), first(v, 0, w), orientation)
            }
        }
    }
}

/// G's leading `k2 x k3` fibres of modes 2 and 3, rescaled by `sqrt(r2 r3 / (k2 k3))` (nested
/// SWS's rule); G itself when `k2 = r2` and `k3 = r3`. `[r1, r2, r3]` -> `[r1, k2, k3]`.
pub fn leading_fibres(g: Tensor<3>, k2: usize, k3: usize) -> Tensor<3> {
    let [_, r2, r3] = g.dims();
    let (k2, k3) = (k2.min(r2), k3.min(r3));
    if (k2, k3) == (r2, r3) {
        return g;
    }
    let scale = ((r2 * r3) as f64 / (k2 * k3) as f64).sqrt();
    g.narrow(1, 0, k2).narrow(2, 0, k3) * scale
}

/// The SWEET generator of one size: the template G and that size's scalers.
#[derive(Module, Debug)]
pub struct Tucker {
    /// G `[r1, r2, r3]`, shared by every model size.
    pub template: Param<Tensor<3>>,
    pub scalers: Scalers,
    #[module(skip)]
    pub orientation: Orientation,
}

impl Tucker {
    /// Fresh factors (METHOD.md section 4), drawn from `rng`: G first, then the scalers.
    pub fn new(cfg: &TemplateConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let d = cfg.vit.embed_dim;
        let [r1, r2, r3] = cfg.ranks;
        let g = HostTensor {
            shape: vec![r1, r2, r3],
            values: gaussian(r1 * r2 * r3, template_std(d, r2, r3), rng),
        };
        Tucker {
            template: Param::from_tensor(g.to_tensor(device)),
            scalers: Scalers::new(cfg, rng, device),
            orientation: cfg.orientation,
        }
    }
}

impl BlockGenerator for Tucker {
    type Draw = SwsDraw;

    fn layers(&self, draw: &SwsDraw) -> Vec<LayerWeights> {
        self.scalers
            .layers(self.template.val(), draw, self.orientation)
    }
}

/// A ViT whose blocks the template composes: the ViT parts with timm's init and fresh factors.
/// The factors are drawn from a stream seeded by the parts' stream, at the generator's place
/// in the draw order ([`Vit::with_generator`]).
pub fn templated_vit(
    cfg: &TemplateConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit<Tucker>, crate::TemplateError> {
    cfg.validate()?;
    Ok(Vit::with_generator(&cfg.vit, seed, device, |init| {
        let mut rng = ChaCha8Rng::seed_from_u64(init.next_seed());
        Tucker::new(cfg, &mut rng, device)
    }))
}

/// Several sizes trained at once with one template (METHOD.md section 4, last paragraph):
/// one G, and per size its own scalers and ViT parts. Keys: `template`, then
/// `sizes.<k>.scalers.*` and `sizes.<k>.<timm key>` for size k.
#[derive(Module, Debug)]
pub struct SharedTemplate {
    /// G `[r1, r2, r3]`.
    pub template: Param<Tensor<3>>,
    pub sizes: Vec<Vit<SizeScalers>>,
    #[module(skip)]
    pub orientation: Orientation,
}

/// The generator-side state of one size in a [`SharedTemplate`]: only its scalers (G lives in
/// the shared model).
#[derive(Module, Debug)]
pub struct SizeScalers {
    pub scalers: Scalers,
}

impl SharedTemplate {
    /// Fresh factors for several sizes sharing one template: G drawn first, at the first
    /// size's scale (the pre-training width D0, METHOD.md section 4), then per size, in order,
    /// its ViT parts (timm's init) and scalers. Every size must have the same ranks and
    /// orientation (one G).
    pub fn new(
        cfgs: &[TemplateConfig],
        seed: u64,
        device: &Device,
    ) -> Result<Self, crate::TemplateError> {
        let first = cfgs.first().ok_or_else(|| {
            crate::TemplateError::Invalid("a shared template needs at least one size".into())
        })?;
        for c in cfgs {
            c.validate()?;
            if c.ranks != first.ranks || c.orientation != first.orientation {
                return Err(crate::TemplateError::Invalid(format!(
                    "sizes sharing one template need the same ranks and orientation: {:?} {:?} \
                     vs {:?} {:?}",
                    first.ranks, first.orientation, c.ranks, c.orientation
                )));
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [r1, r2, r3] = first.ranks;
        let g = HostTensor {
            shape: vec![r1, r2, r3],
            values: gaussian(
                r1 * r2 * r3,
                template_std(first.vit.embed_dim, r2, r3),
                &mut rng,
            ),
        };
        let sizes = cfgs
            .iter()
            .map(|c| {
                let size_seed = rng.random::<u64>();
                Vit::with_generator(&c.vit, size_seed, device, |init| {
                    let mut rng = ChaCha8Rng::seed_from_u64(init.next_seed());
                    SizeScalers {
                        scalers: Scalers::new(c, &mut rng, device),
                    }
                })
            })
            .collect();
        Ok(SharedTemplate {
            template: Param::from_tensor(g.to_tensor(device)),
            sizes,
            orientation: first.orientation,
        })
    }

    /// The encoder of size `k` for one forward under `draw`, composed from the shared G.
    pub fn view(&self, k: usize, draw: &SwsDraw) -> EncoderView {
        let size = &self.sizes[k];
        let layers = size
            .generator
            .scalers
            .layers(self.template.val(), draw, self.orientation);
        size.view_with(layers)
    }
}

/// Every generator a pre-training can train, as a config (saved in the run file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GeneratorConfig {
    /// Ordinary dense block weights (`sweet pretrain --dense`; the direct pre-training
    /// baseline).
    Dense,
    /// The SWEET Tucker template with one size's scalers.
    Tucker(TemplateConfig),
    /// Kronecker templates with one size's scalers (the WAVE baseline).
    Kronecker(KroneckerConfig),
    /// TLEG's linear expansion of a learngene (base and slope of every block parameter; the
    /// depth and width are the encoder's).
    LinearExpansion,
}

impl GeneratorConfig {
    pub fn name(&self) -> &'static str {
        match self {
            GeneratorConfig::Dense => "dense",
            GeneratorConfig::Tucker(_) => "tucker",
            GeneratorConfig::Kronecker(_) => "kronecker",
            GeneratorConfig::LinearExpansion => "linear-expansion",
        }
    }

    /// The training draw of one step (dense generators have none).
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> SwsDraw {
        match self {
            GeneratorConfig::Dense => SwsDraw::Full,
            GeneratorConfig::Tucker(t) => t.sws.draw(t, rng),
            GeneratorConfig::Kronecker(_) => SwsDraw::Full,
            GeneratorConfig::LinearExpansion => SwsDraw::Full,
        }
    }
}

/// Every generator a pre-training can train, as a module: one model type for all of them.
// One per model, never in collections: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    Dense(DenseBlocks),
    Tucker(Tucker),
    Kronecker(Kronecker),
    LinearExpansion(LinearExpansion),
}

impl BlockGenerator for Generator {
    type Draw = SwsDraw;

    /// Dense weights ignore the draw (SWS is a template's regularizer).
    fn layers(&self, draw: &SwsDraw) -> Vec<LayerWeights> {
        match self {
            Generator::Dense(d) => d.layers(&()),
            Generator::Tucker(t) => t.layers(draw),
            Generator::Kronecker(k) => k.layers(draw),
            Generator::LinearExpansion(l) => l.layers(&()),
        }
    }

    /// Linear expansion makes the block parts too; the others leave them to the model.
    fn layer_parts(&self, _draw: &SwsDraw) -> Option<Vec<sweet_vit::LayerParts>> {
        match self {
            Generator::LinearExpansion(l) => l.layer_parts(&()),
            _ => None,
        }
    }
}

/// A ViT with the generator `cfg` names, fresh (timm's init for the parts; dense weights at
/// timm's init, or fresh template factors), for encoder config `vit`.
pub fn generated_vit(
    cfg: &GeneratorConfig,
    vit: &sweet_vit::VitConfig,
    seed: u64,
    device: &Device,
) -> Result<Vit<Generator>, crate::TemplateError> {
    Ok(match cfg {
        GeneratorConfig::Dense => {
            vit.validate()?;
            let v = Vit::new(vit, seed, device);
            v.map_generator(Generator::Dense)
        }
        GeneratorConfig::Tucker(t) => {
            templated_vit(t, seed, device)?.map_generator(Generator::Tucker)
        }
        GeneratorConfig::Kronecker(k) => {
            kronecker_vit(k, seed, device)?.map_generator(Generator::Kronecker)
        }
        GeneratorConfig::LinearExpansion => {
            linear_expansion_vit(vit, seed, device)?.map_generator(Generator::LinearExpansion)
        }
    })
}
