//! What MAE pre-training claims, proved on tiny models through the stable API (`Mae::new`,
//! `Mae::step_loss`, `AdamW::step`): the templated MAE loss is the dense MAE loss on the
//! composed weights, gradients included (chain rule through the composition, and through
//! linear expansion); and AdamW steps train every parameter with a gradient while the frozen
//! sin-cos table stays bit-for-bit. The SWS modes are proved in `pretrain_sws.rs`.

mod mae_proof;
use mae_proof::*;

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Gradients;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_template::tucker::compose_layers;
use sweet_template::{Generator, GeneratorConfig, SwsDraw, SwsMode};
use sweet_train::adamw::AdamW;
use sweet_train::pretrain::Mae;
use sweet_vit::names::named_tensors;
use sweet_vit::pos_embed::sincos_2d;

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
