//! Kronecker weight templates (the WAVE baseline): the composition equals an explicit tile
//! loop, the composed weights start at timm's std by the init formula, zero-shot at the aux's
//! own size is the aux exactly, a narrower target is the aux's composed weights cut per
//! segment (q | k | v and the hidden channels stay aligned), and the template file's golden
//! key list round-trips.

use std::collections::BTreeMap;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_template::file::Provenance;
use sweet_template::kronecker::file::{self as kfile, KRONECKER_FILE};
use sweet_template::kronecker::init::init_from_kronecker;
use sweet_template::kronecker::{kron_sum, Kronecker, KINDS};
use sweet_template::{kronecker_vit, KroneckerConfig};
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::width::{chunks, first};
use sweet_vit::{BlockGenerator, LayerWeights, Vit, VitConfig};

fn cfg(depth: usize, width: usize, templates: usize, tile: usize) -> KroneckerConfig {
    KroneckerConfig {
        vit: VitConfig {
            img_size: 8.into(),
            patch_size: 4,
            in_chans: 1,
            embed_dim: width,
            depth,
            num_heads: width / tile,
            mlp_ratio: 4.0,
            num_classes: 0,
            global_pool: Default::default(),
        },
        templates,
        tile,
    }
}

fn host(shape: &[usize], rng: &mut ChaCha8Rng) -> HostTensor {
    HostTensor {
        shape: shape.to_vec(),
        values: (0..shape.iter().product())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
    }
}

fn vals<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

#[test]
fn composition_equals_an_explicit_tile_loop() {
    let device = Device::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (n, a, b, w1, w2) = (3, 2, 5, 4, 3);
    let s = host(&[n, a, b], &mut rng);
    let t = host(&[n, w1, w2], &mut rng);
    let w = kron_sum(s.to_tensor(&device), t.to_tensor(&device));
    assert_eq!(w.dims(), [a * w1, b * w2]);
    let got = vals(&w);
    // tile (i, j) of W is sum_t S^(t)[i, j] T^(t)
    let mut max_err = 0.0f32;
    for i in 0..a {
        for j in 0..b {
            for p in 0..w1 {
                for q in 0..w2 {
                    let want: f32 = (0..n)
                        .map(|k| s.values[(k * a + i) * b + j] * t.values[(k * w1 + p) * w2 + q])
                        .sum();
                    let g = got[(i * w1 + p) * (b * w2) + j * w2 + q];
                    max_err = max_err.max((g - want).abs());
                }
            }
        }
    }
    assert!(max_err < 1e-6, "max difference {max_err}");
}

/// `mean(W^2)` over every layer's weights of each type.
fn mean_squares(layers: &[LayerWeights]) -> [(f64, usize); 4] {
    let pick = |l: &LayerWeights, i: usize| match i {
        0 => l.qkv.clone(),
        1 => l.proj.clone(),
        2 => l.fc1.clone(),
        _ => l.fc2.clone(),
    };
    std::array::from_fn(|i| {
        let v: Vec<f32> = layers.iter().flat_map(|l| vals(&pick(l, i))).collect();
        let ms = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64;
        (ms, v.len())
    })
}

#[test]
fn composed_weights_start_at_timms_std() {
    // The (8, 128) aux net with 16 templates of 32 x 32 per type. Per type, with A scaler
    // entries per template over all layers and M = w^2 template entries, mean(W^2) =
    // tr(Gs Gt) / (A M) (Gs, Gt the Gram matrices of the scalers and templates over t). With
    // T ~ N(0, s_T^2) and S ~ N(0, s_S^2) independent, its mean is N s_T^2 s_S^2 = 0.02^2 and
    // its relative variance 2 (A + M + N + 1) / (N A M) (the chi-square moments of Gs and Gt's
    // diagonals plus their uncorrelated off-diagonal products). Allow 4 standard deviations.
    let c = cfg(8, 128, 16, 32);
    let model = kronecker_vit(&c, 0, &Device::default()).unwrap();
    let layers = model.generator.layers(&Default::default());
    let (n, m) = (c.templates as f64, (c.tile * c.tile) as f64);
    for (kind, (ms, count)) in KINDS.iter().zip(mean_squares(&layers)) {
        let a = count as f64 / m;
        let rel_sd = (2.0 * (a + m + n + 1.0) / (n * a * m)).sqrt();
        let rel = ms / 0.02f64.powi(2) - 1.0;
        eprintln!(
            "{}: std {:.5}, mean square {rel:+.4} off 0.02^2 (4 sd {:.4})",
            kind.name(),
            ms.sqrt(),
            4.0 * rel_sd
        );
        assert!(
            rel.abs() < 4.0 * rel_sd,
            "{}: mean square {ms:.3e} (std {:.5}) is {rel:+.4} off 0.02^2, 4 sd = {:.4}",
            kind.name(),
            ms.sqrt(),
            4.0 * rel_sd
        );
    }
}

