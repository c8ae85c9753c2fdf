//! The tiny MAE models, images and helpers the pre-training proofs share.
#![allow(dead_code)]

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_mae::decoder::DecoderConfig;
use sweet_mae::masking::{random_masking, MaskPlan};
use sweet_template::{Generator, GeneratorConfig, SwsDraw, SwsMode, TemplateConfig, Tucker};
use sweet_train::adamw::AdamWConfig;
use sweet_train::pretrain::{Mae, PretrainConfig};
use sweet_train::LoopConfig;
use sweet_vit::names::{map_params, visit_params, HostTensor, NamedMap, NamedVisit};
use sweet_vit::VitConfig;

pub const D: usize = 16;
pub const HEADS: usize = 4;
pub const RANKS: [usize; 3] = [8, 16, 16];

pub fn vit() -> VitConfig {
    VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: D,
        depth: 2,
        num_heads: HEADS,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    }
}

pub fn template(sws: SwsMode) -> TemplateConfig {
    TemplateConfig {
        ranks: RANKS,
        sws,
        ..TemplateConfig::with_default_ranks(vit())
    }
}

pub fn config(generator: GeneratorConfig) -> PretrainConfig {
    PretrainConfig {
        vit: vit(),
        generator,
        decoder: DecoderConfig {
            width: 16,
            depth: 1,
            heads: 2,
            mlp_ratio: 4.0,
        },
        mask_ratio: 0.75,
        run: LoopConfig {
            epochs: 1,
            batch_size: 4,
            lr: 1e-3,
            min_lr: 0.0,
            warmup_epochs: 0.0,
            optimizer: AdamWConfig {
                beta1: 0.9,
                beta2: 0.95,
                eps: 1e-8,
                weight_decay: 0.05,
                grad_clip: None,
            },
            seed: 3,
            workers: 1,
            stop_after: None,
            replicas: Vec::new(),
            max_steps: None,
        },
        eval_images: 4,
    }
}

pub fn vals<const R: usize>(t: &Tensor<R>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// 4 images 1x16x16 with some structure (a bright square per image) plus noise.
pub fn images(seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = vec![0f32; 4 * 16 * 16];
    for (b, img) in v.chunks_mut(256).enumerate() {
        for (i, p) in img.iter_mut().enumerate() {
            let (y, x) = (i / 16, i % 16);
            let inside = (2 * b..2 * b + 6).contains(&y) && (3 + b..9 + b).contains(&x);
            *p = if inside { 1.0 } else { -0.8 } + 0.3 * (rng.random::<f32>() - 0.5);
        }
    }
    Tensor::from_data(TensorData::new(v, [4, 1, 16, 16]), device)
}

pub fn plan(seed: u64) -> MaskPlan {
    random_masking(4, 16, 0.75, seed)
}

pub fn tucker(mae: &Mae) -> &Tucker {
    match &mae.encoder.generator {
        Generator::Tucker(t) => t,
        _ => panic!("a template generator"),
    }
}

/// `mae` with every parameter but the frozen table shifted by uniform draws in [-0.25, 0.25):
/// at timm's init (std .02 weights, zero biases) the encoder barely moves the loss, and zero
/// biases or unit norms could hide a wrong index.
pub fn perturbed(mae: Mae, seed: u64) -> Mae {
    struct P(ChaCha8Rng);
    impl NamedMap for P {
        fn map<const R: usize>(&mut self, key: &str, p: Param<Tensor<R>>) -> Param<Tensor<R>> {
            if key == "encoder.pos_embed" {
                return p;
            }
            let rng = &mut self.0;
            p.map(|t| {
                let shape = t.shape();
                let v: Vec<f32> = vals(&t)
                    .into_iter()
                    .map(|x| x + (rng.random::<f32>() - 0.5) * 0.5)
                    .collect();
                let grad = t.is_require_grad();
                let new = Tensor::from_data(TensorData::new(v, shape), &t.device());
                if grad {
                    new.require_grad()
                } else {
                    new
                }
            })
        }
    }
    map_params(mae, &mut P(ChaCha8Rng::seed_from_u64(seed)))
}

pub fn loss_of(mae: &Mae, draw: &SwsDraw) -> f32 {
    let device = mae.decoder.mask_token.device();
    mae.step_loss(images(1, &device), &plan(2), draw)
        .0
        .into_scalar::<f32>()
}

/// The first `n` distinct training draws of a config (fresh stream per step, as a training
/// loop seeds one per step) that actually perturb: nested with `k2 < r2` or `k3 < r3`,
/// channels below the full width (all three of 4, 8, 12 for `n = 3`). `off` draws `Full`.
pub fn training_draws(cfg: &GeneratorConfig, n: usize) -> Vec<SwsDraw> {
    let mut out: Vec<SwsDraw> = Vec::new();
    for step in 0..10_000u64 {
        let d = cfg.draw(&mut ChaCha8Rng::seed_from_u64(1000 + step));
        let perturbs = match &d {
            SwsDraw::Nested { k2, k3 } => *k2 < RANKS[1] || *k3 < RANKS[2],
            SwsDraw::Channels { width } => *width < D,
            _ => true,
        };
        if out.len() == n {
            break;
        }
        if perturbs && (d == SwsDraw::Full || !out.contains(&d)) {
            out.push(d);
        }
    }
    assert_eq!(out.len(), n, "{n} distinct draws");
    out
}

/// Catches a mode whose draw never reaches the composition (e.g. `Scalers::layers` ignoring
/// a draw and composing the full template, or `Mae::step_loss` viewing the encoder with the
/// default draw), and `off` perturbing anything: on the same batch and mask, each of three
/// training draws of nested, fibre and channels gives a loss that differs from the full
/// draw's (the model's parameters perturbed off timm's init first), `off` gives exactly the
/// full loss. Sabotages that failed it: the nested arm of `Scalers::layers` composing the
/// whole template (nested loss = full loss); `self.encoder.view(&SwsDraw::Full)` in
/// `Mae::step_loss`.
/// Every gradient of `module`'s parameters in `grads`, by key.
pub fn grads_by_key<M: Module>(module: &M, grads: &Gradients) -> BTreeMap<String, Vec<f32>> {
    struct G<'a>(&'a Gradients, BTreeMap<String, Vec<f32>>);
    impl NamedVisit for G<'_> {
        fn visit<const R: usize>(&mut self, key: &str, p: &Param<Tensor<R>>) {
            if let Some(g) = p.val().grad(self.0) {
                self.1.insert(key.to_string(), vals(&g));
            }
        }
    }
    let mut v = G(grads, BTreeMap::new());
    visit_params(module, &mut v);
    v.1
}
