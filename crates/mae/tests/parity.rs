//! sweet's MAE against MAE's official code: a committed fixture written by
//! `scripts/make_mae_fixture.py` (timm ViT encoder 16x16x3, patch 4, width 32, depth 2, 2 heads,
//! sin-cos pos_embed; MAE decoder width 16, depth 2, 2 heads; every parameter perturbed off its
//! init) holds the weights, the images, the masking noise, MAE's prediction, norm-pix loss and
//! the gradient of every parameter, plus MAE's numpy sin-cos tables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use sweet_mae::masking::{masking_from_noise, random_masking};
use sweet_mae::pos_embed::sincos_2d;
use sweet_mae::{mae_forward, DecoderConfig, MaeDecoder};
use sweet_vit::names::{load_named, named_shapes, HostTensor};
use sweet_vit::{tensor_file, Vit, VitConfig};

const TOL: f32 = 1e-5;

fn encoder_cfg() -> VitConfig {
    VitConfig {
        img_size: 16,
        patch_size: 4,
        in_chans: 3,
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: sweet_vit::GlobalPool::Token,
    }
}

fn decoder_cfg() -> DecoderConfig {
    DecoderConfig {
        width: 16,
        depth: 2,
        heads: 2,
        mlp_ratio: 4.0,
    }
}

fn fixture() -> BTreeMap<String, HostTensor> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mae_tiny.safetensors");
    tensor_file::read(&path).expect("fixture readable").tensors
}

fn with_prefix(t: &BTreeMap<String, HostTensor>, prefix: &str) -> BTreeMap<String, HostTensor> {
    t.iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every parameter's gradient, keyed `prefix + module path`.
struct Grab<'a> {
    grads: &'a Gradients,
    prefix: &'static str,
    out: BTreeMap<String, HostTensor>,
    path: Vec<String>,
}

impl ModuleVisitor for Grab<'_> {
    fn enter_module(&mut self, n: &str, _: &str) {
        self.path.push(n.into())
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let key = format!("{}{}", self.prefix, self.path.join("."));
        let g = p
            .val()
            .grad(self.grads)
            .unwrap_or_else(|| panic!("no gradient for {key}"));
        self.out.insert(key, HostTensor::from_tensor(&g));
    }
}

#[test]
fn sincos_tables_match_mae_numpy() {
    let t = fixture();
    let mut checked = 0;
    for (key, table) in with_prefix(&t, "sincos.") {
        let mut it = key.split('.').map(|v| v.parse::<usize>().unwrap());
        let (dim, grid) = (it.next().unwrap(), it.next().unwrap());
        assert_eq!(table.shape, vec![1 + grid * grid, dim]);
        let d = max_abs_diff(&sincos_2d(dim, grid), &table.values);
        println!("sincos dim {dim} grid {grid}: max |diff| {d:.2e}");
        assert!(d < 1e-6, "sincos {dim}x{grid} differs by {d}");
        checked += 1;
    }
    assert_eq!(checked, 5);
    // The decoder keeps the same table as a constant.
    let dec = MaeDecoder::new(&decoder_cfg(), 32, 16, 4, 3, 0, &Device::default());
    let d = max_abs_diff(
        &HostTensor::from_tensor(&dec.decoder_pos_embed).values,
        &t["decoder_pos_embed"].values,
    );
    assert!(d < 1e-6, "decoder_pos_embed differs by {d}");
}

#[test]
fn decoder_keys_are_mae_keys_without_the_fixed_table() {
    let t = fixture();
    let dec = MaeDecoder::new(&decoder_cfg(), 32, 16, 4, 3, 0, &Device::default());
    let mut ours = named_shapes(&dec);
    let mut theirs: Vec<(String, Vec<usize>)> = with_prefix(&t, "decoder.")
        .into_iter()
        .map(|(k, v)| (k, v.shape))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert!(
        !ours.iter().any(|(k, _)| k.contains("pos_embed")),
        "the fixed table is not a parameter"
    );
    // embed (2), mask token, 12 per block, norm (2), pred (2)
    assert_eq!(ours.len(), 2 + 1 + 12 * 2 + 2 + 2);
}

