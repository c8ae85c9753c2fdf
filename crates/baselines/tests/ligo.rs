//! LiGO: with identity-like operators (one-hot depth coefficients, C = 0) the grown model's old
//! units are the source's and its new units are zero; at the source's own size it is the source,
//! forward included; training moves only the operators (the source stays bit for bit); the
//! written folder has timm's keys at the target's shapes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_baselines::folder::read_source;
use sweet_baselines::folder::TargetSize;
use sweet_baselines::ligo::operator::{Coeffs, LayerWidth};
use sweet_baselines::ligo::{
    loop_config, operator_sets, optimizer, prepare, train_operators, write_ligo, DepthOperator,
    LigoMae, LigoModel, MaeSettings, OperatorTraining, WidthOperator, OPERATOR_RUN,
};
use sweet_baselines::{BaselineRecord, Method};
use sweet_mae::decoder::{DecoderConfig, MaeDecoder};
use sweet_train::adamw::AdamWConfig;
use sweet_train::run::DataConfig;
use sweet_train::Silent;
use sweet_vit::checkpoint::{load_model, save_model};
use sweet_vit::names::{named_shapes, named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

fn cfg(depth: usize, width: usize, heads: usize) -> VitConfig {
    VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: width,
        depth,
        num_heads: heads,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    }
}

fn p2(t: Tensor<2>) -> Param<Tensor<2>> {
    Param::from_tensor(t)
}

/// One-hot depth coefficients: target layer i is source layer `i mod l1`.
fn one_hot(l2: usize, l1: usize, device: &Device) -> DepthOperator {
    let c = || {
        let v: Vec<f32> = (0..l2 * l1)
            .map(|x| f32::from(x % l1 == (x / l1) % l1))
            .collect();
        let t = || {
            p2(HostTensor {
                shape: vec![l2, l1],
                values: v.clone(),
            }
            .to_tensor(device))
        };
        Coeffs {
            weight_coef: t(),
            bias_coef: t(),
        }
    };
    DepthOperator {
        q: c(),
        k: c(),
        v: c(),
        proj: c(),
        norm1: c(),
        fc1: c(),
        fc2: c(),
        norm2: c(),
    }
}

/// Width operators that are all zero: every new unit is 0.
fn zero_width(l2: usize, d1: usize, d2: usize, device: &Device) -> WidthOperator {
    let z = |r: usize, c: usize| p2(Tensor::zeros([r, c], device));
    WidthOperator {
        embed: z(d2 - d1, d1),
        layers: (0..l2)
            .map(|_| LayerWidth {
                q: z(d2 - d1, d1),
                k: z(d2 - d1, d1),
                v: z(d2 - d1, d1),
                ffn: z(4 * (d2 - d1), 4 * d1),
            })
            .collect(),
    }
}

fn host(t: &[(String, HostTensor)]) -> BTreeMap<String, HostTensor> {
    t.iter().cloned().collect()
}

/// The block `[r0..r0+nr, c0..c0+nc]` of a 2-D host tensor (a vector: `c0`, `nc` ignored).
fn block(t: &HostTensor, r0: usize, nr: usize, c0: usize, nc: usize) -> Vec<f32> {
    if t.shape.len() == 1 {
        return t.values[r0..r0 + nr].to_vec();
    }
    let cols = t.shape[1];
    (r0..r0 + nr)
        .flat_map(|r| t.values[r * cols + c0..r * cols + c0 + nc].to_vec())
        .collect()
}

