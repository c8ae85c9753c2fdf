//! Mimetic init through the model's own forward: v then proj realise x ↦ x A' (not its
//! transpose), each head's q·kᵀ is x A_hd xᵀ with A_hd the best rank-hd part of its target,
//! and everything else is timm's default init.

use burn::prelude::*;
use sweet_baselines::mimetic::{mimetic_vit, targets, MimeticConfig};
use sweet_vit::layers::functional::{attention, linear};
use sweet_vit::names::{named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

fn cfg(width: usize, heads: usize) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: width,
        depth: 2,
        num_heads: heads,
        mlp_ratio: 4.0,
        num_classes: 3,
        global_pool: Default::default(),
    }
}

fn host(t: Tensor<3>) -> Vec<f64> {
    HostTensor::from_tensor(&t)
        .values
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// `x [n, d] · a [d, d]`, row-major f64.
fn matmul(x: &[f64], a: &[f64], n: usize, d: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|t| x[i * d + t] * a[t * d + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|i| a[(i % d) * d + i / d]).collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn frob2(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum()
}

/// Tokens with entries in [-1, 1): `[b, n, d]`.
fn tokens(b: usize, n: usize, d: usize, device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..b * n * d)
        .map(|i| (((i * 7919) % 2000) as f32 / 1000.0) - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [b, n, d]), device)
}

#[test]
fn value_then_proj_realise_a_prime_through_attention() {
    let device = Device::default();
    let (d, heads) = (64, 2);
    let m = MimeticConfig::default();
    let model = mimetic_vit(&cfg(d, heads), &m, 5, &device).unwrap();
    let t = targets(2, d, heads, &m, 5);
    // one token per sequence: softmax is 1, so attention is proj(v(x)) exactly
    let b = 6;
    let x = tokens(b, 1, d, &device);
    let xs = host(x.clone());
    for (l, target) in t.iter().enumerate() {
        let (w, p) = (&model.generator.blocks[l].attn, &model.blocks[l].attn);
        let y = attention(
            x.clone(),
            w.qkv.weight.val(),
            p.qkv.bias.val(),
            w.proj.weight.val(),
            p.proj.bias.val(),
            heads,
        );
        let want = matmul(&xs, &target.vo, b, d);
        let diff = max_diff(&host(y), &want);
        println!("layer {l}: max |attn(x) - x A'| = {diff:.2e}");
        assert!(diff < 1e-4, "layer {l}: {diff}");
        // the untransposed assignment would realise x A'ᵀ, which is far from x A'
        let wrong = matmul(&xs, &transpose(&target.vo, d), b, d);
        assert!(max_diff(&wrong, &want) > 0.05);
    }
}

/// Head h's q·kᵀ on the token batch `X = I` (D tokens, one per basis vector), i.e. the D x D
/// matrix B_h with q·kᵀ = X B_h Xᵀ for every X, computed by the model's qkv projection.
fn head_products(model: &Vit, l: usize, d: usize, heads: usize) -> Vec<Vec<f64>> {
    let device = Device::default();
    let eye: Tensor<3> = Tensor::<2>::eye(d, &device).reshape([1, d, d]);
    let qkv = linear(
        eye,
        model.generator.blocks[l].attn.qkv.weight.val(),
        model.blocks[l].attn.qkv.bias.val(),
    );
    let hd = d / heads;
    (0..heads)
        .map(|h| {
            let q = qkv.clone().narrow(2, h * hd, hd);
            let k = qkv.clone().narrow(2, d + h * hd, hd);
            host(q.matmul(k.swap_dims(1, 2)))
        })
        .collect()
}

#[test]
fn query_key_products_are_the_target_at_one_head() {
    // hd = D: the rank-hd part is A itself, so q kᵀ = X A Xᵀ exactly
    let d = 32;
    let m = MimeticConfig::default();
    let model = mimetic_vit(&cfg(d, 1), &m, 9, &Device::default()).unwrap();
    let t = targets(2, d, 1, &m, 9);
    for (l, target) in t.iter().enumerate() {
        let b = &head_products(&model, l, d, 1)[0];
        let diff = max_diff(b, &target.qk[0]);
        println!("layer {l}: max |q kᵀ - A| = {diff:.2e}");
        assert!(diff < 1e-4, "layer {l}: {diff}");
    }
    // and on arbitrary tokens: Q Kᵀ = X A Xᵀ
    let device = Device::default();
    let x = tokens(1, 5, d, &device);
    let qkv = linear(
        x.clone(),
        model.generator.blocks[0].attn.qkv.weight.val(),
        model.blocks[0].attn.qkv.bias.val(),
    );
    let (q, k) = (qkv.clone().narrow(2, 0, d), qkv.narrow(2, d, d));
    let got = host(q.matmul(k.swap_dims(1, 2)));
    let xs = host(x);
    let xa = matmul(&xs, &t[0].qk[0], 5, d);
    let want: Vec<f64> = (0..25)
        .map(|i| {
            (0..d)
                .map(|c| xa[(i / 5) * d + c] * xs[(i % 5) * d + c])
                .sum()
        })
        .collect();
    assert!(max_diff(&got, &want) < 1e-3, "{}", max_diff(&got, &want));
}

#[test]
fn query_key_products_are_the_best_rank_hd_part_with_several_heads() {
    let (d, heads) = (64, 2);
    let hd = d / heads;
    let m = MimeticConfig::default();
    let model = mimetic_vit(&cfg(d, heads), &m, 3, &Device::default()).unwrap();
    let t = targets(2, d, heads, &m, 3);
    for (l, target) in t.iter().enumerate() {
        for (h, b) in head_products(&model, l, d, heads).iter().enumerate() {
            let a = &target.qk[h];
            let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
            // a truncated SVD: the residual is orthogonal to B on both sides, so the
            // energies add up ...
            let (bt_r, r_bt) = (
                matmul(&transpose(b, d), &r, d, d),
                matmul(&r, &transpose(b, d), d, d),
            );
            assert!(max_diff(&bt_r, &vec![0.0; d * d]) < 1e-3);
            assert!(max_diff(&r_bt, &vec![0.0; d * d]) < 1e-3);
            assert!((frob2(b) + frob2(&r) - frob2(a)).abs() < 1e-3 * frob2(a));
            // ... and it keeps the leading hd of D singular values: at least hd / D of A's
            // energy (a random rank-hd part would keep about (hd / D)^2 of it)
            assert!(
                frob2(b) >= hd as f64 / d as f64 * frob2(a),
                "layer {l} head {h}: {} of {}",
                frob2(b),
                frob2(a)
            );
            assert!(frob2(&r) > 0.0, "rank hd < D cannot hold all of A");
        }
        // the heads' targets are drawn apart
        assert!(max_diff(&target.qk[0], &target.qk[1]) > 0.01);
    }
}

#[test]
fn everything_else_is_timm_default_init() {
    let device = Device::default();
    let c = cfg(64, 2);
    let mimetic = named_tensors(&mimetic_vit(&c, &MimeticConfig::default(), 4, &device).unwrap());
    let random = named_tensors(&Vit::new(&c, 4, &device));
    assert_eq!(mimetic.len(), random.len());
    let mut set = 0;
    for ((k, a), (k2, b)) in mimetic.iter().zip(&random) {
        assert_eq!(k, k2);
        if k.ends_with("attn.qkv.weight") || k.ends_with("attn.proj.weight") {
            assert_ne!(a, b, "{k} is set by mimetic init");
            set += 1;
        } else {
            assert_eq!(a, b, "{k} keeps timm's init");
        }
    }
    assert_eq!(set, 4);
}
