//! sweet's AdamW against `torch.optim.AdamW`: a committed fixture written by
//! `scripts/make_adamw_fixture.py` holds five parameters (`head.weight` `[4, 3]` and `template`
//! `[2, 3, 2]` decay; `head.bias` `[4]`, `cls_token` `[1, 1, 4]` and `blocks.0.norm1.weight`
//! `[4]` do not), lr scale 1.0 for `head.*` and 0.5 for the rest (four torch param groups), ten
//! steps of fixed gradients with `clip_grad_norm_(max_norm = 1)` clipping on five of them, a
//! warm-up-then-decreasing lr, and the parameters after every step. Also: which keys decay.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, Param};
use burn::prelude::*;
use sweet_train::adamw::{AdamW, AdamWConfig, ParamGroups};
use sweet_vit::names::{named_tensors, HostTensor};
use sweet_vit::tensor_file;

/// Max abs difference allowed between sweet's and torch's parameters after any step
/// (parameters are O(1); updates up to lr = 1e-2 per step).
const PARAM_TOL: f32 = 2e-6;
/// Max relative difference allowed between the global gradient norms.
const NORM_RTOL: f64 = 1e-6;

#[derive(Module, Debug)]
struct Norm {
    weight: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
struct Block {
    norm1: Norm,
}

#[derive(Module, Debug)]
struct Head {
    weight: Param<Tensor<2>>,
    bias: Param<Tensor<1>>,
}

/// Keys `head.weight`, `head.bias`, `template`, `cls_token`, `blocks.0.norm1.weight`.
#[derive(Module, Debug)]
struct Toy {
    head: Head,
    template: Param<Tensor<3>>,
    cls_token: Param<Tensor<3>>,
    blocks: Vec<Block>,
}

struct Fixture {
    tensors: BTreeMap<String, HostTensor>,
    meta: BTreeMap<String, String>,
}

impl Fixture {
    fn read() -> Self {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/adamw_steps.safetensors");
        let f = tensor_file::read(&path).expect("fixture readable");
        Fixture {
            tensors: f.tensors,
            meta: f.metadata,
        }
    }

    fn meta(&self, key: &str) -> f64 {
        self.meta[key].parse().expect("number in metadata")
    }

    /// Row `i` of the stacked tensor `name` `[rows, *shape]`, as `[*shape]`.
    fn row(&self, name: &str, i: usize) -> HostTensor {
        let t = &self.tensors[name];
        let shape = t.shape[1..].to_vec();
        let n: usize = shape.iter().product();
        HostTensor {
            shape,
            values: t.values[i * n..(i + 1) * n].to_vec(),
        }
    }

