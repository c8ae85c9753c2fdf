//! The noise schedules against improved-diffusion's formulas (a committed numpy fixture), the
//! DiT's adaLN-Zero start, its shapes and gradients, DDIM's determinism and exactness, and the
//! EMA's arithmetic.

use burn::module::Param;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use sweet_generate::dit::{timestep_features, unpatchify, Dit, DitConfig};
use sweet_generate::ema::Ema;
use sweet_generate::sampler::{ddim, SamplerConfig};
use sweet_generate::schedule::{BetaSchedule, NoiseSchedule};
use sweet_vit::init::Init;
use sweet_vit::layers::functional::patchify_conv_order;
use sweet_vit::layers::Linear;
use sweet_vit::names::named_tensors;
use sweet_vit::{BlockGenerator, BranchModulation, GlobalPool, ImgSize, Modulation, VitConfig};

fn device() -> Device {
    Device::default()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn tiny() -> DitConfig {
    DitConfig {
        encoder: VitConfig {
            img_size: ImgSize::new(8, 12),
            patch_size: 4,
            in_chans: 1,
            embed_dim: 16,
            depth: 2,
            num_heads: 2,
            mlp_ratio: 4.0,
            num_classes: 0,
            global_pool: GlobalPool::Token,
        },
        classes: 3,
    }
}

/// The same model with every zero-initialized part (adaLN and final layer) drawn at random.
fn perturbed(mut dit: Dit) -> Dit {
    let mut init = Init::new(9, &dit.pos_embed.device());
    let mut fill = |l: &mut Linear| {
        let [o, i] = l.weight.dims();
        l.weight = Param::from_tensor(init.normal([o, i], 0.3));
        l.bias = Param::from_tensor(init.normal([o], 0.3));
    };
    dit.adaln.iter_mut().for_each(&mut fill);
    fill(&mut dit.final_adaln);
    fill(&mut dit.final_linear);
    dit
}

#[derive(Deserialize)]
struct Fixture {
    schedules: Vec<ScheduleCase>,
    ddim: Vec<DdimCase>,
}

#[derive(Deserialize)]
struct ScheduleCase {
    kind: String,
    timesteps: usize,
    indices: Vec<usize>,
    betas: Vec<f64>,
    alphas_cumprod: Vec<f64>,
}

#[derive(Deserialize)]
struct DdimCase {
    timesteps: usize,
    steps: usize,
    visited: Vec<usize>,
}

#[test]
fn schedules_match_improved_diffusion() {
    let text = std::fs::read_to_string("tests/fixtures/schedule.json").unwrap();
    let f: Fixture = serde_json::from_str(&text).unwrap();
    let mut worst = 0f64;
    for case in &f.schedules {
        let kind = BetaSchedule::parse(&case.kind).unwrap();
        let s = NoiseSchedule::new(kind, case.timesteps);
        assert_eq!(s.len(), case.timesteps);
        for (j, &i) in case.indices.iter().enumerate() {
            for (ours, theirs) in [
                (s.betas[i], case.betas[j]),
                (s.alphas_cumprod[i], case.alphas_cumprod[j]),
            ] {
                let rel = (ours - theirs).abs() / theirs.abs();
                worst = worst.max(rel);
                assert!(
                    rel < 1e-12,
                    "{} T={} i={i}: {ours} vs {theirs}",
                    case.kind,
                    case.timesteps
                );
            }
        }
    }
    println!("schedules: max relative difference {worst:e}");
    for case in &f.ddim {
        let s = NoiseSchedule::new(BetaSchedule::Linear, case.timesteps);
        assert_eq!(s.ddim_timesteps(case.steps), case.visited);
    }
}

#[test]
fn timestep_features_are_cosines_then_sines() {
    let f = timestep_features(&[0, 7], 8);
    assert_eq!(&f[..8], &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    // t = 7, i = 1 of 4: frequency 10000^(-1/4) = 0.1.
    assert!((f[8 + 1] - (0.7f64).cos() as f32).abs() < 1e-6);
    assert!((f[8 + 4 + 1] - (0.7f64).sin() as f32).abs() < 1e-6);
}

#[test]
fn unpatchify_inverts_patchify() {
    let x = Init::new(1, &device()).normal([2, 3, 8, 12], 1.0);
    let back = unpatchify(patchify_conv_order(x.clone(), 4), [3, 8, 12], 4);
    assert_eq!(values(back), values(x));
}

#[test]
fn adaln_zero_blocks_are_the_identity_at_init_and_the_model_predicts_zero() {
    let cfg = tiny();
    let dit = Dit::new(&cfg, 0, &device());
    let b = 3;
    let x = Init::new(1, &device()).normal([b, 1, 8, 12], 1.0);
    let t = [0, 500, 999];
    let y = [0, 2, 3];
    let out = dit.forward(x, &t, &y);
    assert_eq!(out.dims(), [b, 1, 8, 12]);
    assert!(values(out).iter().all(|v| *v == 0.0));
    // Each block alone under its own (zero) modulation returns its input exactly.
    let tokens = Init::new(2, &device()).normal([b, 6, 16], 1.0);
    let cond = burn::tensor::activation::silu(dit.condition(&t, &y));
    for (i, (parts, w)) in dit.blocks.iter().zip(dit.generator.layers(&())).enumerate() {
        let modulation = dit.block_modulation(i, cond.clone());
        let after = parts
            .view(w)
            .forward_modulated(tokens.clone(), 2, &modulation);
        assert_eq!(values(after), values(tokens.clone()));
    }
    // Not vacuous: with the zero parts drawn at random the model predicts something.
    let x = Init::new(1, &device()).normal([b, 1, 8, 12], 1.0);
    let out = values(perturbed(dit).forward(x, &t, &y));
    assert!(out.iter().map(|v| v.abs()).sum::<f32>() > 1e-3);
}

/// With shift = scale = 0 and gate = 1 the modulated block is the ordinary (timm-parity) one.
#[test]
fn an_unmodulated_block_is_the_vit_block() {
    let dit = Dit::new(&tiny(), 3, &device());
    let (b, n, d) = (2, 6, 16);
    let x = Init::new(4, &device()).normal([b, n, d], 1.0);
    let zeros = || Tensor::<3>::zeros([b, 1, d], &device());
    let ones = || Tensor::<3>::ones([b, 1, d], &device());
    let identity = BranchModulation {
        shift: zeros(),
        scale: zeros(),
        gate: ones(),
    };
    let m = Modulation {
        branches: [identity.clone(), identity],
    };
    let w = dit.generator.layers(&()).remove(0);
    let view = dit.blocks[0].view(w);
    let diff = max_diff(
        &values(view.forward_modulated(x.clone(), 2, &m)),
        &values(view.forward(x, 2)),
    );
    assert!(diff < 1e-6, "{diff}");
}

#[test]
fn every_parameter_but_the_fixed_positions_gets_a_gradient_once_the_zero_parts_are_not_zero() {
    let ad = device().autodiff();
    let dit = perturbed(Dit::new(&tiny(), 0, &ad));
    let x = Init::new(1, &ad).normal([2, 1, 8, 12], 1.0);
    let loss = dit.forward(x, &[10, 900], &[1, 3]).powi_scalar(2).mean();
    let grads = loss.backward();
    struct Check<'a>(&'a burn::tensor::Gradients, Vec<String>);
    impl sweet_vit::names::NamedVisit for Check<'_> {
        fn visit<const D: usize>(&mut self, key: &str, p: &Param<Tensor<D>>) {
            let g = p
                .val()
                .grad(self.0)
                .map(|g| g.abs().sum().into_scalar::<f32>());
            if g.is_none_or(|s| s == 0.0) {
                self.1.push(key.to_string());
            }
        }
    }
    let mut check = Check(&grads, Vec::new());
    sweet_vit::names::visit_params(&dit, &mut check);
    // The sin-cos position table is fixed; everything else learns.
    assert_eq!(check.1, ["pos_embed"], "no gradient for {:?}", check.1);
    assert!(!dit.pos_embed.val().is_require_grad());
}

