//! TLEG's linear expansion (BASELINES.md section 3): the formula `p_i = base + (i / L) * slope`
//! on every block parameter (weights, biases, both LayerNorms) at the first, a middle and the
//! last layer; a linear-expansion ViT holds no per-block parts; the descendant at the auxiliary
//! depth is the auxiliary model bit for bit; the learngene file's keys, shapes and checks.

use std::collections::BTreeMap;

use burn::prelude::*;
use sweet_template::file::Provenance;
use sweet_template::learngene::{self, expand_learngene, LEARNGENE_FILE};
use sweet_template::{linear_expansion_vit, LinearExpansion};
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::tensor_file;
use sweet_vit::{BlockGenerator, LayerParts, LayerWeights, Vit, VitConfig};

const D: usize = 8;

fn vit(depth: usize) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: D,
        depth,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    }
}

/// The 12 block parameters (timm's block key, shape) at width D.
fn block_keys() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("norm1.weight", vec![D]),
        ("norm1.bias", vec![D]),
        ("attn.qkv.weight", vec![3 * D, D]),
        ("attn.qkv.bias", vec![3 * D]),
        ("attn.proj.weight", vec![D, D]),
        ("attn.proj.bias", vec![D]),
        ("norm2.weight", vec![D]),
        ("norm2.bias", vec![D]),
        ("mlp.fc1.weight", vec![4 * D, D]),
        ("mlp.fc1.bias", vec![4 * D]),
        ("mlp.fc2.weight", vec![D, 4 * D]),
        ("mlp.fc2.bias", vec![D]),
    ]
}