#[test]
fn identity_like_operators_keep_the_old_units_and_zero_the_new() {
    let device = Device::default();
    let (l1, d1, l2, d2) = (2, 32, 3, 48);
    let source = Vit::new(&cfg(l1, d1, 2), 1, &device);
    let src = host(&named_tensors(&source));
    let grown = LigoModel {
        source,
        depth: one_hot(l2, l1, &device),
        width: Some(zero_width(l2, d1, d2, &device)),
        num_heads: 3,
    };
    let g = host(&grown.grown_tensors());
    let (h1, h2) = (4 * d1, 4 * d2);
    for i in 0..l2 {
        let j = i % l1;
        let (gk, sk) = (
            |s: &str| format!("blocks.{i}.{s}"),
            |s: &str| format!("blocks.{j}.{s}"),
        );
        // (key, old rows/cols per segment (grown offset, source offset, count), ...)
        let qkv = (&g[&gk("attn.qkv.weight")], &src[&sk("attn.qkv.weight")]);
        assert_eq!(qkv.0.shape, [3 * d2, d2]);
        for s in 0..3 {
            assert_eq!(
                block(qkv.0, s * d2, d1, 0, d1),
                block(qkv.1, s * d1, d1, 0, d1),
                "layer {i} segment {s}"
            );
            // the new units of the segment are zero (rows), and so are the new columns
            assert!(block(qkv.0, s * d2 + d1, d2 - d1, 0, d2)
                .iter()
                .all(|&x| x == 0.0));
            assert!(block(qkv.0, s * d2, d1, d1, d2 - d1)
                .iter()
                .all(|&x| x == 0.0));
            let b = (&g[&gk("attn.qkv.bias")], &src[&sk("attn.qkv.bias")]);
            assert_eq!(block(b.0, s * d2, d1, 0, 0), block(b.1, s * d1, d1, 0, 0));
        }
        for (key, rows, cols) in [
            ("attn.proj.weight", d1, d1),
            ("mlp.fc1.weight", h1, d1),
            ("mlp.fc2.weight", d1, h1),
            ("attn.proj.bias", d1, 0),
            ("mlp.fc1.bias", h1, 0),
            ("mlp.fc2.bias", d1, 0),
            ("norm1.weight", d1, 0),
            ("norm1.bias", d1, 0),
            ("norm2.weight", d1, 0),
            ("norm2.bias", d1, 0),
        ] {
            let (a, b) = (&g[&gk(key)], &src[&sk(key)]);
            assert_eq!(block(a, 0, rows, 0, cols), b.values, "layer {i} {key}");
            let new: f32 = a.values.iter().map(|x| x.abs()).sum::<f32>()
                - b.values.iter().map(|x| x.abs()).sum::<f32>();
            assert_eq!(new, 0.0, "layer {i} {key}: new units are 0");
        }
        assert_eq!(g[&gk("mlp.fc1.weight")].shape, [h2, d2]);
    }
    // embeddings and the final norm: the first D1 channels are the source's, the rest 0
    let patch = &g["patch_embed.proj.weight"];
    assert_eq!(patch.shape, [d2, 1, 4, 4]);
    assert_eq!(
        patch.values[..d1 * 16],
        src["patch_embed.proj.weight"].values[..]
    );
    assert!(patch.values[d1 * 16..].iter().all(|&x| x == 0.0));
    for (key, rows) in [("pos_embed", 17), ("cls_token", 1)] {
        let grown = HostTensor {
            shape: vec![rows, d2],
            values: g[key].values.clone(),
        };
        assert_eq!(block(&grown, 0, rows, 0, d1), src[key].values, "{key}");
        assert!(block(&grown, 0, rows, d1, d2 - d1)
            .iter()
            .all(|&x| x == 0.0));
    }
    for key in ["norm.weight", "norm.bias", "patch_embed.proj.bias"] {
        assert_eq!(g[key].values[..d1], src[key].values[..], "{key}");
        assert!(g[key].values[d1..].iter().all(|&x| x == 0.0), "{key}");
    }
}

#[test]
fn at_its_own_size_with_one_hot_depth_the_grown_model_is_the_source() {
    let device = Device::default();
    let c = cfg(2, 32, 2);
    let source = Vit::new(&c, 4, &device);
    let images: Tensor<4> =
        Tensor::random([3, 1, 16, 16], burn::tensor::Distribution::Default, &device);
    let want = HostTensor::from_tensor(&source.features(images.clone()));
    let src = host(&named_tensors(&source));
    let grown = LigoModel {
        source,
        depth: one_hot(2, 2, &device),
        width: None,
        num_heads: 2,
    };
    let g = host(&grown.grown_tensors());
    for (k, t) in &g {
        assert_eq!(t, &src[k], "{k}");
    }
    let view = grown.view();
    let got = HostTensor::from_tensor(&view.encode(view.patch_tokens(images)));
    assert_eq!(got, want, "the same forward, bit for bit");
}

