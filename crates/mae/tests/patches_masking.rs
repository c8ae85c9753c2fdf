//! Patch order and MAE's random masking, checked on hand-made inputs.

use std::collections::BTreeSet;

use burn::prelude::*;
use burn::tensor::Distribution;
use sweet_mae::masking::{keep_count, masking_from_noise, random_masking, MaskPlan};
use sweet_mae::patches::{patchify, unpatchify};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn patchify_orders_rows_columns_then_channels() {
    let device = Device::default();
    // [1, 2, 4, 4], value c*100 + y*10 + x; patch 2 -> grid 2x2, patch length 2*2*2 = 8.
    let (c, h, w, p) = (2, 4, 4, 2);
    let img: Vec<f32> = (0..c * h * w)
        .map(|i| ((i / (h * w)) * 100 + ((i / w) % h) * 10 + i % w) as f32)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(img, [1, c, h, w]), &device);
    let got = patchify(x, p);
    assert_eq!(got.dims(), [1, 4, 8]);
    let got = values(got);
    let mut want = Vec::new();
    for (gy, gx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        for py in 0..p {
            for px in 0..p {
                for ch in 0..c {
                    want.push((ch * 100 + (gy * p + py) * 10 + gx * p + px) as f32);
                }
            }
        }
    }
    assert_eq!(got, want);
    // Patch (0, 1) starts with pixel (y 0, x 2) of channel 0, then of channel 1.
    assert_eq!(&got[8..10], &[2.0, 102.0]);
}

#[test]
fn unpatchify_inverts_patchify_exactly() {
    let device = Device::default();
    for (c, side, p) in [(3, 8, 4), (1, 28, 4), (3, 6, 2)] {
        let x = Tensor::<4>::random([2, c, side, side], Distribution::Normal(0.0, 1.0), &device);
        let back = unpatchify(patchify(x.clone(), p), p, c);
        assert_eq!(back.dims(), [2, c, side, side]);
        assert_eq!(values(back), values(x));
    }
}

#[test]
fn keep_count_rounds_and_always_masks_something() {
    assert_eq!(keep_count(49, 0.75), 12);
    assert_eq!(keep_count(16, 0.5), 8);
    assert_eq!(keep_count(16, 0.75), 4);
    assert_eq!(keep_count(64, 0.75), 16);
    assert_eq!(keep_count(10, 0.01), 9); // round(9.9) = 10 would mask nothing
    assert_eq!(keep_count(10, 0.99), 1); // round(0.1) = 0 would keep nothing
    assert_eq!(keep_count(10, 0.0), 10);
}

/// Every structural property of a plan: sizes, per-row counts, mask zero exactly at kept ids,
/// ids_keep and ids_restore consistent.
fn check_plan(plan: &MaskPlan) {
    let (b, n, k) = (plan.batch, plan.n, plan.keep);
    assert_eq!(
        (plan.ids_keep.len(), plan.ids_restore.len(), plan.mask.len()),
        (b * k, b * n, b * n)
    );
    for s in 0..b {
        let kept: BTreeSet<usize> = plan.ids_keep[s * k..(s + 1) * k].iter().copied().collect();
        assert_eq!(kept.len(), k, "kept ids are distinct");
        let mask = &plan.mask[s * n..(s + 1) * n];
        assert_eq!(mask.iter().sum::<f32>(), (n - k) as f32);
        for (t, &m) in mask.iter().enumerate() {
            assert_eq!(m == 0.0, kept.contains(&t), "mask is 0 exactly at kept ids");
        }
        let restore = &plan.ids_restore[s * n..(s + 1) * n];
        assert_eq!(
            restore.iter().copied().collect::<BTreeSet<_>>().len(),
            n,
            "a permutation"
        );
        for (j, &t) in plan.ids_keep[s * k..(s + 1) * k].iter().enumerate() {
            assert_eq!(restore[t], j, "kept token {t} is at shuffled position {j}");
        }
    }
}

#[test]
fn random_masking_keeps_the_right_count_and_differs_per_sample() {
    for (n, ratio, keep) in [
        (49, 0.75, 12),
        (16, 0.5, 8),
        (64, 0.75, 16),
        (196, 0.75, 49),
    ] {
        let plan = random_masking(4, n, ratio, 11);
        assert_eq!(plan.keep, keep, "N {n}, ratio {ratio}");
        check_plan(&plan);
        let rows: BTreeSet<Vec<usize>> = (0..4)
            .map(|s| {
                let mut r = plan.ids_keep[s * keep..(s + 1) * keep].to_vec();
                r.sort();
                r
            })
            .collect();
        assert_eq!(rows.len(), 4, "each sample keeps its own patches");
    }
}

