//! Stochastic depth in the shared encoder forward: rate 0 and all-kept masks at keep 1 are the
//! plain forward bit for bit; a dropped sample's branch adds exactly nothing while the other
//! samples are untouched; a kept branch is scaled by 1 / keep; and the masks reach every block.

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_vit::encoder::BlockView;
use sweet_vit::names::{map_params, HostTensor, NamedMap};
use sweet_vit::{BlockDrop, DropPathPlan, Vit, VitConfig};

fn cfg(depth: usize) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 3,
        embed_dim: 16,
        depth,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes: 3,
        global_pool: Default::default(),
    }
}

/// Every parameter drawn uniform in [-0.5, 0.5), so no branch is near zero.
fn model(depth: usize, device: &Device) -> Vit {
    struct P(ChaCha8Rng);
    impl NamedMap for P {
        fn map<const D: usize>(&mut self, _: &str, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let rng = &mut self.0;
            p.map(|t| {
                let shape = t.shape();
                let v: Vec<f32> = (0..shape.num_elements())
                    .map(|_| rng.random::<f32>() - 0.5)
                    .collect();
                Tensor::from_data(TensorData::new(v, shape), &t.device())
            })
        }
    }
    map_params(
        Vit::new(&cfg(depth), 0, device),
        &mut P(ChaCha8Rng::seed_from_u64(3)),
    )
}

fn images(b: usize, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let v: Vec<f32> = (0..b * 3 * 64).map(|_| rng.random::<f32>() - 0.5).collect();
    Tensor::from_data(TensorData::new(v, [b, 3, 8, 8]), device)
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(&t).values
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Sample `i` of `[B, N, w]`, flattened.
fn sample(x: &[f32], i: usize, per: usize) -> &[f32] {
    &x[i * per..(i + 1) * per]
}

/// The first block of `vit` and a token input `[B, 5, 16]` for it.
fn block_and_input(vit: &Vit, b: usize, device: &Device) -> (BlockView, Tensor<3>) {
    let view = vit.view(&());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let v: Vec<f32> = (0..b * 5 * 16).map(|_| rng.random::<f32>() - 0.5).collect();
    let x = Tensor::from_data(TensorData::new(v, [b, 5, 16]), device);
    (view.blocks[0].clone(), x)
}

#[test]
fn rate_zero_and_all_kept_at_keep_one_are_the_plain_forward_bit_for_bit() {
    let device = Device::default();
    let vit = model(3, &device);
    let x = images(4, &device);
    let plain = vals(vit.forward(x.clone()));
    let zero = DropPathPlan::draw(0.0, 3, 4, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(vals(vit.forward_with(x.clone(), Some(&zero))), plain);
    let kept = DropPathPlan {
        blocks: (0..3).map(|_| BlockDrop::none(4)).collect(),
    };
    assert_eq!(vals(vit.forward_with(x.clone(), Some(&kept))), plain);
    // a drawn plan at a real rate changes the output (the test above could not pass by
    // ignoring the plan)
    let drawn = DropPathPlan::draw(0.5, 3, 4, &mut ChaCha8Rng::seed_from_u64(1));
    assert_ne!(vals(vit.forward_with(x, Some(&drawn))), plain);
}

#[test]
fn a_dropped_sample_adds_nothing_and_the_others_are_untouched() {
    let device = Device::default();
    let vit = model(1, &device);
    let (block, x) = block_and_input(&vit, 3, &device);
    let per = 5 * 16;
    let plain = vals(block.forward(x.clone(), 2));
    let input = vals(x.clone());
    // sample 1 drops both branches, samples 0 and 2 keep both, at keep 1 (no scaling)
    let drop = BlockDrop {
        keep: 1.0,
        attn: vec![true, false, true],
        mlp: vec![true, false, true],
    };
    let out = vals(block.forward_with(x, 2, Some(&drop)));
    assert_eq!(sample(&out, 1, per), sample(&input, 1, per), "x unchanged");
    assert_ne!(sample(&plain, 1, per), sample(&input, 1, per));
    for i in [0, 2] {
        assert_eq!(sample(&out, i, per), sample(&plain, i, per), "sample {i}");
    }
}

#[test]
fn kept_branches_are_scaled_by_one_over_keep() {
    let device = Device::default();
    let vit = model(1, &device);
    let (block, x) = block_and_input(&vit, 2, &device);
    let input = vals(x.clone());
    let run = |keep: f64, attn: bool, mlp: bool| {
        let d = BlockDrop {
            keep,
            attn: vec![attn; 2],
            mlp: vec![mlp; 2],
        };
        let out = vals(block.forward_with(x.clone(), 2, Some(&d)));
        // the branch's contribution: out - x
        out.iter()
            .zip(&input)
            .map(|(o, i)| o - i)
            .collect::<Vec<f32>>()
    };
    // attention alone (MLP dropped): x + attn(norm1(x)) / keep
    let (attn1, attn_half) = (run(1.0, true, false), run(0.5, true, false));
    let doubled: Vec<f32> = attn1.iter().map(|v| 2.0 * v).collect();
    let d = max_diff(&attn_half, &doubled);
    assert!(d < 1e-5, "attention branch at keep 0.5 vs 2x: max diff {d}");
    assert!(attn1.iter().any(|v| v.abs() > 1e-2));
    // MLP alone (attention dropped): x + mlp(norm2(x)) / keep
    let (mlp1, mlp_quarter) = (run(1.0, false, true), run(0.25, false, true));
    let times4: Vec<f32> = mlp1.iter().map(|v| 4.0 * v).collect();
    let d = max_diff(&mlp_quarter, &times4);
    assert!(d < 1e-5, "MLP branch at keep 0.25 vs 4x: max diff {d}");
    assert!(mlp1.iter().any(|v| v.abs() > 1e-2));
}

#[test]
fn every_block_reads_its_own_entry_of_the_plan() {
    let device = Device::default();
    let vit = model(3, &device);
    let x = images(2, &device);
    let plain = vals(vit.forward(x.clone()));
    // dropping sample 0's branches in one block at a time: each block changes the output
    for blk in 0..3 {
        let mut plan = DropPathPlan {
            blocks: (0..3).map(|_| BlockDrop::none(2)).collect(),
        };
        plan.blocks[blk].mlp[0] = false;
        let out = vals(vit.forward_with(x.clone(), Some(&plan)));
        assert_ne!(&out[..3], &plain[..3], "block {blk} ignored its mask");
        assert_eq!(&out[3..], &plain[3..], "sample 1 untouched (block {blk})");
    }
}

#[test]
#[should_panic(expected = "one entry per block")]
fn a_plan_for_another_depth_is_refused() {
    let device = Device::default();
    let vit = model(2, &device);
    let plan = DropPathPlan {
        blocks: vec![BlockDrop::none(1)],
    };
    vit.forward_with(images(1, &device), Some(&plan));
}