#[test]
fn training_moves_only_the_operators_and_the_decoder() {
    let device = Device::default();
    let ad = device.clone().autodiff();
    let (s, t) = (cfg(1, 32, 2), cfg(2, 48, 3));
    let source = Vit::new(&s, 2, &ad).no_grad();
    let before_source = named_tensors(&source);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let grown = LigoModel {
        source,
        depth: DepthOperator::stackbert_noisy(2, 1, &mut rng, &ad),
        width: WidthOperator::rand(2, 32, 48, 128, 192, &mut rng, &ad),
        num_heads: 3,
    };
    let dec = DecoderConfig {
        width: 16,
        depth: 1,
        heads: 2,
        mlp_ratio: 4.0,
    };
    let decoder = MaeDecoder::new(&dec, 48, t.grid(), 4, 1, 5, &ad);
    let mae = LigoMae { grown, decoder };
    let before: BTreeMap<_, _> = named_tensors(&mae).into_iter().collect();
    let set = Arc::new(sweet_data::synthetic(32, 1, 16, 16, 4, 3));
    let training = OperatorTraining {
        steps: 3,
        batch_size: 16,
        images: 32,
        eval_images: 16,
        ..Default::default()
    };
    let opt = AdamWConfig {
        weight_decay: 0.1,
        grad_clip: Some(1.0),
        eps: 1e-6,
        ..Default::default()
    };
    let cfg = loop_config(&training, opt, set.len);
    let mae_cfg = MaeSettings {
        mask_ratio: 0.75,
        num_patches: 16,
        eval_images: 16,
    };
    let dir = tempfile::tempdir().unwrap();
    let sets = (set.clone(), set);
    let trained =
        train_operators(&cfg, &mae_cfg, mae, sets, dir.path(), false, &mut Silent).unwrap();
    assert_eq!(
        named_tensors(&trained.grown.source),
        before_source,
        "the source is frozen"
    );
    let after: BTreeMap<_, _> = named_tensors(&trained).into_iter().collect();
    let mut moved = Vec::new();
    for (k, v) in &after {
        if &before[k] != v {
            moved.push(k.clone());
        }
    }
    assert!(moved.iter().all(|k| !k.starts_with("grown.source.")));
    for k in [
        "grown.depth.q.weight_coef",
        "grown.depth.fc2.bias_coef",
        "grown.width.embed",
        "grown.width.layers.1.ffn",
    ] {
        assert!(moved.iter().any(|m| m == k), "{k} learns; moved: {moved:?}");
    }
    assert!(moved.iter().any(|m| m.starts_with("decoder.")));
}

/// 64 train / 32 test 1x16x16 images as MNIST IDX files in `dir`.
fn data(dir: &Path) -> DataConfig {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n, seed) in [("train", 64, 1), ("t10k", 32, 2)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        sweet_data::write_idx(&set, dir, prefix, false).unwrap();
    }
    DataConfig {
        data: "mnist".into(),
        data_dir: dir.to_path_buf(),
        data_img_size: None,
        data_channels: None,
    }
}