/// The keys a linear-expansion ViT and its learngene file hold beside the decoder: the shared
/// parts and the learngene (written out, not derived from the code under test).
fn golden_keys() -> BTreeMap<String, Vec<usize>> {
    let mut keys: BTreeMap<String, Vec<usize>> = [
        ("cls_token", vec![1, 1, D]),
        ("pos_embed", vec![1, 5, D]),
        ("patch_embed.proj.weight", vec![D, 1, 4, 4]),
        ("patch_embed.proj.bias", vec![D]),
        ("norm.weight", vec![D]),
        ("norm.bias", vec![D]),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect();
    for half in ["base", "slope"] {
        for (k, s) in block_keys() {
            keys.insert(format!("learngene.{half}.{k}"), s);
        }
    }
    keys
}

/// Hand-made values, exact in f32 with i / L in {0, 1/4, 1/2, 3/4}: tensor number `n` of the
/// learngene (in key order), entry `j`: base `0.25 (j mod 7) - 0.5 + n`, slope
/// `0.5 (j mod 5) - 1 - n / 2`.
fn hand_made(keys: &BTreeMap<String, Vec<usize>>) -> BTreeMap<String, HostTensor> {
    keys.iter()
        .enumerate()
        .map(|(n, (k, shape))| {
            let len: usize = shape.iter().product();
            let values = (0..len)
                .map(|j| {
                    if k.starts_with("learngene.slope.") {
                        0.5 * (j % 5) as f32 - 1.0 - n as f32 / 2.0
                    } else {
                        0.25 * (j % 7) as f32 - 0.5 + n as f32
                    }
                })
                .collect();
            (
                k.clone(),
                HostTensor {
                    shape: shape.clone(),
                    values,
                },
            )
        })
        .collect()
}

fn vals<const R: usize>(t: &Tensor<R>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

/// Layer `i`'s 12 block tensors from a generator's weights and parts, by timm block key.
fn layer_tensors(w: &LayerWeights, p: &LayerParts) -> BTreeMap<&'static str, Vec<f32>> {
    BTreeMap::from([
        ("norm1.weight", vals(&p.norm1.weight)),
        ("norm1.bias", vals(&p.norm1.bias)),
        ("attn.qkv.weight", vals(&w.qkv)),
        ("attn.qkv.bias", vals(&p.qkv_bias)),
        ("attn.proj.weight", vals(&w.proj)),
        ("attn.proj.bias", vals(&p.proj_bias)),
        ("norm2.weight", vals(&p.norm2.weight)),
        ("norm2.bias", vals(&p.norm2.bias)),
        ("mlp.fc1.weight", vals(&w.fc1)),
        ("mlp.fc1.bias", vals(&p.fc1_bias)),
        ("mlp.fc2.weight", vals(&w.fc2)),
        ("mlp.fc2.bias", vals(&p.fc2_bias)),
    ])
}

/// Catches a wrong denominator (L - 1 instead of L), base and slope swapped, a parameter
/// expanded from another parameter's tensors (e.g. proj's bias from fc2's), and a bias or norm
/// left out of the expansion: with hand-made base and slope, layer 0 of 4 is exactly base,
/// layer 2 exactly base + slope / 2 and layer 3 exactly base + 3/4 slope, for every one of the
/// 12 block parameters; a depth-1 expansion is base.
#[test]
fn every_block_parameter_is_base_plus_i_over_l_times_slope() {
    let device = Device::default();
    let keys = golden_keys();
    let values = hand_made(&keys);
    let model = load_named(linear_expansion_vit(&vit(4), 0, &device).unwrap(), &values).unwrap();
    let weights = model.generator.layers(&());
    let parts = model
        .generator
        .layer_parts(&())
        .expect("linear expansion makes the parts");
    assert_eq!((weights.len(), parts.len()), (4, 4));
    for (i, t) in [(0usize, 0.0f32), (2, 0.5), (3, 0.75)] {
        let got = layer_tensors(&weights[i], &parts[i]);
        for (k, _) in block_keys() {
            let base = &values[&format!("learngene.base.{k}")].values;
            let slope = &values[&format!("learngene.slope.{k}")].values;
            // exact in f32: the values are multiples of 1/8 below 2^10
            let want: Vec<f32> = base.iter().zip(slope).map(|(b, s)| b + t * s).collect();
            assert_eq!(got[k], want, "layer {i} of 4, {k}");
        }
    }
    let one = model.generator.clone().with_depth(1);
    let (w, p) = (one.layers(&()), one.layer_parts(&()).unwrap());
    assert_eq!(w.len(), 1);
    let got = layer_tensors(&w[0], &p[0]);
    for (k, _) in block_keys() {
        assert_eq!(got[k], values[&format!("learngene.base.{k}")].values, "{k}");
    }
}

/// Catches a linear-expansion ViT carrying per-block parts that nothing uses (they would be
/// trained, decayed and saved for nothing) or a learngene under other keys: its parameters are
/// exactly the shared parts and base/slope of the 12 block parameters, with timm's shapes; the
/// fresh learngene has TLEG's init (norm slope 0, base 1/0, biases 0, weights not 0).
#[test]
fn a_linear_expansion_vit_holds_the_learngene_and_the_shared_parts_only() {
    let device = Device::default();
    let model = linear_expansion_vit(&vit(8), 0, &device).unwrap();
    assert!(model.blocks.is_empty());
    let got: BTreeMap<String, Vec<usize>> = named_shapes(&model).into_iter().collect();
    assert_eq!(got, golden_keys());
    let t: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    let all = |k: &str, v: f32| t[k].values.iter().all(|&x| x == v);
    for half in ["base", "slope"] {
        for n in ["norm1", "norm2"] {
            let w = if half == "base" { 1.0 } else { 0.0 };
            assert!(
                all(&format!("learngene.{half}.{n}.weight"), w),
                "{half} {n}"
            );
            assert!(
                all(&format!("learngene.{half}.{n}.bias"), 0.0),
                "{half} {n}"
            );
        }
        for l in ["attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2"] {
            assert!(
                all(&format!("learngene.{half}.{l}.bias"), 0.0),
                "{half} {l}"
            );
            let w = &t[&format!("learngene.{half}.{l}.weight")].values;
            let std = (w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32).sqrt();
            assert!((0.01..0.03).contains(&std), "{half} {l}: std {std}");
        }
    }
    // base and slope are drawn separately
    assert_ne!(
        t["learngene.base.attn.qkv.weight"],
        t["learngene.slope.attn.qkv.weight"]
    );
}

/// `model` with every parameter replaced by distinct deterministic values (norm slopes not 0,
/// biases not 0), so nothing hides behind TLEG's init.
fn perturbed(model: Vit<LinearExpansion>) -> Vit<LinearExpansion> {
    let t: BTreeMap<String, HostTensor> = named_tensors(&model)
        .into_iter()
        .enumerate()
        .map(|(n, (k, mut t))| {
            for (j, v) in t.values.iter_mut().enumerate() {
                *v += ((j * 31 + n * 17) % 23) as f32 / 23.0 - 0.5;
            }
            (k, t)
        })
        .collect();
    load_named(model, &t).unwrap()
}

fn images(device: &Device) -> Tensor<4> {
    let v: Vec<f32> = (0..2 * 64)
        .map(|j| ((j * 7) % 13) as f32 / 6.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [2, 1, 8, 8]), device)
}

