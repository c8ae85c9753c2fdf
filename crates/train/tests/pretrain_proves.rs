//! What MAE pre-training claims, proved on tiny models through the stable API (`Mae::new`,
//! `Mae::step_loss`, `AdamW::step`): each SWS mode really changes the step (nested trains only
//! the leading fibres, channels runs a narrower encoder and decoder input, fibre drops
//! fibres, off changes nothing); the templated MAE loss is the dense MAE loss on the composed
//! weights, gradients included (chain rule through the composition); and AdamW steps train
//! every parameter with a gradient while the frozen sin-cos table stays bit-for-bit.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_mae::decoder::DecoderConfig;
use sweet_mae::masking::{random_masking, MaskPlan};
use sweet_template::tucker::compose_layers;
use sweet_template::{Generator, GeneratorConfig, SwsDraw, SwsMode, TemplateConfig, Tucker};
use sweet_train::adamw::{AdamW, AdamWConfig};
use sweet_train::pretrain::{Mae, PretrainConfig};
use sweet_train::LoopConfig;
use sweet_vit::names::{map_params, named_tensors, visit_params, HostTensor, NamedMap, NamedVisit};
use sweet_vit::pos_embed::sincos_2d;
use sweet_vit::VitConfig;

const D: usize = 16;
const HEADS: usize = 4;
const RANKS: [usize; 3] = [8, 16, 16];

fn vit() -> VitConfig {
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

fn template(sws: SwsMode) -> TemplateConfig {
    TemplateConfig {
        ranks: RANKS,
        sws,
        ..TemplateConfig::with_default_ranks(vit())
    }
}

fn config(generator: GeneratorConfig) -> PretrainConfig {
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
            max_steps: None,
        },
        eval_images: 4,
    }
}