/// An aux net whose every tensor holds random values, as if trained, with MAE's sin-cos table.
fn trained(c: &KroneckerConfig, device: &Device) -> Vit<Kronecker> {
    let model = kronecker_vit(c, 0, device).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let tensors: BTreeMap<String, HostTensor> = named_tensors(&model)
        .into_iter()
        .map(|(k, t)| (k, host(&t.shape, &mut rng)))
        .collect();
    load_named(model, &tensors).unwrap().with_sincos_pos_embed()
}

#[test]
fn zero_shot_at_the_aux_size_is_the_aux_bit_for_bit() {
    let device = Device::default();
    let c = cfg(3, 64, 4, 16);
    let aux = trained(&c, &device);
    let target = init_from_kronecker(&aux, &c, &c, 5, &device).unwrap();
    let want: BTreeMap<_, _> = named_tensors(&aux).into_iter().collect();
    for (k, v) in named_tensors(&target) {
        assert_eq!(Some(&v), want.get(&k), "{k}");
    }
    let (a, b) = (
        aux.generator.layers(&Default::default()),
        target.generator.layers(&Default::default()),
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(vals(&x.qkv), vals(&y.qkv));
        assert_eq!(vals(&x.fc2), vals(&y.fc2));
    }
}

#[test]
fn a_narrower_target_is_the_aux_cut_per_segment() {
    // Same depth, width 64 -> 32 with 16-wide tiles: cutting the scalers' tiles per segment
    // composes exactly the aux's weights cut by the width rules (first 32 rows of each of q, k
    // and v; of each of fc1's four hidden chunks; first columns of each of fc2's).
    let device = Device::default();
    let (c, small) = (cfg(2, 64, 3, 16), cfg(2, 32, 3, 16));
    let aux = trained(&c, &device);
    let target = init_from_kronecker(&aux, &c, &small, 5, &device).unwrap();
    let big = aux.generator.layers(&Default::default());
    let cut = target.generator.layers(&Default::default());
    let close = |a: Tensor<2>, b: &Tensor<2>, what: &str| {
        assert_eq!(a.dims(), b.dims(), "{what}");
        let d = vals(&a)
            .iter()
            .zip(vals(b))
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(d < 1e-5, "{what}: max difference {d}");
    };
    for (l, (w, s)) in big.iter().zip(&cut).enumerate() {
        let w = w.clone();
        close(
            first(chunks(w.qkv, 0, 3, 32), 1, 32),
            &s.qkv,
            &format!("qkv {l}"),
        );
        close(
            first(first(w.proj, 0, 32), 1, 32),
            &s.proj,
            &format!("proj {l}"),
        );
        close(
            first(chunks(w.fc1, 0, 4, 32), 1, 32),
            &s.fc1,
            &format!("fc1 {l}"),
        );
        close(
            first(chunks(w.fc2, 1, 4, 32), 0, 32),
            &s.fc2,
            &format!("fc2 {l}"),
        );
    }
    // and a wider, deeper target keeps the trained tiles of every segment at the endpoints
    let wide = cfg(3, 96, 3, 16);
    let grown = init_from_kronecker(&aux, &c, &wide, 5, &device).unwrap();
    let g = grown.generator.layers(&Default::default());
    close(
        first(chunks(g[0].qkv.clone(), 0, 3, 64), 1, 64),
        &big[0].qkv,
        "grown qkv, layer 0",
    );
    close(
        first(chunks(g[2].fc2.clone(), 1, 4, 64), 0, 64),
        &big[1].fc2,
        "grown fc2, last layer",
    );
}