/// Catches the descendant not being the auxiliary model at the auxiliary depth (a formula of
/// its own, a shared part not copied, the final norm dropped): expanding an (8, D) auxiliary
/// model to depth 8 gives a dense model whose every block tensor equals the auxiliary model's
/// own expanded tensors and whose shared parts equal its own, bit for bit, and the same
/// features bit for bit; at depth 3 block i is base + (i / 3) slope of the same learngene.
#[test]
fn the_descendant_at_the_aux_depth_is_the_aux_bit_for_bit() {
    let device = Device::default();
    let aux = perturbed(linear_expansion_vit(&vit(8), 0, &device).unwrap());
    let dense = expand_learngene(&aux, 8, None).unwrap();
    let d: BTreeMap<String, HostTensor> = named_tensors(&dense).into_iter().collect();
    let a: BTreeMap<String, HostTensor> = named_tensors(&aux).into_iter().collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for k in [
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "norm.weight",
        "norm.bias",
    ] {
        assert_eq!(bits(&d[k].values), bits(&a[k].values), "{k}");
    }
    let (w, p) = (
        aux.generator.layers(&()),
        aux.generator.layer_parts(&()).unwrap(),
    );
    for i in 0..8 {
        let own = layer_tensors(&w[i], &p[i]);
        for (k, _) in block_keys() {
            let key = format!("blocks.{i}.{k}");
            assert_eq!(bits(&d[&key].values), bits(&own[k]), "{key}");
        }
    }
    assert!(!d.keys().any(|k| k.starts_with("blocks.8.")));
    let x = images(&device);
    assert_eq!(
        bits(&vals(&aux.features(x.clone()))),
        bits(&vals(&dense.features(x))),
        "features"
    );

    let three: BTreeMap<String, HostTensor> =
        named_tensors(&expand_learngene(&aux, 3, None).unwrap())
            .into_iter()
            .collect();
    for i in 0..3 {
        for (k, _) in block_keys() {
            let (b, s) = (
                &a[&format!("learngene.base.{k}")],
                &a[&format!("learngene.slope.{k}")],
            );
            let t = i as f32 / 3.0;
            let want: Vec<f32> = b
                .values
                .iter()
                .zip(&s.values)
                .map(|(b, s)| b + s * t)
                .collect();
            assert_eq!(
                three[&format!("blocks.{i}.{k}")].values,
                want,
                "depth 3 layer {i} {k}"
            );
        }
    }
}

/// Catches a width change that silently cuts or pads the learngene, and an empty model: another
/// width is an error that names the auxiliary width and says another width needs its own
/// auxiliary model; depth 0 is an error.
#[test]
fn expansion_refuses_another_width_and_depth_zero() {
    let device = Device::default();
    let aux = linear_expansion_vit(&vit(2), 0, &device).unwrap();
    let err = expand_learngene(&aux, 4, Some(16)).unwrap_err().to_string();
    assert!(err.contains(&format!("width {D}")), "{err}");
    assert!(err.contains("own auxiliary model"), "{err}");
    assert!(expand_learngene(&aux, 4, Some(D)).is_ok());
    let err = expand_learngene(&aux, 0, None).unwrap_err().to_string();
    assert!(err.contains("at least one layer"), "{err}");
}

fn provenance() -> Provenance {
    Provenance {
        data: "mnist".into(),
        mean: vec![0.13],
        std: vec![0.31],
        pretraining: serde_json::json!({"epochs": 1}),
        pretrain_seconds: 1.5,
        pretrain_steps: 3,
    }
}

/// Catches a learngene file that loses or renames tensors, drops the decoder or the provenance,
/// or reads back other values, and a damaged learngene read silently: the file holds exactly
/// the golden keys plus `decoder.*`, with the format name and version, the auxiliary config,
/// the provenance and a hash; reading it back gives the same tensors, the provenance and the
/// decoder; a changed slope value is an error saying the file is damaged.
#[test]
fn the_learngene_file_round_trips_and_checks_its_hash() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LEARNGENE_FILE);
    let model =
        perturbed(linear_expansion_vit(&vit(8), 0, &device).unwrap()).with_sincos_pos_embed();
    let decoder = vec![(
        "decoder_embed.weight".to_string(),
        HostTensor {
            shape: vec![2, D],
            values: vec![0.5; 2 * D],
        },
    )];
    learngene::save(&path, &model, &vit(8), &provenance(), &decoder).unwrap();

    let raw = tensor_file::read(&path).unwrap();
    let mut want = golden_keys();
    want.insert("decoder.decoder_embed.weight".into(), vec![2, D]);
    let got: BTreeMap<String, Vec<usize>> = raw
        .tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.shape.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(raw.metadata["format"], "sweet.learngene");
    assert_eq!(raw.metadata["format_version"], "1");
    assert_eq!(raw.metadata["pos_embed"], "sincos");
    let cfg: VitConfig = serde_json::from_str(&raw.metadata["vit_config"]).unwrap();
    assert_eq!(cfg, vit(8));
    assert_eq!(raw.metadata["learngene_sha256"].len(), 64);

    let back = learngene::load(&path, &device).unwrap();
    assert_eq!(back.vit, vit(8));
    assert_eq!(back.provenance, provenance());
    assert_eq!(back.decoder["decoder_embed.weight"], decoder[0].1);
    assert_eq!(back.learngene_sha256, raw.metadata["learngene_sha256"]);
    assert_eq!(back.model.generator.depth, 8);
    let a: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    let b: BTreeMap<String, HostTensor> = named_tensors(&back.model).into_iter().collect();
    assert_eq!(a, b);

    let mut tensors: Vec<(String, HostTensor)> = raw.tensors.clone().into_iter().collect();
    for (k, t) in &mut tensors {
        if k == "learngene.slope.mlp.fc2.bias" {
            t.values[0] += 1.0;
        }
    }
    tensor_file::write(&path, &tensors, &raw.metadata).unwrap();
    let err = learngene::load(&path, &device)
        .err()
        .expect("damaged")
        .to_string();
    assert!(err.contains("damaged"), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}
