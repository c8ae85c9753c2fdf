//! Initializing a target of another depth and width from a template (METHOD.md section 5):
//! interpolation endpoints and midpoints exact, truncation equals slicing, extension keeps the
//! trained rows, zero-shot at the template's own size is exactly the template, the two width
//! rules compose exactly what channel and nested SWS trained, and the golden key list of an
//! exported target.

use std::collections::BTreeMap;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_template::init::{
    depth_source, interpolate_depth, kept_rank, map_basis, target_config, target_heads,
};
use sweet_template::{
    init_from_template, templated_vit, SwsDraw, TemplateConfig, TemplatedVit, WidthRule,
};
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::{BlockGenerator, EncoderView, VitConfig};

fn vals<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

fn cfg(depth: usize, width: usize, heads: usize) -> TemplateConfig {
    TemplateConfig {
        ranks: [10, width, width],
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

/// A template whose every tensor (biases and norms too) holds random values, as if trained,
/// with MAE's sin-cos position table.
fn trained(cfg: &TemplateConfig, device: &Device) -> TemplatedVit {
    let model = templated_vit(cfg, 0, device).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let tensors: BTreeMap<String, HostTensor> = named_tensors(&model)
        .into_iter()
        .map(|(k, t)| {
            let values = t
                .values
                .iter()
                .map(|_| rng.random_range(-0.5..0.5))
                .collect();
            (k, HostTensor { values, ..t })
        })
        .collect();
    load_named(model, &tensors).unwrap().with_sincos_pos_embed()
}

fn host(shape: &[usize], values: Vec<f32>) -> HostTensor {
    HostTensor {
        shape: shape.to_vec(),
        values,
    }
}

#[test]
fn depth_positions_hit_the_endpoints_and_split_exactly() {
    // 3 -> 5 layers: positions 0, .5, 1, 1.5, 2
    let pos: Vec<_> = (0..5).map(|l| depth_source(l, 3, 5)).collect();
    assert_eq!(
        pos,
        [
            (0, 1, 0.0),
            (0, 1, 0.5),
            (1, 2, 0.0),
            (1, 2, 0.5),
            (2, 2, 0.0)
        ]
    );
    // 8 -> 4 layers: positions 0, 7/3, 14/3, 7
    let pos: Vec<_> = (0..4).map(|l| depth_source(l, 8, 4)).collect();
    assert_eq!(pos[0], (0, 1, 0.0));
    assert_eq!((pos[1].0, pos[1].1), (2, 3));
    assert!((pos[1].2 - 1.0 / 3.0).abs() < 1e-7);
    assert_eq!((pos[2].0, pos[2].1), (4, 5));
    assert!((pos[2].2 - 2.0 / 3.0).abs() < 1e-7);
    assert_eq!(pos[3], (7, 7, 0.0));
    assert_eq!(depth_source(0, 8, 1), (0, 0, 0.0));
}

#[test]
fn depth_interpolation_blends_rows_of_the_same_block_type() {
    // X of 2 layers (24 rows), r1 = 1, row i holds i: 3 layers take layer 0, the mean of 0 and 1,
    // then layer 1, block type by block type.
    let x = host(&[24, 1], (0..24).map(|i| i as f32).collect());
    let y = interpolate_depth(&x, 3);
    assert_eq!(y.shape, [36, 1]);
    let want: Vec<f32> = (0..12)
        .map(|c| c as f32)
        .chain((0..12).map(|c| (c as f32 + (12 + c) as f32) / 2.0))
        .chain((12..24).map(|c| c as f32))
        .collect();
    assert_eq!(y.values, want);
    assert_eq!(interpolate_depth(&x, 2), x, "same depth: unchanged");
}

#[test]
fn truncation_slices_and_extension_keeps_the_trained_rows() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // U [4, 3]: row i = [10i, 10i+1, 10i+2]
    let u = host(
        &[4, 3],
        (0..4)
            .flat_map(|i| (0..3).map(move |j| (10 * i + j) as f32))
            .collect(),
    );
    assert_eq!(
        map_basis(&u, 2, 3, &mut rng).values,
        [0., 1., 2., 10., 11., 12.]
    );
    assert_eq!(map_basis(&u, 2, 2, &mut rng).values, [0., 1., 10., 11.]);
    let big = map_basis(&u, 400, 3, &mut rng);
    assert_eq!(big.shape, [400, 3]);
    assert_eq!(
        big.values[..12],
        u.values[..],
        "the trained rows come first"
    );
    let new = &big.values[12..];
    let std = (new.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / new.len() as f64).sqrt();
    let mean = u.values.iter().sum::<f32>() as f64 / 12.0;
    let trained_std = (u
        .values
        .iter()
        .map(|v| (*v as f64 - mean).powi(2))
        .sum::<f64>()
        / 12.0)
        .sqrt();
    assert!(
        (std / trained_std - 1.0).abs() < 0.1,
        "new rows at the trained std: {std} vs {trained_std}"
    );
    assert_eq!(kept_rank(128, 128, 64, WidthRule::Ranks), 64);
    assert_eq!(kept_rank(128, 128, 96, WidthRule::Ranks), 96);
    assert_eq!(kept_rank(48, 128, 40, WidthRule::Ranks), 15);
    assert_eq!(kept_rank(128, 128, 64, WidthRule::Rows), 128);
    assert_eq!(kept_rank(128, 128, 192, WidthRule::Ranks), 128);
}

fn assert_views_equal(a: &EncoderView, b: &EncoderView) {
    assert_eq!(vals(&a.patch_weight), vals(&b.patch_weight));
    assert_eq!(vals(&a.patch_bias), vals(&b.patch_bias));
    assert_eq!(vals(&a.cls_token), vals(&b.cls_token));
    assert_eq!(vals(&a.pos_embed), vals(&b.pos_embed));
    assert_eq!(a.heads, b.heads);
    assert_eq!(a.blocks.len(), b.blocks.len());
    for (l, (x, y)) in a.blocks.iter().zip(&b.blocks).enumerate() {
        let pairs = [
            (&x.weights.qkv, &y.weights.qkv, "qkv"),
            (&x.weights.proj, &y.weights.proj, "proj"),
            (&x.weights.fc1, &y.weights.fc1, "fc1"),
            (&x.weights.fc2, &y.weights.fc2, "fc2"),
        ];
        for (p, q, name) in pairs {
            assert_eq!(vals(p), vals(q), "layer {l} {name}");
        }
        for (p, q) in [
            (&x.qkv_bias, &y.qkv_bias),
            (&x.proj_bias, &y.proj_bias),
            (&x.fc1_bias, &y.fc1_bias),
            (&x.fc2_bias, &y.fc2_bias),
            (&x.norm1.weight, &y.norm1.weight),
            (&x.norm2.bias, &y.norm2.bias),
        ] {
            assert_eq!(vals(p), vals(q), "layer {l} parts");
        }
    }
    let (na, nb) = (a.norm.as_ref().unwrap(), b.norm.as_ref().unwrap());
    assert_eq!(vals(&na.weight), vals(&nb.weight));
}

#[test]
fn zero_shot_at_the_templates_own_size_is_the_template() {
    let device = Device::default();
    let c = cfg(3, 16, 2);
    let t = trained(&c, &device);
    for rule in [WidthRule::Rows, WidthRule::Ranks] {
        let target = target_config(&c, 3, 16, 2, 0);
        let init = init_from_template(&t, &target, rule, 5, &device).unwrap();
        assert_views_equal(&init.view(&SwsDraw::Full), &t.view(&SwsDraw::Full));
        assert_eq!(
            vals(&init.generator.template.val()),
            vals(&t.generator.template.val())
        );
    }
}

#[test]
fn the_rows_rule_composes_what_channel_sws_trained() {
    let device = Device::default();
    let c = cfg(2, 16, 4);
    let t = trained(&c, &device);
    let target = target_config(&c, 2, 8, 2, 0);
    let init = init_from_template(&t, &target, WidthRule::Rows, 1, &device).unwrap();
    assert_views_equal(
        &init.view(&SwsDraw::Full),
        &t.view(&SwsDraw::Channels { width: 8 }),
    );
}

#[test]
fn the_ranks_rule_composes_what_nested_sws_trained_cut_to_the_width() {
    let device = Device::default();
    let c = cfg(2, 16, 4);
    let t = trained(&c, &device);
    let target = target_config(&c, 2, 8, 2, 0);
    let init = init_from_template(&t, &target, WidthRule::Ranks, 1, &device).unwrap();
    assert_eq!(init.generator.scalers.inner.val().dims(), [8, 8]);
    // nested SWS with the leading 8 of 16 fibres, then the first 8 channels of each block
    let nested = t.generator.layers(&SwsDraw::Nested { k2: 8, k3: 8 });
    let ours = init.generator.layers(&SwsDraw::Full);
    for (l, (n, o)) in nested.iter().zip(&ours).enumerate() {
        let cut = |m: &Tensor<2>, k_rows: usize, k_cols: usize| {
            sweet_vit::width::chunks(
                sweet_vit::width::chunks(m.clone(), 0, k_rows, 8),
                1,
                k_cols,
                8,
            )
        };
        for (a, b, kr, kc, name) in [
            (&n.qkv, &o.qkv, 3, 1, "qkv"),
            (&n.proj, &o.proj, 1, 1, "proj"),
            (&n.fc1, &o.fc1, 4, 1, "fc1"),
            (&n.fc2, &o.fc2, 1, 4, "fc2"),
        ] {
            let (a, b) = (vals(&cut(a, kr, kc)), vals(b));
            let d = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(d < 1e-6, "layer {l} {name}: {d}");
        }
    }
}

#[test]
fn an_init_at_another_size_has_the_golden_keys_and_shapes() {
    let device = Device::default();
    let c = cfg(3, 16, 2);
    let t = trained(&c, &device);
    // deeper and wider, 10 classes: per-layer parts of layer 1 blend layers 0 and 1 (3 -> 5
    // layers puts it at position 0.5)
    let target = target_config(&c, 5, 24, 3, 10);
    let init = init_from_template(&t, &target, WidthRule::Ranks, 3, &device).unwrap();
    let dense = init.to_dense();
    let shapes: BTreeMap<String, Vec<usize>> = named_shapes(&dense).into_iter().collect();
    let mut golden: BTreeMap<String, Vec<usize>> = BTreeMap::from([
        ("cls_token".into(), vec![1, 1, 24]),
        ("pos_embed".into(), vec![1, 5, 24]),
        ("patch_embed.proj.weight".into(), vec![24, 1, 4, 4]),
        ("patch_embed.proj.bias".into(), vec![24]),
        ("norm.weight".into(), vec![24]),
        ("norm.bias".into(), vec![24]),
        ("head.weight".into(), vec![10, 24]),
        ("head.bias".into(), vec![10]),
    ]);
    for l in 0..5 {
        for (leaf, shape) in [
            ("norm1.weight", vec![24]),
            ("norm1.bias", vec![24]),
            ("attn.qkv.weight", vec![72, 24]),
            ("attn.qkv.bias", vec![72]),
            ("attn.proj.weight", vec![24, 24]),
            ("attn.proj.bias", vec![24]),
            ("norm2.weight", vec![24]),
            ("norm2.bias", vec![24]),
            ("mlp.fc1.weight", vec![96, 24]),
            ("mlp.fc1.bias", vec![96]),
            ("mlp.fc2.weight", vec![24, 96]),
            ("mlp.fc2.bias", vec![24]),
        ] {
            golden.insert(format!("blocks.{l}.{leaf}"), shape);
        }
    }
    assert_eq!(shapes, golden);
    assert_eq!(dense.num_heads, 3);
    // layer 1's norm1 weight: the mean of the template's layers 0 and 1 in its first 16
    // channels, timm's init (ones) in the 8 new ones
    let (s0, s1) = (
        vals(&t.blocks[0].norm1.weight.val()),
        vals(&t.blocks[1].norm1.weight.val()),
    );
    let got = vals(&dense.blocks[1].norm1.weight.val());
    for (i, g) in got[..16].iter().enumerate() {
        assert_eq!(*g, 0.5 * s0[i] + 0.5 * s1[i], "channel {i}");
    }
    assert!(got[16..].iter().all(|&v| v == 1.0));
    // the position table is sin-cos at width 24, not a slice of the template's
    let want = sweet_vit::pos_embed::sincos_2d(24, [2, 2]);
    assert_eq!(vals(&dense.pos_embed.val()), want, "recomputed at width 24");
}

#[test]
fn heads_default_to_the_templates_head_dim_and_other_widths_need_heads() {
    let v = cfg(2, 16, 2).vit; // head dim 8
    assert_eq!(target_heads(&v, 24, None), Ok(3));
    let err = target_heads(&v, 20, None).unwrap_err().to_string();
    assert!(err.contains("head dim 8"), "{err}");
    assert!(err.contains("8, 16, 24"), "{err}");
    assert!(err.contains("--heads"), "{err}");
    assert_eq!(target_heads(&v, 20, Some(5)), Ok(5));
    assert!(target_heads(&v, 20, Some(3)).is_err());
}