/// A finite-difference check of the loss's gradient along one direction of the final layer.
#[test]
fn the_gradient_matches_finite_differences() {
    let ad = device().autodiff();
    let dit = perturbed(Dit::new(&tiny(), 0, &ad));
    let x = Init::new(1, &ad).normal([2, 1, 8, 12], 1.0);
    let loss_of = |dit: &Dit| {
        dit.forward(x.clone(), &[10, 900], &[1, 3])
            .powi_scalar(2)
            .mean()
    };
    let grads = loss_of(&dit).backward();
    let g = values(dit.adaln[1].weight.val().grad(&grads).unwrap());
    let dir = Init::new(5, &device()).normal([96, 16], 1.0);
    let analytic: f64 = g
        .iter()
        .zip(values(dir.clone()))
        .map(|(a, b)| (*a * b) as f64)
        .sum();
    let h = 1e-2f32;
    let shifted = |sign: f32| {
        let mut d = dit.clone().valid();
        let w = d.adaln[1].weight.val() + dir.clone() * sign * h;
        d.adaln[1].weight = Param::from_tensor(w);
        loss_of(&d).into_scalar::<f32>() as f64
    };
    let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * h as f64);
    let rel = (analytic - numeric).abs() / analytic.abs().max(1e-6);
    println!("gradient {analytic:.6e} vs finite difference {numeric:.6e}");
    assert!(rel < 2e-2, "analytic {analytic} vs numeric {numeric}");
}

