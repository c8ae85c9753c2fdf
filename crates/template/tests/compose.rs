//! Composition against the Tucker formula, the block layout, gradients and SWS.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_template::factors::gaussian;
use sweet_template::tucker::{assemble, compose, compose_layers, disassemble, StackedBlocks};
use sweet_template::{templated_vit, Orientation, SwsDraw, TemplateConfig, TemplatedVit};
use sweet_vit::names::HostTensor;
use sweet_vit::{BlockGenerator, LayerWeights, VitConfig};

fn t<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn vals<const D: usize>(x: &Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(x).values
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// W[i, p, q] = sum_{a, j, k} G[a, j, k] X[i, a] U[p, j] V[q, k], written out element by element.
#[allow(clippy::too_many_arguments)]
fn tucker_direct(
    g: &[f32],
    x: &[f32],
    u: &[f32],
    v: &[f32],
    n: usize,
    r: [usize; 3],
    d2: usize,
    d3: usize,
) -> Vec<f32> {
    let [r1, r2, r3] = r;
    let mut w = vec![0f64; n * d2 * d3];
    for i in 0..n {
        for p in 0..d2 {
            for q in 0..d3 {
                let mut s = 0f64;
                for a in 0..r1 {
                    for j in 0..r2 {
                        for k in 0..r3 {
                            s += g[(a * r2 + j) * r3 + k] as f64
                                * x[i * r1 + a] as f64
                                * u[p * r2 + j] as f64
                                * v[q * r3 + k] as f64;
                        }
                    }
                }
                w[(i * d2 + p) * d3 + q] = s;
            }
        }
    }
    w.into_iter().map(|x| x as f32).collect()
}

#[test]
fn compose_equals_the_tucker_formula() {
    let device = Device::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (n, r, d2, d3) = (5, [3, 4, 2], 6, 7);
    let g = gaussian(r[0] * r[1] * r[2], 1.0, &mut rng);
    let x = gaussian(n * r[0], 1.0, &mut rng);
    let u = gaussian(d2 * r[1], 1.0, &mut rng);
    let v = gaussian(d3 * r[2], 1.0, &mut rng);
    let w = compose(
        t(g.clone(), r, &device),
        t(x.clone(), [n, r[0]], &device),
        t(u.clone(), [d2, r[1]], &device),
        t(v.clone(), [d3, r[2]], &device),
    );
    assert_eq!(w.dims(), [n, d2, d3]);
    let expected = tucker_direct(&g, &x, &u, &v, n, r, d2, d3);
    let diff = max_diff(&vals(&w), &expected);
    println!("compose vs direct Tucker sum: max |diff| {diff:.2e}");
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn assemble_places_blocks_where_timm_expects_them() {
    let device = Device::default();
    let (l, d) = (2, 3);
    // block i has every entry = 100 i + 10 row + col
    let w: Vec<f32> = (0..12 * l)
        .flat_map(|i| (0..d * d).map(move |e| (100 * i + 10 * (e / d) + e % d) as f32))
        .collect();
    let wt = t(w, [12 * l, d, d], &device);
    for orientation in [Orientation::Residual, Orientation::Raw] {
        let dense = assemble(wt.clone(), orientation);
        assert_eq!(dense.qkv.dims(), [l, 3 * d, d]);
        assert_eq!(dense.fc2.dims(), [l, d, 4 * d]);
        let at = |x: &Tensor<3>, li: usize, r: usize, c: usize| {
            vals(x)[(li * x.dims()[1] + r) * x.dims()[2] + c]
        };
        // layer 1, k block (c = 1) row 2 col 0 -> qkv row d + 2
        assert_eq!(at(&dense.qkv, 1, d + 2, 0), (100 * 13 + 20) as f32);
        // fc1 slice 2 (c = 6), row 1 col 2 -> fc1 row 2d + 1
        assert_eq!(at(&dense.fc1, 0, 2 * d + 1, 2), (100 * 6 + 12) as f32);
        match orientation {
            Orientation::Residual => {
                // proj = o^T; fc2[:, j d + a] column = block (8 + j) row a
                assert_eq!(at(&dense.proj, 0, 2, 1), (100 * 3 + 12) as f32);
                assert_eq!(at(&dense.fc2, 0, 1, 3 * d + 2), (100 * 11 + 21) as f32);
            }
            Orientation::Raw => {
                assert_eq!(at(&dense.proj, 0, 2, 1), (100 * 3 + 21) as f32);
                assert_eq!(at(&dense.fc2, 0, 1, 3 * d + 2), (100 * 11 + 12) as f32);
            }
        }
        let back = disassemble(&dense, orientation);
        assert_eq!(
            vals(&back),
            vals(&wt),
            "disassemble inverts assemble ({orientation:?})"
        );
    }
}

/// Finite differences of a nonlinear loss through compose, against autodiff, for every factor.
#[test]
fn gradients_through_compose_match_finite_differences() {
    let device = Device::default().autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (n, r, d) = (4, [3, 3, 3], 4);
    let shapes: [Vec<usize>; 4] = [
        vec![r[0], r[1], r[2]],
        vec![n, r[0]],
        vec![d, r[1]],
        vec![d, r[2]],
    ];
    let base: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| gaussian(s.iter().product(), 0.7, &mut rng))
        .collect();
    let target = gaussian(n * d * d, 0.5, &mut rng);
    // Autodiff gradients.
    let mk = |i: usize, f: &[Vec<f32>]| HostTensor {
        shape: shapes[i].clone(),
        values: f[i].clone(),
    };
    let g: Tensor<3> = mk(0, &base).to_tensor::<3>(&device).require_grad();
    let x: Tensor<2> = mk(1, &base).to_tensor::<2>(&device).require_grad();
    let u: Tensor<2> = mk(2, &base).to_tensor::<2>(&device).require_grad();
    let v: Tensor<2> = mk(3, &base).to_tensor::<2>(&device).require_grad();
    let tt = t(target.clone(), [n, d, d], &device);
    let w = compose(g.clone(), x.clone(), u.clone(), v.clone());
    let loss = (w.clone().tanh() * tt).sum() + w.powi_scalar(2).sum() * 0.5;
    let grads = loss.backward();
    let auto: Vec<Vec<f32>> = vec![
        vals(&g.grad(&grads).unwrap()),
        vals(&x.grad(&grads).unwrap()),
        vals(&u.grad(&grads).unwrap()),
        vals(&v.grad(&grads).unwrap()),
    ];
    // Finite differences in f64 on the host, through the direct formula.
    let loss_host = |f: &[Vec<f32>]| -> f64 {
        let w = tucker_direct(&f[0], &f[1], &f[2], &f[3], n, r, d, d);
        w.iter()
            .zip(&target)
            .map(|(&wi, &ti)| (wi as f64).tanh() * ti as f64 + 0.5 * (wi as f64).powi(2))
            .sum()
    };
    let eps = 1e-2f32;
    let mut worst = 0f64;
    for (fi, name) in ["G", "X", "U", "V"].iter().enumerate() {
        for _ in 0..6 {
            let e = rng.random_range(0..base[fi].len());
            let mut plus = base.clone();
            plus[fi][e] += eps;
            let mut minus = base.clone();
            minus[fi][e] -= eps;
            let fd = (loss_host(&plus) - loss_host(&minus)) / (2.0 * eps as f64);
            let ad = auto[fi][e] as f64;
            let rel = (fd - ad).abs() / fd.abs().max(1.0);
            worst = worst.max(rel);
            assert!(
                rel < 2e-3,
                "d loss / d {name}[{e}]: finite difference {fd}, autodiff {ad}"
            );
        }
    }
    println!("finite differences vs autodiff through compose: max relative error {worst:.2e}");
}

/// The layers a draw composes, stacked per kind: qkv `[L, 3w, w]`, proj, fc1, fc2.
fn stacked(model: &TemplatedVit, draw: &SwsDraw) -> StackedBlocks {
    stack(&model.generator.layers(draw))
}

fn stack(layers: &[LayerWeights]) -> StackedBlocks {
    let s = |f: fn(&LayerWeights) -> Tensor<2>| Tensor::stack(layers.iter().map(f).collect(), 0);
    StackedBlocks {
        qkv: s(|l| l.qkv.clone()),
        proj: s(|l| l.proj.clone()),
        fc1: s(|l| l.fc1.clone()),
        fc2: s(|l| l.fc2.clone()),
    }
}

#[test]
fn composing_layer_by_layer_equals_composing_the_stack() {
    let device = Device::default();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (l, r, d) = (3, [5, 6, 7], 8);
    let n = 12 * l;
    let g = t(gaussian(r[0] * r[1] * r[2], 1.0, &mut rng), r, &device);
    let x = t(gaussian(n * r[0], 1.0, &mut rng), [n, r[0]], &device);
    let u = t(gaussian(d * r[1], 1.0, &mut rng), [d, r[1]], &device);
    let v = t(gaussian(d * r[2], 1.0, &mut rng), [d, r[2]], &device);
    for orientation in [Orientation::Residual, Orientation::Raw] {
        let whole = assemble(
            compose(g.clone(), x.clone(), u.clone(), v.clone()),
            orientation,
        );
        let per_layer = stack(&compose_layers(
            g.clone(),
            x.clone(),
            u.clone(),
            v.clone(),
            orientation,
        ));
        let mut worst = 0f32;
        for (a, b) in [
            (&whole.qkv, &per_layer.qkv),
            (&whole.proj, &per_layer.proj),
            (&whole.fc1, &per_layer.fc1),
            (&whole.fc2, &per_layer.fc2),
        ] {
            assert_eq!(a.dims(), b.dims());
            worst = worst.max(max_diff(&vals(a), &vals(b)));
        }
        println!("{orientation:?}: per-layer vs stacked composition max |diff| {worst:.2e}");
        assert!(worst < 1e-4, "{worst}");
    }
}

fn tiny_cfg(ranks: [usize; 3]) -> TemplateConfig {
    let vit = VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    TemplateConfig {
        ranks,
        ..TemplateConfig::with_default_ranks(vit)
    }
}

#[test]
fn fresh_factors_compose_weights_at_timm_scale() {
    let vit = VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 3,
        embed_dim: 64,
        depth: 4,
        num_heads: 4,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    let cfg = TemplateConfig::with_default_ranks(vit);
    let model = templated_vit(&cfg, 0, &Device::default()).unwrap();
    let w = stacked(&model, &SwsDraw::Full);
    for (name, t) in [
        ("qkv", &w.qkv),
        ("proj", &w.proj),
        ("fc1", &w.fc1),
        ("fc2", &w.fc2),
    ] {
        let v = vals(t);
        let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((std - 0.02).abs() < 0.003, "{name} std {std}");
    }
}

#[test]
fn nested_sws_only_touches_leading_slices() {
    let device = Device::default().autodiff();
    let cfg = tiny_cfg([6, 16, 16]);
    let model = templated_vit(&cfg, 0, &device).unwrap();
    let (k2, k3) = (8, 12);
    let w = stacked(&model, &SwsDraw::Nested { k2, k3 });
    let loss = w.qkv.powi_scalar(2).sum() + w.fc2.powi_scalar(2).sum() + w.proj.sum() + w.fc1.sum();
    let grads = loss.backward();
    let gg = vals(&model.generator.template.val().grad(&grads).unwrap());
    let [r1, r2, r3] = cfg.ranks;
    let (mut inside, mut outside) = (0f32, 0f32);
    for a in 0..r1 {
        for j in 0..r2 {
            for k in 0..r3 {
                let v = gg[(a * r2 + j) * r3 + k].abs();
                if j < k2 && k < k3 {
                    inside = inside.max(v)
                } else {
                    outside = outside.max(v)
                }
            }
        }
    }
    assert!(inside > 0.0, "leading slices get gradient");
    assert_eq!(outside, 0.0, "nothing outside G[:, :{k2}, :{k3}]");
    let gu = vals(&model.generator.scalers.inner.val().grad(&grads).unwrap());
    assert!(
        gu.iter().enumerate().all(|(i, &v)| i % r2 < k2 || v == 0.0),
        "U columns >= k2 untouched"
    );
    // the rescaling keeps the composed scale comparable to the full template
    let full = vals(&stacked(&model, &SwsDraw::Full).qkv);
    let nested = vals(&stacked(&model, &SwsDraw::Nested { k2, k3 }).qkv);
    let rms = |v: &[f32]| (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
    assert!(
        (rms(&nested) / rms(&full) - 1.0).abs() < 0.35,
        "{} vs {}",
        rms(&nested),
        rms(&full)
    );
}

#[test]
fn channel_sws_runs_a_narrower_encoder() {
    let device = Device::default();
    let cfg = tiny_cfg([6, 16, 16]);
    let model = templated_vit(&cfg, 0, &device).unwrap();
    let enc = model.view(&SwsDraw::Channels { width: 8 });
    let x = Tensor::<4>::ones([2, 1, 8, 8], &device);
    let out = enc.encode(enc.patch_tokens(x));
    assert_eq!(out.dims(), [2, 5, 8]);
    assert!(vals(&out).iter().all(|v| v.is_finite()));
}

#[test]
fn fibre_sws_zeroes_dropped_fibres() {
    let device = Device::default();
    let cfg = tiny_cfg([6, 16, 16]);
    let model = templated_vit(&cfg, 0, &device).unwrap();
    let mut s2 = vec![0.0f32; 16];
    s2[3] = 1.0;
    let s3 = vec![1.0f32; 16];
    // only one inner fibre kept: every block has rank <= 1
    let w = stacked(&model, &SwsDraw::Fibre { s2, s3 }).proj;
    let v = vals(&w);
    // rank-1 check on layer 0's proj (16 x 16): all 2x2 minors vanish
    let m = |r: usize, c: usize| v[r * 16 + c];
    let minor = (m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0)).abs();
    assert!(minor < 1e-10, "{minor}");
}