/// Loads MAE's weights, masks with MAE's noise, runs forward and backward, compares the plan,
/// prediction, loss and every gradient within 1e-5.
#[test]
fn loss_prediction_and_every_gradient_match_mae() {
    let t = fixture();
    let device = Device::default().autodiff();
    let cfg = encoder_cfg();
    let encoder = load_named(Vit::new(&cfg, 0, &device), &with_prefix(&t, "encoder."))
        .expect("encoder loads");
    let decoder = MaeDecoder::new(&decoder_cfg(), 32, cfg.num_patches(), 4, 3, 0, &device);
    let decoder = load_named(decoder, &with_prefix(&t, "decoder.")).expect("decoder loads");
    let (b, n) = (t["noise"].shape[0], t["noise"].shape[1]);
    let plan = masking_from_noise(b, n, 0.75, &t["noise"].values);
    let as_usize = |k: &str| t[k].values.iter().map(|&v| v as usize).collect::<Vec<_>>();
    assert_eq!(plan.ids_keep, as_usize("ids_keep"));
    assert_eq!(plan.ids_restore, as_usize("ids_restore"));
    assert_eq!(plan.mask, t["mask"].values);

    let images: Tensor<4> = t["input"].to_tensor(&device);
    let (loss, pred) = mae_forward(&encoder, &decoder, images, 4, &plan);
    let got = HostTensor::from_tensor(&pred);
    assert_eq!(got.shape, t["pred"].shape);
    let d_pred = max_abs_diff(&got.values, &t["pred"].values);
    let d_loss = (loss.clone().into_scalar::<f32>() - t["loss"].values[0]).abs();

    let grads = loss.backward();
    let mut grab = Grab {
        grads: &grads,
        prefix: "grad.encoder.",
        out: BTreeMap::new(),
        path: vec![],
    };
    encoder.visit(&mut grab);
    grab.prefix = "grad.decoder.";
    decoder.visit(&mut grab);
    let expected = with_prefix(&t, "grad.");
    assert_eq!(
        grab.out.len(),
        expected.len(),
        "a gradient for every MAE parameter"
    );
    let (mut worst, mut worst_rel) = ((String::new(), 0.0f32), 0.0f32);
    for (k, g) in &grab.out {
        let e = &t[k];
        assert_eq!(g.shape, e.shape, "{k}");
        let d = max_abs_diff(&g.values, &e.values);
        let scale = e.values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            scale > 0.0,
            "{k}: MAE's gradient is all zero, the test would prove nothing"
        );
        worst_rel = worst_rel.max(d / scale);
        if d > worst.1 {
            worst = (k.clone(), d);
        }
    }
    println!(
        "max |diff|: pred {d_pred:.2e}, loss {d_loss:.2e}, grads {:.2e} ({}); worst grad diff / its max |grad| {worst_rel:.2e}",
        worst.1, worst.0
    );
    assert!(d_pred < TOL, "pred differs by {d_pred}");
    assert!(d_loss < TOL, "loss differs by {d_loss}");
    assert!(
        worst.1 < TOL,
        "gradient of {} differs by {}",
        worst.0,
        worst.1
    );
    assert!(
        worst_rel < 1e-3,
        "a gradient differs by {worst_rel} of its scale"
    );
}

/// MNIST-shaped contract: 28x28x1, patch 4 (49 patches, 12 kept), finite loss of the right
/// shape, a gradient for every parameter, nothing for the fixed table.
#[test]
fn mnist_shaped_step_is_finite_and_reaches_every_parameter() {
    let device = Device::default().autodiff();
    let cfg = VitConfig {
        img_size: 28,
        patch_size: 4,
        in_chans: 1,
        embed_dim: 32,
        depth: 1,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: sweet_vit::GlobalPool::Token,
    };
    let encoder = Vit::new(&cfg, 1, &device);
    let decoder = MaeDecoder::new(
        &DecoderConfig {
            width: 32,
            depth: 1,
            heads: 2,
            mlp_ratio: 4.0,
        },
        32,
        49,
        4,
        1,
        2,
        &device,
    );
    let plan = random_masking(2, 49, 0.75, 3);
    assert_eq!(plan.keep, 12);
    let x = Tensor::<4>::random(
        [2, 1, 28, 28],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let (loss, pred) = mae_forward(&encoder, &decoder, x, 4, &plan);
    assert_eq!(pred.dims(), [2, 49, 16]);
    assert_eq!(loss.dims(), [1]);
    let v = loss.clone().into_scalar::<f32>();
    assert!(v.is_finite() && v > 0.0, "loss {v}");
    let grads = loss.backward();
    let mut grab = Grab {
        grads: &grads,
        prefix: "",
        out: BTreeMap::new(),
        path: vec![],
    };
    decoder.visit(&mut grab);
    encoder.visit(&mut grab);
    assert_eq!(
        grab.out.len(),
        named_shapes(&decoder).len() + named_shapes(&encoder).len()
    );
    assert!(
        decoder.decoder_pos_embed.grad(&grads).is_none(),
        "the sin-cos table is not trained"
    );
}

/// Known answers: a perfect prediction scores 0; predicting zeros scores the mean square of the
/// norm-pix target, (P - 1) / P per patch up to the 1e-6 epsilon, with or without masking.
#[test]
fn mae_loss_known_answers() {
    let device = Device::default();
    let x = Tensor::<4>::random(
        [2, 3, 8, 8],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let target = sweet_mae::patches::norm_pix(sweet_mae::patches::patchify(x.clone(), 4));
    let (p, want) = (48, 47.0 / 48.0);
    for ratio in [0.0, 0.5, 0.75] {
        let plan = random_masking(2, 4, ratio, 1);
        let perfect = sweet_mae::mae_loss(target.clone(), x.clone(), 4, &plan).into_scalar::<f32>();
        assert!(
            perfect.abs() < 1e-10,
            "ratio {ratio}: perfect prediction scores {perfect}"
        );
        let zeros = Tensor::<3>::zeros([2, 4, p], &device);
        let got = sweet_mae::mae_loss(zeros, x.clone(), 4, &plan).into_scalar::<f32>();
        assert!(
            (got - want).abs() < 1e-4,
            "ratio {ratio}: zero prediction scores {got}, want {want}"
        );
    }
    // Only removed patches count: a prediction wrong on kept patches only still scores 0.
    let plan = random_masking(2, 4, 0.5, 2);
    let keep_mask = Tensor::<3>::from_data(TensorData::new(plan.mask.clone(), [2, 4, 1]), &device);
    let pred = target.clone() + (keep_mask.neg() + 1.0) * 5.0;
    let got = sweet_mae::mae_loss(pred, x, 4, &plan).into_scalar::<f32>();
    assert!(got.abs() < 1e-10, "kept patches leak into the loss: {got}");
}