#[test]
fn same_seed_same_plan_other_seed_other_plan() {
    let a = random_masking(8, 49, 0.75, 5);
    assert_eq!(a, random_masking(8, 49, 0.75, 5));
    assert_ne!(a.ids_keep, random_masking(8, 49, 0.75, 6).ids_keep);
}

#[test]
fn masking_from_noise_sorts_by_ascending_noise() {
    // Two samples of 5 tokens.
    let noise = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.05, 0.6, 0.4];
    let plan = masking_from_noise(2, 5, 0.6, &noise);
    assert_eq!(plan.keep, 2);
    // argsort per row: [1, 3, 2, 4, 0] and [2, 0, 4, 3, 1].
    let shuffle = [1, 3, 2, 4, 0, 2, 0, 4, 3, 1];
    assert_eq!(plan.ids_keep, vec![1, 3, 2, 0]);
    assert_eq!(plan.ids_shuffle(), shuffle.to_vec());
    for s in 0..2 {
        for j in 0..5 {
            assert_eq!(
                plan.ids_restore[s * 5 + shuffle[s * 5 + j]],
                j,
                "ids_restore inverts ids_shuffle"
            );
        }
    }
    assert_eq!(
        plan.mask,
        vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0]
    );
    check_plan(&plan);
}

#[test]
fn gather_and_unshuffle_put_tokens_back_in_place() {
    let device = Device::default();
    let (b, n, d) = (3, 16, 2);
    let plan = random_masking(b, n, 0.75, 3);
    // Token t of sample s carries (s*100 + t, -(s*100 + t)).
    let v: Vec<f32> = (0..b * n)
        .flat_map(|i| {
            [
                (i / n * 100 + i % n) as f32,
                -((i / n * 100 + i % n) as f32),
            ]
        })
        .collect();
    let tokens = Tensor::<3>::from_data(TensorData::new(v.clone(), [b, n, d]), &device);
    let visible = plan.gather_visible(tokens);
    assert_eq!(visible.dims(), [b, plan.keep, d]);
    let got = values(visible.clone());
    for (i, &t) in plan.ids_keep.iter().enumerate() {
        assert_eq!(got[i * d], ((i / plan.keep) * 100 + t) as f32);
    }
    let mask_token =
        Tensor::<3>::from_data(TensorData::new(vec![0.5f32, 0.25], [1, 1, d]), &device);
    let full = values(plan.unshuffle_with_mask_token(visible, mask_token));
    for i in 0..b * n {
        let want = if plan.mask[i] == 0.0 {
            [v[i * d], v[i * d + 1]]
        } else {
            [0.5, 0.25]
        };
        assert_eq!(
            [full[i * d], full[i * d + 1]],
            want,
            "token {} of sample {}",
            i % n,
            i / n
        );
    }
    assert_eq!(values(plan.mask_tensor(&device)), plan.mask);
}

#[test]
fn gather_and_unshuffle_are_differentiable() {
    let device = Device::default().autodiff();
    let (b, n, d) = (2, 16, 3);
    let plan = random_masking(b, n, 0.75, 9);
    let tokens =
        Tensor::<3>::random([b, n, d], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let mask_token = Tensor::<3>::zeros([1, 1, d], &device).require_grad();
    let out =
        plan.unshuffle_with_mask_token(plan.gather_visible(tokens.clone()), mask_token.clone());
    let grads = out.sum().backward();
    // d/d tokens: 1 where kept, 0 where removed; d/d mask_token: number of removed tokens.
    let g = values(tokens.grad(&grads).unwrap());
    for i in 0..b * n {
        let want = 1.0 - plan.mask[i];
        assert!(
            g[i * d..(i + 1) * d].iter().all(|&x| x == want),
            "token {i}"
        );
    }
    let gm = values(mask_token.grad(&grads).unwrap());
    assert!(
        gm.iter().all(|&x| x == (b * plan.masked()) as f32),
        "{gm:?}"
    );
}
