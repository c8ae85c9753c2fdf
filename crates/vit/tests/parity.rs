//! sweet's ViT against timm: a committed fixture written by `scripts/make_vit_fixture.py`
//! (tiny ViT, depth 2, width 32, 2 heads, 16x16x3, patch 4, 5 classes, every parameter
//! perturbed off its init) holds the weights, an input, timm's logits, losses and the gradient
//! of every parameter.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::{tensor_file, Vit, VitConfig};

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tiny() -> VitConfig {
    VitConfig {
        img_size: 16,
        patch_size: 4,
        in_chans: 3,
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 5,
        global_pool: sweet_vit::GlobalPool::Token,
    }
}

fn fixture() -> BTreeMap<String, HostTensor> {
    tensor_file::read(&fixture_path("vit_tiny.safetensors"))
        .expect("fixture readable")
        .tensors
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

/// Mean cross-entropy with label smoothing, written out here independently of sweet-train.
fn ce(logits: Tensor<2>, y: &[usize], eps: f64) -> Tensor<1> {
    let [b, k] = logits.dims();
    let logp = log_softmax(logits, 1);
    let mut onehot = vec![eps as f32 / k as f32; b * k];
    for (i, &c) in y.iter().enumerate() {
        onehot[i * k + c] += 1.0 - eps as f32;
    }
    let q = Tensor::<2>::from_data(TensorData::new(onehot, [b, k]), &logp.device());
    (logp * q).sum().neg() / b as f64
}

#[test]
fn golden_key_list_matches_timm() {
    let golden = std::fs::read_to_string(fixture_path("vit_tiny_keys.txt")).unwrap();
    let golden: Vec<(String, Vec<usize>)> = golden
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next().unwrap().to_string();
            (k, it.map(|d| d.parse().unwrap()).collect())
        })
        .collect();
    let model = Vit::new(&tiny(), 0, &Device::default());
    let mut ours = named_shapes(&model);
    let mut theirs = golden.clone();
    ours.sort();
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "key names/shapes differ from timm's state_dict"
    );
    // cls, pos, patch conv (2), 12 per block, final norm (2), head (2)
    assert_eq!(golden.len(), 4 + 12 * 2 + 2 + 2);
}

/// Loads timm's weights, runs forward and backward, and compares everything within 1e-5.
#[test]
fn logits_loss_and_every_gradient_match_timm() {
    let t = fixture();
    let device = Device::default().autodiff();
    let model = load_named(Vit::new(&tiny(), 0, &device), &with_prefix(&t, "param."))
        .expect("timm weights load");
    let x: Tensor<4> = t["input"].to_tensor(&device);
    let y: Vec<usize> = t["labels"].values.iter().map(|&v| v as usize).collect();

    let logits = model.forward(x);
    let got = HostTensor::from_tensor(&logits);
    assert_eq!(got.shape, t["logits"].shape);
    let d_logits = max_abs_diff(&got.values, &t["logits"].values);

    let smoothed = ce(logits.clone(), &y, 0.1).into_scalar::<f32>();
    let d_smoothed = (smoothed - t["loss_smoothed"].values[0]).abs();
    let loss = ce(logits, &y, 0.0);
    let d_loss = (loss.clone().into_scalar::<f32>() - t["loss"].values[0]).abs();

    let grads = loss.backward();
    let expected = with_prefix(&t, "grad.");
    let mut worst = (String::new(), 0.0f32);
    let mut checked = 0;
    struct Grab<'a> {
        grads: &'a burn::tensor::Gradients,
        out: BTreeMap<String, HostTensor>,
        path: Vec<String>,
    }
    impl burn::module::ModuleVisitor for Grab<'_> {
        fn enter_module(&mut self, n: &str, _: &str) {
            self.path.push(n.into())
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &burn::module::Param<Tensor<D>>) {
            let g = p
                .val()
                .grad(self.grads)
                .expect("every parameter gets a gradient");
            self.out
                .insert(self.path.join("."), HostTensor::from_tensor(&g));
        }
    }
    let mut grab = Grab {
        grads: &grads,
        out: BTreeMap::new(),
        path: vec![],
    };
    burn::module::Module::visit(&model, &mut grab);
    for (k, g) in &grab.out {
        let e = &expected[k];
        assert_eq!(&g.shape, &e.shape, "{k}");
        let d = max_abs_diff(&g.values, &e.values);
        if d > worst.1 {
            worst = (k.clone(), d);
        }
        checked += 1;
    }
    println!("max |diff|: logits {d_logits:.2e}, loss {d_loss:.2e}, smoothed loss {d_smoothed:.2e}, grads {:.2e} ({})", worst.1, worst.0);
    assert_eq!(
        checked,
        expected.len(),
        "a gradient for every timm parameter"
    );
    assert!(d_logits < 1e-5, "logits differ by {d_logits}");
    assert!(
        d_loss < 1e-5 && d_smoothed < 1e-5,
        "loss differs by {d_loss} / {d_smoothed}"
    );
    assert!(
        worst.1 < 1e-5,
        "gradient of {} differs by {}",
        worst.0,
        worst.1
    );
}

