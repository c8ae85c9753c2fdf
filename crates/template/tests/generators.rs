//! Generators made of a template: several sizes share one G (each size's forward is a
//! standalone `Vit<Tucker>` with that G, and a loss over both sizes puts one gradient, the sum
//! of theirs, on the one G), and the SWS draws cover each mode's range and nothing else.

use std::collections::BTreeSet;

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_template::sws::FIBRE_KEEP;
use sweet_template::{
    GeneratorConfig, SharedTemplate, SwsDraw, SwsMode, TemplateConfig, TemplatedVit, Tucker,
};
use sweet_vit::names::{named_shapes, HostTensor};
use sweet_vit::VitConfig;

fn vals<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn template_cfg(depth: usize, width: usize, heads: usize, ranks: [usize; 3]) -> TemplateConfig {
    TemplateConfig {
        ranks,
        ..TemplateConfig::with_default_ranks(VitConfig {
            img_size: 8.into(),
            patch_size: 4,
            in_chans: 1,
            embed_dim: width,
            depth,
            num_heads: heads,
            mlp_ratio: 4.0,
            num_classes: 0,
            global_pool: Default::default(),
        })
    }
}

/// Size `k` of `shared` as a standalone `Vit<Tucker>`: its own leaf holding G's values, the
/// size's scalers and parts.
fn standalone(shared: &SharedTemplate, k: usize) -> TemplatedVit {
    let g = shared.template.val().detach();
    let orientation = shared.orientation;
    shared.sizes[k].clone().map_generator(|s| Tucker {
        template: Param::from_tensor(g),
        scalers: s.scalers,
        orientation,
    })
}

fn images(seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..2 * 8 * 8).map(|_| rng.random::<f32>() - 0.5).collect();
    Tensor::from_data(TensorData::new(v, [2, 1, 8, 8]), device)
}

/// A nonlinear scalar of encoder features `[B, 5, D]` (so every weight matters).
fn score(features: Tensor<3>, seed: u64) -> Tensor<1> {
    let [b, n, d] = features.dims();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f32> = (0..b * n * d).map(|_| rng.random::<f32>() - 0.5).collect();
    let w = Tensor::<3>::from_data(TensorData::new(w, [b, n, d]), &features.device());
    (features.clone() * w).sum() + features.powi_scalar(2).sum() * 0.1
}

/// Catches sizes that do not share G (a copy per size, or G cut off the graph for some size)
/// or that use another size's scalers or parts: a `SharedTemplate` of (depth 2, width 16) and
/// (depth 3, width 24), ranks (6, 16, 16), has one `template` key; each size's forward equals
/// a standalone `Vit<Tucker>` holding G, that size's scalers and parts (full model and a
/// nested draw); and the G gradient of a loss summed over both sizes equals the sum of the
/// standalone models' G gradients. Sabotages that failed it: `self.template.val().detach()`
/// for `k > 0` in `SharedTemplate::view` (G gradient off by 7.3, size 1's missing); the raw
/// orientation instead of the template's in `SharedTemplate::view` (forward differs).
#[test]
fn several_sizes_share_one_template() {
    let device = Device::default().autodiff();
    let ranks = [6, 16, 16];
    let cfgs = [template_cfg(2, 16, 2, ranks), template_cfg(3, 24, 3, ranks)];
    let shared = SharedTemplate::new(&cfgs, 5, &device).unwrap();
    let keys: Vec<String> = named_shapes(&shared).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys.iter().filter(|k| k.ends_with("template")).count(),
        1,
        "{keys:?}"
    );
    assert!(
        keys.contains(&"sizes.1.scalers.depth".to_string()),
        "{keys:?}"
    );
    let x = images(1, &device);

    // Forward: each size as a standalone model.
    let mut worst = 0f32;
    for (k, cfg) in cfgs.iter().enumerate() {
        let alone = standalone(&shared, k);
        for draw in [SwsDraw::Full, SwsDraw::Nested { k2: 8, k3: 12 }] {
            let view = shared.view(k, &draw);
            let got = view.encode(view.patch_tokens(x.clone()));
            let want = alone.view(&draw);
            let want = want.encode(want.patch_tokens(x.clone()));
            assert_eq!(got.dims(), [2, 5, cfg.vit.embed_dim]);
            let d = max_diff(&vals(&got), &vals(&want));
            worst = worst.max(d);
            assert_eq!(d, 0.0, "size {k}, {draw:?}");
        }
    }
    println!("shared-template sizes vs standalone Vit<Tucker>: max |diff| {worst:.2e}");

    // Backward: one gradient on G, the sum of the sizes'.
    let shared_loss = (0..2)
        .map(|k| {
            let v = shared.view(k, &SwsDraw::Full);
            score(v.encode(v.patch_tokens(x.clone())), k as u64)
        })
        .reduce(|a, b| a + b)
        .unwrap();
    let grads = shared_loss.backward();
    let g_shared = vals(
        &shared
            .template
            .val()
            .grad(&grads)
            .expect("G has a gradient"),
    );
    let mut g_sum = vec![0f32; g_shared.len()];
    let mut per_size = Vec::new();
    for k in 0..2 {
        let alone = standalone(&shared, k);
        let loss = score(alone.features(x.clone()), k as u64);
        let grads_k = loss.backward();
        let g = vals(&alone.generator.template.val().grad(&grads_k).unwrap());
        per_size.push(max_abs(&g));
        g_sum.iter_mut().zip(&g).for_each(|(s, v)| *s += v);
        // The size's own scalers get the standalone model's gradient.
        let mine = shared.sizes[k].generator.scalers.depth.val().grad(&grads);
        let theirs = alone.generator.scalers.depth.val().grad(&grads_k).unwrap();
        let d = max_diff(&vals(&mine.unwrap()), &vals(&theirs));
        assert!(
            d <= 1e-6 * max_abs(&vals(&theirs)).max(1.0),
            "size {k} X: {d}"
        );
    }
    let d = max_diff(&g_shared, &g_sum);
    println!(
        "G gradient: shared vs sum of standalone sizes max |diff| {d:.2e} \
         (per-size max |grad| {:.2e}, {:.2e})",
        per_size[0], per_size[1]
    );
    assert!(per_size.iter().all(|&m| m > 1e-3), "both sizes reach G");
    assert!(d < 1e-5 * max_abs(&g_sum), "{d}");
}