    /// The stacked parameter tensors' keys, e.g. `head.weight`.
    fn keys(&self) -> Vec<String> {
        self.tensors
            .keys()
            .filter_map(|k| k.strip_prefix("param.").map(str::to_string))
            .collect()
    }
}

fn param<const D: usize>(f: &Fixture, key: &str, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(
        f.row(&format!("param.{key}"), 0)
            .to_tensor(device)
            .require_grad(),
    )
}

fn toy(f: &Fixture, device: &Device) -> Toy {
    Toy {
        head: Head {
            weight: param(f, "head.weight", device),
            bias: param(f, "head.bias", device),
        },
        template: param(f, "template", device),
        cls_token: param(f, "cls_token", device),
        blocks: vec![Block {
            norm1: Norm {
                weight: param(f, "blocks.0.norm1.weight", device),
            },
        }],
    }
}

/// `sum(p * g)` over the parameters: its gradient for each parameter is exactly `g`.
fn loss_with_grads(model: &Toy, f: &Fixture, step: usize, device: &Device) -> Tensor<1> {
    fn term<const D: usize>(p: &Param<Tensor<D>>, g: HostTensor, device: &Device) -> Tensor<1> {
        p.val().mul(g.to_tensor::<D>(device)).sum()
    }
    let g = |key: &str| f.row(&format!("grad.{key}"), step);
    term(&model.head.weight, g("head.weight"), device)
        + term(&model.head.bias, g("head.bias"), device)
        + term(&model.template, g("template"), device)
        + term(&model.cls_token, g("cls_token"), device)
        + term(
            &model.blocks[0].norm1.weight,
            g("blocks.0.norm1.weight"),
            device,
        )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn ten_steps_match_torch_adamw_with_groups_lr_scales_and_clipping() {
    let f = Fixture::read();
    let device = Device::default().autodiff();
    let mut model = toy(&f, &device);
    let cfg = AdamWConfig {
        beta1: f.meta("beta1"),
        beta2: f.meta("beta2"),
        eps: f.meta("eps"),
        weight_decay: f.meta("weight_decay"),
        grad_clip: Some(f.meta("max_norm")),
    };
    assert_eq!((cfg.beta1, cfg.beta2, cfg.eps), (0.9, 0.95, 1e-8));
    let groups =
        ParamGroups::timm().with_lr_scale(|k| if k.starts_with("head.") { 1.0 } else { 0.5 });
    let mut opt = AdamW::new(cfg).with_groups(groups);
    let lrs = &f.tensors["lr"].values;
    let norms = &f.tensors["total_norm"].values;
    let keys = f.keys();
    assert_eq!(keys.len(), 5);
    let (mut worst_param, mut worst_norm) = (0f32, 0f64);
    for (step, (&lr, &torch_norm)) in lrs.iter().zip(norms).enumerate() {
        let grads = loss_with_grads(&model, &f, step, &device).backward();
        let (next, stats) = opt.step(model, &grads, lr as f64);
        model = next;
        let norm = stats.grad_norm();
        let rel = (norm - torch_norm as f64).abs() / torch_norm as f64;
        worst_norm = worst_norm.max(rel);
        assert!(
            rel <= NORM_RTOL,
            "step {}: grad norm {norm} vs torch {torch_norm} (relative {rel:e})",
            step + 1
        );
        let ours: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
        assert_eq!(ours.len(), keys.len());
        for key in &keys {
            let want = f.row(&format!("param.{key}"), step + 1);
            let got = &ours[key];
            assert_eq!(got.shape, want.shape, "{key}");
            let d = max_abs_diff(&got.values, &want.values);
            worst_param = worst_param.max(d);
            assert!(
                d <= PARAM_TOL,
                "step {}: {key} differs from torch by {d:e} (> {PARAM_TOL:e})",
                step + 1
            );
        }
        // Parameters stay trainable leaves.
        assert!(model.head.weight.val().is_require_grad());
    }
    assert_eq!(opt.step, 10);
    println!(
        "adamw vs torch over 10 steps: max |param diff| {worst_param:e} (tol {PARAM_TOL:e}), \
         max relative grad-norm diff {worst_norm:e} (tol {NORM_RTOL:e})"
    );
}

#[test]
fn frozen_parameters_are_left_alone() {
    let f = Fixture::read();
    let device = Device::default().autodiff();
    let mut model = toy(&f, &device);
    model.template = model.template.set_require_grad(false);
    let before = named_tensors(&model);
    let grads = loss_with_grads(&model, &f, 0, &device).backward();
    let mut opt = AdamW::new(AdamWConfig::default());
    let (model, _) = opt.step(model, &grads, 1e-2);
    let after = named_tensors(&model);
    for ((k, b), (_, a)) in before.iter().zip(&after) {
        assert_eq!(b == a, k == "template", "{k}");
    }
    assert!(!opt.exp_avg.contains_key("template"));
    assert_eq!(opt.exp_avg.len(), 4);
}

#[test]
fn which_keys_decay() {
    let timm = ParamGroups::timm();
    let scaler_learning = ParamGroups::timm().without_decay_under("scalers.");
    let (d, l, r1, r2, r3) = (192, 12, 24, 48, 64);
    #[rustfmt::skip]
    let table: &[(&str, &[usize], bool, bool)] = &[
        // key, shape, decays in pre-training, decays when learning scalers
        ("patch_embed.proj.weight", &[d, 3, 16, 16], true, true),
        ("patch_embed.proj.bias", &[d], false, false),
        ("cls_token", &[1, 1, d], false, false),
        ("pos_embed", &[1, 197, d], false, false),
        ("blocks.0.norm1.weight", &[d], false, false),
        ("blocks.0.attn.qkv.weight", &[3 * d, d], true, true),
        ("head.weight", &[10, d], true, true),
        ("head.bias", &[10], false, false),
        ("mask_token", &[1, 1, 128], false, false),
        ("decoder_embed.weight", &[128, d], true, true),
        ("template", &[r1, r2, r3], true, true),
        ("scalers.depth", &[12 * l, r1], true, false),
        ("scalers.inner", &[d, r2], true, false),
        ("scalers.residual", &[d, r3], true, false),
    ];
    for &(key, shape, pretrain, scalers) in table {
        assert_eq!(timm.decays(key, shape), pretrain, "{key} in pre-training");
        assert_eq!(
            scaler_learning.decays(key, shape),
            scalers,
            "{key} when learning scalers"
        );
    }
    assert_eq!(timm.lr_scale("blocks.0.attn.qkv.weight"), 1.0);
}