#[test]
fn save_load_gives_identical_outputs() {
    let device = Device::default();
    let cfg = tiny();
    let model = Vit::new(&cfg, 7, &device);
    let dir = tempfile::tempdir().unwrap();
    sweet_vit::checkpoint::save_model(&model, &cfg, vec![0.5; 3], vec![0.5; 3], dir.path())
        .unwrap();
    let (back, timm_cfg) = sweet_vit::checkpoint::load_model(dir.path(), &device).unwrap();
    assert_eq!(timm_cfg.vit(), cfg);
    let x = Tensor::<4>::random(
        [2, 3, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let a = HostTensor::from_tensor(&model.forward(x.clone()));
    let b = HostTensor::from_tensor(&back.forward(x));
    assert_eq!(a, b);
    for ((ka, ta), (kb, tb)) in named_tensors(&model)
        .iter()
        .zip(named_tensors(&back).iter())
    {
        assert_eq!((ka, ta), (kb, tb));
    }
}

#[test]
fn loading_names_every_missing_unexpected_and_misshapen_key() {
    let device = Device::default();
    let model = Vit::new(&tiny(), 0, &device);
    let mut t: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    t.remove("blocks.1.mlp.fc2.bias");
    t.insert(
        "blocks.0.attn.q_norm.weight".into(),
        HostTensor {
            shape: vec![16],
            values: vec![0.0; 16],
        },
    );
    t.get_mut("head.weight").unwrap().shape = vec![10, 16];
    let err = load_named(model, &t).unwrap_err();
    assert_eq!(err.missing, vec!["blocks.1.mlp.fc2.bias [32]".to_string()]);
    assert_eq!(
        err.unexpected,
        vec!["blocks.0.attn.q_norm.weight".to_string()]
    );
    assert_eq!(
        err.wrong_shape,
        vec!["head.weight: expected [5, 32], found [10, 16]".to_string()]
    );
    let msg = err.to_string();
    assert!(
        msg.contains("missing keys")
            && msg.contains("unexpected keys")
            && msg.contains("wrong shapes")
    );
}

#[test]
fn init_follows_timm_defaults() {
    let cfg = VitConfig {
        embed_dim: 64,
        depth: 2,
        num_heads: 2,
        ..tiny()
    };
    let model = Vit::new(&cfg, 3, &Device::default());
    let t: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    let std = |v: &[f32]| {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len() as f32).sqrt()
    };
    let qkv = &t["blocks.0.attn.qkv.weight"].values;
    assert!((std(qkv) - 0.02).abs() < 0.002, "qkv std {}", std(qkv));
    assert!(t["blocks.0.attn.qkv.bias"].values.iter().all(|&v| v == 0.0));
    assert!(t["blocks.1.norm2.weight"].values.iter().all(|&v| v == 1.0));
    assert!(t["cls_token"].values.iter().all(|v| v.abs() < 1e-5));
    let bound = 1.0 / ((3 * 4 * 4) as f32).sqrt();
    assert!(t["patch_embed.proj.weight"]
        .values
        .iter()
        .all(|v| v.abs() <= bound));
    assert!(std(&t["patch_embed.proj.weight"].values) > 0.5 * bound / 3f32.sqrt());
    // Same seed, same model; other seed, other model.
    let again: BTreeMap<String, HostTensor> = named_tensors(&Vit::new(&cfg, 3, &Device::default()))
        .into_iter()
        .collect();
    assert_eq!(t, again);
    let other: BTreeMap<String, HostTensor> = named_tensors(&Vit::new(&cfg, 4, &Device::default()))
        .into_iter()
        .collect();
    assert_ne!(
        t["blocks.0.attn.qkv.weight"],
        other["blocks.0.attn.qkv.weight"]
    );
}