fn vals<const R: usize>(t: &Tensor<R>) -> Vec<f32> {
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

/// 4 images 1x16x16 with some structure (a bright square per image) plus noise.
fn images(seed: u64, device: &Device) -> Tensor<4> {
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

fn plan(seed: u64) -> MaskPlan {
    random_masking(4, 16, 0.75, seed)
}

fn tucker(mae: &Mae) -> &Tucker {
    match &mae.encoder.generator {
        Generator::Tucker(t) => t,
        _ => panic!("a template generator"),
    }
}

/// `mae` with every parameter but the frozen table shifted by uniform draws in [-0.25, 0.25):
/// at timm's init (std .02 weights, zero biases) the encoder barely moves the loss, and zero
/// biases or unit norms could hide a wrong index.
fn perturbed(mae: Mae, seed: u64) -> Mae {
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

fn loss_of(mae: &Mae, draw: &SwsDraw) -> f32 {
    let device = mae.decoder.mask_token.device();
    mae.step_loss(images(1, &device), &plan(2), draw)
        .0
        .into_scalar::<f32>()
}

/// The first `n` distinct training draws of a config (fresh stream per step, as a training
/// loop seeds one per step) that actually perturb: nested with `k2 < r2` or `k3 < r3`,
/// channels below the full width (all three of 4, 8, 12 for `n = 3`). `off` draws `Full`.
fn training_draws(cfg: &GeneratorConfig, n: usize) -> Vec<SwsDraw> {
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
#[test]
fn each_sws_mode_changes_the_loss_and_off_does_not() {
    let device = Device::default();
    for mode in [
        SwsMode::Nested,
        SwsMode::Fibre,
        SwsMode::Channels,
        SwsMode::Off,
    ] {
        let cfg = config(GeneratorConfig::Tucker(template(mode)));
        let mae = perturbed(Mae::new(&cfg, &device).unwrap(), 5);
        let full = loss_of(&mae, &SwsDraw::Full);
        for draw in training_draws(&cfg.generator, 3) {
            let l = loss_of(&mae, &draw);
            let rel = (l - full).abs() / full;
            println!("{mode}: full loss {full:.6}, {draw:?}: {l:.6} (relative change {rel:.2e})");
            if mode == SwsMode::Off {
                assert_eq!(draw, SwsDraw::Full);
                assert_eq!(l.to_bits(), full.to_bits(), "off is the full model");
            } else {
                // f32 noise of this loss is ~1e-7 relative; the draws move it by 1e-3 or more
                assert!(rel > 1e-4, "{mode} {draw:?} changed nothing: {l} vs {full}");
            }
        }
    }
}

/// Every gradient of `module`'s parameters in `grads`, by key.
fn grads_by_key<M: Module>(module: &M, grads: &Gradients) -> BTreeMap<String, Vec<f32>> {
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

/// Max |g| over the entries of a row-major `shape` gradient inside and outside a box: `inside`
/// says whether a multi-index is in it.
fn split_max(g: &[f32], shape: &[usize], inside: impl Fn(&[usize]) -> bool) -> (f32, f32) {
    let (mut a, mut b) = (0f32, 0f32);
    let mut idx = vec![0; shape.len()];
    for &v in g {
        if inside(&idx) {
            a = a.max(v.abs())
        } else {
            b = b.max(v.abs())
        }
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (a, b)
}

/// Catches nested SWS leaking into the trailing fibres (no narrowing of G, U or V, or the
/// narrowing applied after composing) under a real training step: a training draw with
/// `k2, k3 < r` puts gradient on `G[:, :k2, :k3]`, `U[:, :k2]` and `V[:, :k3]` and exactly zero
/// elsewhere. Sabotage that failed it: mode 3 not narrowed in the nested arm of
/// `Scalers::layers` (`g.narrow(1, 0, k2)` and the whole V: gradient outside the box 3.8e-5).
#[test]
fn nested_training_reaches_only_the_leading_fibres() {
    let device = Device::default().autodiff();
    let cfg = config(GeneratorConfig::Tucker(template(SwsMode::Nested)));
    let mae = Mae::new(&cfg, &device).unwrap();
    let draw = training_draws(&cfg.generator, 40)
        .into_iter()
        .find(|d| matches!(d, SwsDraw::Nested { k2, k3 } if *k2 < RANKS[1] && *k3 < RANKS[2]))
        .expect("a draw cutting both modes");
    let SwsDraw::Nested { k2, k3 } = draw else {
        unreachable!()
    };
    let (loss, _) = mae.step_loss(images(1, &device), &plan(2), &draw);
    let grads = loss.backward();
    let t = tucker(&mae);
    let g = vals(&t.template.val().grad(&grads).unwrap());
    let (inside, outside) = split_max(&g, &RANKS, |i| i[1] < k2 && i[2] < k3);
    println!("nested k2 {k2}, k3 {k3}: max |dL/dG| inside {inside:.2e}, outside {outside:.2e}");
    assert!(inside > 0.0 && outside == 0.0);
    for (name, p, k) in [("U", &t.scalers.inner, k2), ("V", &t.scalers.residual, k3)] {
        let g = vals(&p.val().grad(&grads).unwrap());
        let (inside, outside) = split_max(&g, &[D, RANKS[1]], |i| i[1] < k);
        assert!(inside > 0.0 && outside == 0.0, "{name}: {inside} {outside}");
    }
}

/// Catches fibre SWS not reaching the template (factors ignored, or applied to a copy): a
/// fibre draw's dropped inner fibres (`s2[j] = 0`) get no gradient on `G[:, j, :]`, the kept
/// ones do. Sabotage that failed it: the s2 factors replaced by ones in `Scalers::layers`.
#[test]
fn fibre_training_drops_the_dropped_fibres() {
    let device = Device::default().autodiff();
    let cfg = config(GeneratorConfig::Tucker(template(SwsMode::Fibre)));
    let mae = Mae::new(&cfg, &device).unwrap();
    let draw = training_draws(&cfg.generator, 1).remove(0);
    let SwsDraw::Fibre { s2, .. } = &draw else {
        panic!("{draw:?}")
    };
    assert!(s2.contains(&0.0) && s2.iter().any(|&s| s > 0.0), "{s2:?}");
    let (loss, _) = mae.step_loss(images(1, &device), &plan(2), &draw);
    let grads = loss.backward();
    let g = vals(&tucker(&mae).template.val().grad(&grads).unwrap());
    let (kept, dropped) = split_max(&g, &RANKS, |i| s2[i[1]] != 0.0);
    println!("fibre: max |dL/dG| on kept inner fibres {kept:.2e}, on dropped {dropped:.2e}");
    assert!(kept > 0.0 && dropped == 0.0);
}

/// Catches channel SWS running the full-width encoder, the head count or sin-cos table not
/// following the sub-width (a sliced table loses an axis), or the decoder not meeting the
/// narrower latent with its first columns: under a training draw of width w < D, the encoder
/// view has width w, w / head_dim heads and the sin-cos table recomputed at w; the step's
/// gradient on U, V, the patch embedding, the norms and the decoder's input projection is
/// zero past the first w channels and non-zero within them, and the decoder's columns past w
/// play no part in the loss. Sabotages that failed it: a sliced table (`first(..)`) for
/// `PosEmbedKind::SinCos` in `Vit::pos_embed_at`; the decoder meeting the latent with its
/// last w columns; the channels arm of `Scalers::layers` ignoring the width.
#[test]
fn channel_training_runs_a_narrower_encoder_and_decoder_input() {
    let device = Device::default().autodiff();
    let cfg = config(GeneratorConfig::Tucker(template(SwsMode::Channels)));
    let mae = Mae::new(&cfg, &device).unwrap();
    let draw = training_draws(&cfg.generator, 1).remove(0);
    let SwsDraw::Channels { width: w } = draw else {
        panic!("{draw:?}")
    };
    let view = mae.encoder.view(&draw);
    let head_dim = D / HEADS;
    assert_eq!((view.width(), view.heads), (w, w / head_dim));
    assert_eq!(
        vals(&view.pos_embed),
        sincos_2d(w, [4, 4]),
        "recomputed at w"
    );
    let (loss, pred) = mae.step_loss(images(1, &device), &plan(2), &draw);
    assert_eq!(pred.dims(), [4, 16, 16]);
    let grads = loss.backward();
    let by_key = grads_by_key(&mae, &grads);
    let named: BTreeMap<String, Vec<usize>> = named_tensors(&mae)
        .into_iter()
        .map(|(k, t)| (k, t.shape))
        .collect();
    // (key, dimension whose first w channels are the sub-width)
    for (key, dim) in [
        ("encoder.scalers.inner", 0),
        ("encoder.scalers.residual", 0),
        ("encoder.patch_embed.proj.weight", 0),
        ("encoder.cls_token", 2),
        ("encoder.blocks.0.norm1.weight", 0),
        ("encoder.blocks.1.attn.proj.bias", 0),
        ("encoder.norm.weight", 0),
        ("decoder.decoder_embed.weight", 1),
    ] {
        let g = &by_key[key];
        let (inside, outside) = split_max(g, &named[key], |i| i[dim] < w);
        println!("channels w {w}: {key} max |grad| within {inside:.2e}, past w {outside:.2e}");
        assert!(inside > 0.0 && outside == 0.0, "{key}");
    }
    // The decoder's columns past w play no part in the loss.
    let mut garbage = mae.clone();
    garbage.decoder.decoder_embed.weight = garbage.decoder.decoder_embed.weight.map(|t| {
        let [dd, d] = t.dims();
        let keep = t.clone().narrow(1, 0, w);
        Tensor::cat(vec![keep, Tensor::ones([dd, d - w], &t.device()) * 7.0], 1)
    });
    let l2 = garbage.step_loss(images(1, &device), &plan(2), &draw).0;
    assert_eq!(
        vals(&l2),
        vals(&mae.step_loss(images(1, &device), &plan(2), &draw).0)
    );
}

/// The `Mae` whose encoder is `mae`'s composed dense model (same parts, same decoder).
fn dense_twin(mae: &Mae) -> Mae {
    Mae {
        encoder: mae.encoder.to_dense().map_generator(Generator::Dense),
        decoder: mae.decoder.clone(),
    }
}

/// Catches the templated encoder and its dense export disagreeing (a part dropped or
/// re-initialized by `to_dense`, the sin-cos table not carried over, an orientation mix-up
/// between composition and export) and gradients not flowing into the factors as the chain
/// rule says: for the full draw, a `Mae` with a Tucker generator and the `Mae` whose encoder
/// is its `to_dense()` give the same loss and predictions; the G, X, U, V gradients equal
/// those of `sum_l <compose_l(G, X, U, V), dL/dW_l>` with the dense model's weight gradients;
/// every ordinary part gets the same gradient (parameters perturbed off timm's init, so zero
/// biases and unit norms hide nothing). Sabotages that failed it: `to_dense` dropping the
/// final norm (loss off by 9e-4, predictions by 0.62); X detached in `Scalers::layers` (X
/// gets no gradient).
#[test]
fn templated_mae_is_the_dense_mae_on_the_composed_weights() {
    let device = Device::default().autodiff();
    let cfg = config(GeneratorConfig::Tucker(template(SwsMode::Nested)));
    let mae = perturbed(Mae::new(&cfg, &device).unwrap(), 6);
    let dense = dense_twin(&mae);
    let (x, p) = (images(1, &device), plan(2));
    let (lt, pt) = mae.step_loss(x.clone(), &p, &SwsDraw::Full);
    let (ld, pd) = dense.step_loss(x, &p, &SwsDraw::Full);
    let (lt_v, ld_v) = (vals(&lt)[0], vals(&ld)[0]);
    let pred_diff = max_diff(&vals(&pt), &vals(&pd));
    println!(
        "templated vs dense-on-composed MAE: loss {lt_v:.7} vs {ld_v:.7} (|diff| {:.2e}), \
         max |pred diff| {pred_diff:.2e}",
        (lt_v - ld_v).abs()
    );
    assert!((lt_v - ld_v).abs() <= 1e-6 * ld_v && pred_diff <= 1e-6);

    let gt = lt.backward();
    let gd = ld.backward();
    let (gt_keys, gd_keys) = (grads_by_key(&mae, &gt), grads_by_key(&dense, &gd));
    // Ordinary parts: same gradients.
    let mut parts = 0f32;
    for (key, g) in &gd_keys {
        if let Some(t) = gt_keys.get(key) {
            parts = parts.max(max_diff(g, t) / max_abs(g).max(1e-12));
        }
    }
    // Factors: the chain rule through the composition, with the dense weight gradients.
    let t = tucker(&mae);
    let leaf = |p: &Param<Tensor<2>>| p.val().detach().require_grad();
    let (g, xs, u, v) = (
        t.template.val().detach().require_grad(),
        leaf(&t.scalers.depth),
        leaf(&t.scalers.inner),
        leaf(&t.scalers.residual),
    );
    let layers = compose_layers(g.clone(), xs.clone(), u.clone(), v.clone(), t.orientation);
    let Generator::Dense(db) = &dense.encoder.generator else {
        unreachable!()
    };
    // dL/dW of each dense weight, as a constant on the autodiff device.
    let wgrad = |p: &Param<Tensor<2>>| {
        let g = p.val().grad(&gd).expect("dense weight gradient");
        Tensor::<2>::from_data(g.to_data(), &device)
    };
    let surrogate = layers
        .iter()
        .zip(&db.blocks)
        .map(|(l, b)| {
            (l.qkv.clone() * wgrad(&b.attn.qkv.weight)).sum()
                + (l.proj.clone() * wgrad(&b.attn.proj.weight)).sum()
                + (l.fc1.clone() * wgrad(&b.mlp.fc1.weight)).sum()
                + (l.fc2.clone() * wgrad(&b.mlp.fc2.weight)).sum()
        })
        .reduce(|a, b| a + b)
        .unwrap();
    let gs = surrogate.backward();
    let mut factors = 0f32;
    for (name, key, chain) in [
        ("G", "encoder.template", vals(&g.grad(&gs).unwrap())),
        ("X", "encoder.scalers.depth", vals(&xs.grad(&gs).unwrap())),
        ("U", "encoder.scalers.inner", vals(&u.grad(&gs).unwrap())),
        ("V", "encoder.scalers.residual", vals(&v.grad(&gs).unwrap())),
    ] {
        let auto = gt_keys
            .get(key)
            .unwrap_or_else(|| panic!("{name} ({key}) gets no gradient from the MAE loss"));
        let rel = max_diff(auto, &chain) / max_abs(&chain);
        println!("d loss / d {name}: autodiff vs chain rule through dense grads, rel {rel:.2e}");
        factors = factors.max(rel);
    }
    println!("ordinary parts: templated vs dense gradients, max relative diff {parts:.2e}");
    assert!(parts < 1e-5, "{parts}");
    assert!(factors < 1e-4, "{factors}");
}

/// Catches gradients not reaching the learngene as the chain rule through `p_i = base +
/// (i / L) slope` says (a half detached, a wrong coefficient, a parameter expanded from another
/// one's tensors) and the linear-expansion encoder and its dense export disagreeing: for a
/// depth-4 linear-expansion MAE (parameters perturbed off TLEG's init), the `Mae` whose encoder
/// is its `to_dense()` gives the same loss and predictions; for each of the 12 block
/// parameters `d loss / d base = sum_i dL/dp_i` and `d loss / d slope = sum_i (i / 4) dL/dp_i`
/// with the dense model's per-layer gradients `dL/dp_i`; the shared parts get the dense
/// model's gradients.
#[test]
fn linear_expansion_gradients_are_the_chain_rule_through_the_expansion() {
    let device = Device::default().autodiff();
    let mut cfg = config(GeneratorConfig::LinearExpansion);
    cfg.vit.depth = 4;
    let mae = perturbed(Mae::new(&cfg, &device).unwrap(), 7);
    let dense = dense_twin(&mae);
    let (x, p) = (images(1, &device), plan(2));
    let (ll, pl) = mae.step_loss(x.clone(), &p, &SwsDraw::Full);
    let (ld, pd) = dense.step_loss(x, &p, &SwsDraw::Full);
    let (ll_v, ld_v) = (vals(&ll)[0], vals(&ld)[0]);
    let pred_diff = max_diff(&vals(&pl), &vals(&pd));
    println!("linear expansion vs dense-on-expanded MAE: loss {ll_v:.7} vs {ld_v:.7}, max |pred diff| {pred_diff:.2e}");
    assert!((ll_v - ld_v).abs() <= 1e-6 * ld_v && pred_diff <= 1e-6);
    let gl = grads_by_key(&mae, &ll.backward());
    let gd = grads_by_key(&dense, &ld.backward());
    let mut worst = 0f32;
    for k in [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ] {
        let layer = |i: usize| &gd[&format!("encoder.blocks.{i}.{k}")];
        let n = layer(0).len();
        let (mut base, mut slope) = (vec![0f32; n], vec![0f32; n]);
        for i in 0..4 {
            for (j, g) in layer(i).iter().enumerate() {
                base[j] += g;
                slope[j] += g * i as f32 / 4.0;
            }
        }
        for (half, chain) in [("base", base), ("slope", slope)] {
            let key = format!("encoder.learngene.{half}.{k}");
            let auto = gl
                .get(&key)
                .unwrap_or_else(|| panic!("{key} gets no gradient from the MAE loss"));
            assert!(
                max_abs(&chain) > 0.0,
                "{key}: a zero chain-rule gradient proves nothing"
            );
            worst = worst.max(max_diff(auto, &chain) / max_abs(&chain));
        }
    }
    let mut shared = 0f32;
    for (key, g) in &gl {
        if !key.starts_with("encoder.learngene.") {
            shared = shared.max(max_diff(g, &gd[key]) / max_abs(&gd[key]).max(1e-12));
        }
    }
    println!("learngene: autodiff vs chain rule, max relative diff {worst:.2e}; shared parts {shared:.2e}");
    assert!(worst < 1e-5, "{worst}");
    assert!(shared < 1e-5, "{shared}");
    assert!(gl.contains_key("encoder.patch_embed.proj.weight"));
}

/// Keys of every parameter of `mae` with a gradient in `grads`.
fn keys_with_grads(mae: &Mae, grads: &Gradients) -> BTreeSet<String> {
    grads_by_key(mae, grads).into_keys().collect()
}

/// Catches the frozen sin-cos table being trained (a gradient on it, or AdamW updating or
/// decaying a parameter without one) and AdamW silently skipping parameters (keys of the
/// gradient pass and the update pass differing, e.g. the generator's keys): three AdamW steps
/// on a template MAE and on a dense MAE leave `encoder.pos_embed` bit-for-bit equal to
/// `sincos_2d`, with no gradient at any step, while every other parameter has a gradient and
/// changed. Sabotages that failed it: `NamedMapper::enter_module` not treating the
/// `generator` field as transparent (the update pass's keys gain `generator.`: G, scalers
/// and dense weights never change); AdamW's update skipping keys containing `scalers`;
/// `.set_require_grad(true)` in `with_sincos_pos_embed` (the table gets a gradient); AdamW
/// decaying parameters that have no gradient (the table moves).
#[test]
fn adamw_steps_train_everything_but_the_frozen_table() {
    let device = Device::default().autodiff();
    for generator in [
        GeneratorConfig::Tucker(template(SwsMode::Nested)),
        GeneratorConfig::Dense,
        GeneratorConfig::LinearExpansion,
    ] {
        let name = generator.name();
        let cfg = config(generator);
        let mut mae = Mae::new(&cfg, &device).unwrap();
        let table = sincos_2d(D, [4, 4]);
        assert_eq!(vals(&mae.encoder.pos_embed.val()), table);
        let before: BTreeMap<String, Vec<f32>> = named_tensors(&mae)
            .into_iter()
            .map(|(k, t)| (k, t.values))
            .collect();
        let mut opt = AdamW::new(cfg.run.optimizer.clone());
        let mut trained = BTreeSet::new();
        for step in 0..3u64 {
            let draw = cfg
                .generator
                .draw(&mut ChaCha8Rng::seed_from_u64(10 + step));
            let (loss, _) = mae.step_loss(images(step, &device), &plan(20 + step), &draw);
            let grads = loss.backward();
            assert!(
                mae.encoder.pos_embed.val().grad(&grads).is_none(),
                "{name}: the sin-cos table has no gradient"
            );
            trained.extend(keys_with_grads(&mae, &grads));
            mae = opt.step(mae, &grads, 1e-2).0;
        }
        let after: BTreeMap<String, Vec<f32>> = named_tensors(&mae)
            .into_iter()
            .map(|(k, t)| (k, t.values))
            .collect();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&after["encoder.pos_embed"]),
            bits(&table),
            "{name}: the sin-cos table is bit-for-bit unchanged"
        );
        let expected: BTreeSet<String> = before
            .keys()
            .filter(|k| *k != "encoder.pos_embed")
            .cloned()
            .collect();
        assert_eq!(
            trained, expected,
            "{name}: every other parameter is trained"
        );
        let unchanged: Vec<&String> = trained.iter().filter(|k| before[*k] == after[*k]).collect();
        println!(
            "{name}: {} parameters trained over 3 steps, unchanged: {unchanged:?}; \
             pos_embed bit-for-bit sincos_2d",
            trained.len()
        );
        assert!(unchanged.is_empty(), "{name}: {unchanged:?}");
        if name == "tucker" {
            for k in ["encoder.template", "encoder.scalers.depth"] {
                assert!(trained.contains(k), "{k}");
            }
        }
    }
}