#[test]
fn the_written_folder_has_timms_keys_at_the_target_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let from = dir.path().join("src");
    let s = cfg(1, 32, 2);
    save_model(&Vit::new(&s, 0, &device), &s, vec![0.3], vec![0.4], &from).unwrap();
    let data = data(&dir.path().join("data"));
    let out = dir.path().join("out");
    let training = OperatorTraining {
        steps: 2,
        batch_size: 16,
        images: 32,
        eval_images: 16,
        ..Default::default()
    };
    let target = TargetSize {
        depth: 2,
        width: 64,
        heads: None,
        classes: 10,
    };
    let r = write_ligo(
        &from,
        &target,
        &training,
        Some(data.clone()),
        &out,
        &mut Silent,
        &device,
    )
    .unwrap();
    let (model, c) = load_model(&out, &device).unwrap();
    assert_eq!(c.pretrained_cfg.mean, [0.3]);
    let got: Vec<String> = named_shapes(&model)
        .into_iter()
        .map(|(k, s)| format!("{k} {s:?}"))
        .collect();
    let mut golden = vec![];
    for i in 0..2 {
        golden.extend([
            format!("blocks.{i}.attn.qkv.weight [192, 64]"),
            format!("blocks.{i}.attn.proj.weight [64, 64]"),
            format!("blocks.{i}.mlp.fc1.weight [256, 64]"),
            format!("blocks.{i}.mlp.fc2.weight [64, 256]"),
        ]);
    }
    golden.extend([
        "patch_embed.proj.weight [64, 1, 4, 4]".into(),
        "patch_embed.proj.bias [64]".into(),
        "cls_token [1, 1, 64]".into(),
        "pos_embed [1, 17, 64]".into(),
    ]);
    for i in 0..2 {
        golden.extend([
            format!("blocks.{i}.norm1.weight [64]"),
            format!("blocks.{i}.norm1.bias [64]"),
            format!("blocks.{i}.attn.qkv.bias [192]"),
            format!("blocks.{i}.attn.proj.bias [64]"),
            format!("blocks.{i}.norm2.weight [64]"),
            format!("blocks.{i}.norm2.bias [64]"),
            format!("blocks.{i}.mlp.fc1.bias [256]"),
            format!("blocks.{i}.mlp.fc2.bias [64]"),
        ]);
    }
    golden.extend([
        "norm.weight [64]".into(),
        "norm.bias [64]".into(),
        "head.weight [10, 64]".into(),
        "head.bias [10]".into(),
    ]);
    assert_eq!(got, golden);
    assert_eq!(c.vit().num_heads, 4, "the source's head dim 16 is kept");
    let record = BaselineRecord::read(&out).unwrap();
    assert_eq!(record, r);
    let Method::Ligo(l) = &record.method else {
        panic!("{:?}", record.method)
    };
    assert_eq!((l.training.steps, l.recipe_from.as_str()), (2, "defaults"));
    assert!(
        record.mae_loss_before.unwrap().is_finite() && record.mae_loss_after.unwrap().is_finite()
    );
    // a smaller target is refused
    let small = TargetSize {
        depth: 1,
        width: 16,
        heads: None,
        classes: 0,
    };
    let e = write_ligo(
        &from,
        &small,
        &training,
        Some(data),
        &dir.path().join("o2"),
        &mut Silent,
        &device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("only grows"), "{e}");
}

/// `a [n, k] · b [k, m]` on the host.
fn matmul(a: &[f32], b: &[f32], n: usize, k: usize, m: usize) -> Vec<f32> {
    (0..n * m)
        .map(|i| (0..k).map(|t| a[(i / m) * k + t] * b[t * m + i % m]).sum())
        .collect()
}

fn transpose(a: &[f32], n: usize, m: usize) -> Vec<f32> {
    (0..n * m).map(|i| a[(i % n) * m + i / n]).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
}

#[test]
fn new_units_are_the_width_operators_mixtures_of_old_ones() {
    let device = Device::default();
    let (d1, d2) = (32, 48);
    let e = d2 - d1;
    let source = Vit::new(&cfg(1, d1, 2), 6, &device);
    let src = host(&named_tensors(&source));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let width = WidthOperator::rand(1, d1, d2, 4 * d1, 4 * d2, &mut rng, &device).unwrap();
    let val = |p: &Param<Tensor<2>>| HostTensor::from_tensor(&p.val()).values;
    let (ce, cq, cv, cf) = (
        val(&width.embed),
        val(&width.layers[0].q),
        val(&width.layers[0].v),
        val(&width.layers[0].ffn),
    );
    let grown = LigoModel {
        source,
        depth: one_hot(1, 1, &device),
        width: Some(width),
        num_heads: 3,
    };
    let g = host(&grown.grown_tensors());
    let qkv = &g["blocks.0.attn.qkv.weight"];
    let wq = block(&src["blocks.0.attn.qkv.weight"], 0, d1, 0, d1);
    // [I; C_q] W_q [I; C_e]ᵀ: new rows C_q W_q, new columns W_q C_eᵀ
    assert!(close(
        &block(qkv, d1, e, 0, d1),
        &matmul(&cq, &wq, e, d1, d1)
    ));
    assert!(close(
        &block(qkv, 0, d1, d1, e),
        &matmul(&wq, &transpose(&ce, e, d1), d1, d1, e)
    ));
    // proj's in-dim is tied to C_v: new columns W_o C_vᵀ
    let wo = &src["blocks.0.attn.proj.weight"].values;
    assert!(close(
        &block(&g["blocks.0.attn.proj.weight"], 0, d1, d1, e),
        &matmul(wo, &transpose(&cv, e, d1), d1, d1, e)
    ));
    // fc2's in-dim is tied to C_ffn; its out-dim (the residual stream) to C_e
    let w2 = &src["blocks.0.mlp.fc2.weight"].values;
    let (h1, eh) = (4 * d1, 4 * e);
    let fc2 = &g["blocks.0.mlp.fc2.weight"];
    assert!(close(
        &block(fc2, 0, d1, h1, eh),
        &matmul(w2, &transpose(&cf, eh, h1), d1, h1, eh)
    ));
    assert!(close(
        &block(fc2, d1, e, 0, h1),
        &matmul(&ce, w2, e, d1, h1)
    ));
    // LayerNorm γ: [γ; C_e γ]
    let gamma = &src["blocks.0.norm1.weight"].values;
    assert!(close(
        &g["blocks.0.norm1.weight"].values[d1..],
        &matmul(&ce, gamma, e, d1, 1)
    ));
}