/// Catches SWS draws outside the modes' ranges or never reaching part of them (an off-by-one
/// in `random_range`, nested k not in steps of r/8, channel widths not whole heads or below a
/// quarter, a fibre keep rate other than FIBRE_KEEP, `off` or a dense generator perturbing):
/// 400 draws per mode. Sabotages that failed it: `random_range(2..8)` for nested k2 (k = r
/// never drawn); `heads.div_ceil(4)` replaced by `1` in `channel_widths` (width 4 drawn); a
/// fibre factor of 1/0.7.
#[test]
fn sws_draws_cover_each_modes_range() {
    let (r2, r3) = (16, 24);
    let mut cfg = template_cfg(2, 32, 8, [6, r2, r3]);
    // One fresh stream per step, as a training loop seeds its draws from (seed, step).
    let draws = |mode: SwsMode, cfg: &mut TemplateConfig| {
        cfg.sws = mode;
        let g = GeneratorConfig::Tucker(cfg.clone());
        (0..400u64)
            .map(|step| {
                g.draw(&mut ChaCha8Rng::seed_from_u64(
                    step.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ))
            })
            .collect::<Vec<_>>()
    };

    let (mut k2s, mut k3s) = (BTreeSet::new(), BTreeSet::new());
    for d in draws(SwsMode::Nested, &mut cfg) {
        let SwsDraw::Nested { k2, k3 } = d else {
            panic!("{d:?}")
        };
        k2s.insert(k2);
        k3s.insert(k3);
    }
    // r/4 .. r in steps of r/8
    let steps = |r: usize| (2..=8).map(|j| r * j / 8).collect::<BTreeSet<_>>();
    println!("nested k2 {k2s:?}, k3 {k3s:?}");
    assert_eq!(k2s, steps(r2));
    assert_eq!(k3s, steps(r3));

    let mut widths = BTreeSet::new();
    for d in draws(SwsMode::Channels, &mut cfg) {
        let SwsDraw::Channels { width } = d else {
            panic!("{d:?}")
        };
        widths.insert(width);
    }
    // 8 heads of dim 4: 2..=8 heads
    println!("channel widths {widths:?}");
    assert_eq!(widths, (2..=8).map(|h| 4 * h).collect::<BTreeSet<_>>());

    let (mut kept, mut total) = (0usize, 0usize);
    for d in draws(SwsMode::Fibre, &mut cfg) {
        let SwsDraw::Fibre { s2, s3 } = d else {
            panic!("{d:?}")
        };
        assert_eq!((s2.len(), s3.len()), (r2, r3));
        for s in s2.iter().chain(&s3) {
            assert!(
                *s == 0.0 || *s == (1.0 / FIBRE_KEEP) as f32,
                "fibre factor {s}"
            );
            kept += (*s != 0.0) as usize;
            total += 1;
        }
    }
    let rate = kept as f64 / total as f64;
    println!("fibre keep rate {rate:.4} over {total} fibres");
    // 16000 Bernoulli(0.75): std of the rate 0.0034
    assert!((rate - FIBRE_KEEP).abs() < 0.015, "{rate}");

    assert!(draws(SwsMode::Off, &mut cfg)
        .iter()
        .all(|d| *d == SwsDraw::Full));
    assert_eq!(
        GeneratorConfig::Dense.draw(&mut ChaCha8Rng::seed_from_u64(0)),
        SwsDraw::Full
    );
}