fn linear_schedule() -> NoiseSchedule {
    NoiseSchedule::new(BetaSchedule::Linear, 1000)
}

/// A noise predictor that is not the truth, so DDIM's path depends on every step.
fn some_eps(x: Tensor<4>, t: usize) -> Tensor<4> {
    x * (0.3 + t as f64 / 2000.0)
}

#[test]
fn ddim_without_noise_ignores_the_step_noise_and_with_noise_does_not() {
    let s = linear_schedule();
    let x_t = Init::new(1, &device()).normal([2, 1, 4, 4], 1.0);
    let run = |eta: f64, seed: u64| {
        let cfg = SamplerConfig {
            steps: 20,
            eta,
            guidance: 1.0,
        };
        values(ddim(
            &s,
            &cfg,
            x_t.clone(),
            some_eps,
            &mut ChaCha8Rng::seed_from_u64(seed),
        ))
    };
    assert_eq!(run(0.0, 1), run(0.0, 2));
    assert!(max_diff(&run(1.0, 1), &run(1.0, 2)) > 1e-3);
}

/// Told the true noise of a known image, DDIM lands on that image, with or without noise.
#[test]
fn ddim_with_the_true_noise_recovers_the_image() {
    let s = linear_schedule();
    let x0 = Init::new(2, &device()).uniform([2, 1, 4, 4], 0.9);
    let x_t = Init::new(3, &device()).normal([2, 1, 4, 4], 1.0);
    for eta in [0.0, 1.0] {
        let truth = |x: Tensor<4>, t: usize| {
            let (a, b) = s.noise_coefficients(t);
            (x - x0.clone() * a) / b
        };
        let cfg = SamplerConfig {
            steps: 10,
            eta,
            guidance: 1.0,
        };
        let out = ddim(
            &s,
            &cfg,
            x_t.clone(),
            truth,
            &mut ChaCha8Rng::seed_from_u64(0),
        );
        let diff = max_diff(&values(out), &values(x0.clone()));
        assert!(diff < 1e-4, "eta {eta}: {diff}");
    }
}