#[test]
fn a_killed_operator_training_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let from = dir.path().join("src");
    let s = cfg(1, 32, 2);
    save_model(&Vit::new(&s, 0, &device), &s, vec![0.5], vec![0.5], &from).unwrap();
    let data = data(&dir.path().join("data"));
    // 32 images in batches of 16: 4 steps are 2 epochs
    let training = OperatorTraining {
        steps: 4,
        batch_size: 16,
        images: 32,
        eval_images: 16,
        ..Default::default()
    };
    let target = TargetSize {
        depth: 2,
        width: 64,
        heads: None,
        classes: 3,
    };
    let straight = dir.path().join("straight");
    let r = write_ligo(
        &from,
        &target,
        &training,
        Some(data.clone()),
        &straight,
        &mut Silent,
        &device,
    )
    .unwrap();
    // the same run killed after its first epoch
    let out = dir.path().join("resumed");
    let p = prepare(&from, &target, &training, Some(data.clone()), &device).unwrap();
    let sets = operator_sets(&data, &p.mean, &p.std, training.images, &p.vit).unwrap();
    let mut cfg = loop_config(&training, optimizer(&training), sets.0.len);
    cfg.stop_after = Some(1);
    let settings = p.settings(training.eval_images);
    let run = out.join(OPERATOR_RUN);
    train_operators(&cfg, &settings, p.mae, sets, &run, false, &mut Silent).unwrap();
    assert!(run.join("checkpoint.safetensors").exists());
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1, "stopped after one of two epochs");
    let e = write_ligo(
        &from,
        &target,
        &training,
        Some(data.clone()),
        &out,
        &mut Silent,
        &device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    let resume = OperatorTraining {
        resume: true,
        ..training
    };
    let r2 = write_ligo(
        &from,
        &target,
        &resume,
        Some(data),
        &out,
        &mut Silent,
        &device,
    )
    .unwrap();
    assert_eq!(
        read_source(&out).unwrap().tensors,
        read_source(&straight).unwrap().tensors
    );
    assert_eq!(r2.mae_loss_after, r.mae_loss_after);
    assert_eq!(r2.mae_loss_before, r.mae_loss_before);
}

#[test]
fn the_materialized_model_computes_what_the_operators_trained() {
    let device = Device::default();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let grown = LigoModel {
        source: Vit::new(&cfg(2, 32, 2), 8, &device),
        depth: DepthOperator::stackbert_noisy(3, 2, &mut rng, &device),
        width: WidthOperator::rand(3, 32, 64, 128, 256, &mut rng, &device),
        num_heads: 4,
    };
    let tensors: BTreeMap<_, _> = grown.grown_tensors().into_iter().collect();
    let dense =
        sweet_baselines::folder::with_fresh_head(&tensors, &cfg(3, 64, 4), 0, &device).unwrap();
    let images: Tensor<4> =
        Tensor::random([2, 1, 16, 16], burn::tensor::Distribution::Default, &device);
    let view = grown.view();
    let want = HostTensor::from_tensor(&view.encode(view.patch_tokens(images.clone())));
    let got = HostTensor::from_tensor(&dense.features(images));
    let diff = got
        .values
        .iter()
        .zip(&want.values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "max |dense - grown view| = {diff}");
}