#[test]
fn the_template_file_holds_the_golden_keys_and_round_trips() {
    let device = Device::default();
    let c = cfg(2, 64, 4, 32);
    let aux = trained(&c, &device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(KRONECKER_FILE);
    let provenance = Provenance {
        data: "fashion-mnist".into(),
        mean: vec![0.3],
        std: vec![0.35],
        pretraining: serde_json::json!({}),
        pretrain_seconds: 1.0,
        pretrain_steps: 2,
    };
    let decoder = vec![(
        "decoder_embed.weight".to_string(),
        HostTensor {
            shape: vec![2, 64],
            values: vec![0.5; 128],
        },
    )];
    kfile::save(&path, &aux, &c, &provenance, &decoder).unwrap();
    let keys: Vec<String> = sweet_vit::tensor_file::read(&path)
        .unwrap()
        .tensors
        .iter()
        .map(|(k, t)| format!("{k} {:?}", t.shape))
        .collect();
    let mut golden = vec![
        "cls_token [1, 1, 64]".to_string(),
        "decoder.decoder_embed.weight [2, 64]".into(),
        "norm.bias [64]".into(),
        "norm.weight [64]".into(),
        "patch_embed.proj.bias [64]".into(),
        "patch_embed.proj.weight [64, 1, 4, 4]".into(),
        "pos_embed [1, 5, 64]".into(),
        "templates.fc1 [4, 32, 32]".into(),
        "templates.fc2 [4, 32, 32]".into(),
        "templates.proj [4, 32, 32]".into(),
        "templates.qkv [4, 32, 32]".into(),
    ];
    for l in 0..2 {
        for (leaf, shape) in [
            ("attn.proj.bias", "[64]"),
            ("attn.qkv.bias", "[192]"),
            ("mlp.fc1.bias", "[256]"),
            ("mlp.fc2.bias", "[64]"),
            ("norm1.bias", "[64]"),
            ("norm1.weight", "[64]"),
            ("norm2.bias", "[64]"),
            ("norm2.weight", "[64]"),
        ] {
            golden.push(format!("blocks.{l}.{leaf} {shape}"));
        }
        for (leaf, shape) in [
            ("fc1", "[4, 8, 2]"),
            ("fc2", "[4, 2, 8]"),
            ("proj", "[4, 2, 2]"),
            ("qkv", "[4, 6, 2]"),
        ] {
            golden.push(format!("scalers.{l}.{leaf} {shape}"));
        }
    }
    let mut sorted = keys.clone();
    sorted.sort();
    golden.sort();
    assert_eq!(sorted, golden);

    let back = kfile::load(&path, &device).unwrap();
    assert_eq!(back.cfg, c);
    assert_eq!(back.provenance, provenance);
    assert_eq!(back.decoder["decoder_embed.weight"], decoder[0].1);
    assert_eq!(
        named_tensors(&back.model),
        named_tensors(&aux),
        "every tensor back bit for bit"
    );
    assert_eq!(back.model.pos_kind, aux.pos_kind);
    // the parameter counts BASELINES.md reports: 4 N w^2 in the templates
    assert_eq!(c.template_params(), 4 * 4 * 32 * 32);
    let scalers: usize = named_shapes(&aux.generator.scalers)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(c.scaler_params(), scalers);

    // a damaged template is refused
    let mut tensors: BTreeMap<_, _> = sweet_vit::tensor_file::read(&path)
        .unwrap()
        .tensors
        .into_iter()
        .collect();
    tensors.get_mut("templates.fc2").unwrap().values[0] += 1.0;
    let meta = sweet_vit::tensor_file::read(&path).unwrap().metadata;
    let tensors: Vec<_> = tensors.into_iter().collect();
    sweet_vit::tensor_file::write(&path, &tensors, &meta).unwrap();
    let err = kfile::load(&path, &device)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("damaged"), "{err}");
}