#[test]
fn the_ema_warms_up_then_averages_with_its_decay() {
    let dit = Dit::new(&tiny(), 0, &device());
    let mut ema = Ema::new(&dit, 0.99);
    assert_eq!(ema.decay_at(0), 0.1);
    assert_eq!(ema.decay_at(10_000), 0.99);
    let moved = Dit::new(&tiny(), 1, &device());
    let before = named_tensors(&ema.model);
    ema.update(&moved, 5);
    let d = ema.decay_at(5) as f32;
    let theta = named_tensors(&moved);
    for ((key, avg), ((_, old), (_, new))) in named_tensors(&ema.model)
        .iter()
        .zip(before.iter().zip(&theta))
    {
        let expected: Vec<f32> = old
            .values
            .iter()
            .zip(&new.values)
            .map(|(o, n)| d * o + (1.0 - d) * n)
            .collect();
        assert!(max_diff(&avg.values, &expected) < 1e-6, "{key}");
    }
}

/// The whole chain (noising, loss, gradients, sampler, signs, scales and the class
/// conditioning) on two images: a tiny DiT trained to denoise a bar pattern labelled 1 and its
/// negative labelled 2 learns them, and DDIM from fresh noise draws the bars for label 1 and
/// the negative for label 2 (an untrained model draws something far from both). Width 64: at
/// width 16, no more than a patch's 16 values, the final LayerNorm leaves too little.
#[test]
fn a_dit_trained_on_two_labelled_images_samples_each_for_its_label() {
    use sweet_generate::diffusion::{loss, noise_batch};
    use sweet_generate::sampler::sample;
    use sweet_train::adamw::{AdamW, AdamWConfig};
    let ad = device().autodiff();
    let mut cfg = tiny();
    cfg.encoder.embed_dim = 64;
    cfg.encoder.num_heads = 4;
    let mut dit = Dit::new(&cfg, 0, &ad);
    let bars: Vec<f32> = (0..96)
        .map(|i| if (i % 12) / 3 == 1 { 0.9 } else { -0.9 })
        .collect();
    let negative: Vec<f32> = bars.iter().map(|v| -v).collect();
    let batch = 16;
    let mut pixels: Vec<f32> = Vec::new();
    let mut labels = Vec::new();
    for i in 0..batch {
        pixels.extend_from_slice(if i % 2 == 0 { &bars } else { &negative });
        labels.push(1 + (i % 2) as u32);
    }
    let x0 = Tensor::<4>::from_data(TensorData::new(pixels, [batch, 1, 8, 12]), &ad);
    let schedule = NoiseSchedule::new(BetaSchedule::Cosine, 100);
    let sampler = SamplerConfig {
        steps: 20,
        eta: 0.0,
        guidance: 1.0,
    };
    let rms = |a: &[f32], b: &[f32]| {
        (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f32>() / a.len() as f32).sqrt()
    };
    // RMS distance of a label-1 sample to the bars and of a label-2 sample to the negative.
    let distances = |dit: &Dit| {
        let drawn = values(sample(
            &dit.clone().valid(),
            &schedule,
            &sampler,
            &[1, 2],
            3,
            7,
        ));
        (rms(&drawn[..96], &bars), rms(&drawn[96..], &negative))
    };
    let before = distances(&dit);
    let mut opt = AdamW::new(AdamWConfig {
        weight_decay: 0.0,
        ..AdamWConfig::default()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for _ in 0..1500 {
        let noised = noise_batch(x0.clone(), &labels, &schedule, 3, 0.0, &mut rng);
        let grads = loss(&dit, noised).backward();
        dit = opt.step(dit, &grads, 3e-3).0;
    }
    let after = distances(&dit);
    println!("RMS distance to each label's image: {before:.3?} untrained, {after:.3?} trained");
    assert!(after.0 < 0.15 && after.1 < 0.15, "trained: {after:?}");
    assert!(before.0 > 0.5 && before.1 > 0.5, "untrained: {before:?}");
}
