//! What each SWS mode does to a pre-training step, proved on tiny models through the stable
//! API: nested trains only the leading fibres, channels runs a narrower encoder and decoder
//! input, fibre drops fibres, off changes nothing.

mod mae_proof;
use mae_proof::*;

use std::collections::BTreeMap;

use burn::prelude::*;
use sweet_template::{GeneratorConfig, SwsDraw, SwsMode};
use sweet_train::pretrain::Mae;
use sweet_vit::names::named_tensors;
use sweet_vit::pos_embed::sincos_2d;

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
