//! At full ranks the templated ViT can represent any dense ViT, and the template file round
//! trips.

use std::collections::BTreeMap;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sweet_template::factors::{gaussian, orthonormal};
use sweet_template::tucker::{disassemble, project, StackedBlocks};
use sweet_template::{file, Orientation, TemplateConfig, TemplatedVit};
use sweet_vit::names::{load_named, named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

fn cfg() -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 3,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 3,
        global_pool: Default::default(),
    }
}

/// A dense ViT with every parameter perturbed off its init (so biases and norms matter).
fn dense(device: &Device) -> Vit {
    let model = Vit::new(&cfg(), 5, device);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let t: BTreeMap<String, HostTensor> = named_tensors(&model)
        .into_iter()
        .map(|(k, mut h)| {
            let noise = gaussian(h.values.len(), 0.05, &mut rng);
            h.values.iter_mut().zip(noise).for_each(|(v, e)| *v += e);
            (k, h)
        })
        .collect();
    load_named(model, &t).unwrap()
}

fn stack(model: &Vit, key: &str) -> Tensor<3> {
    Tensor::stack(
        model
            .generator
            .blocks
            .iter()
            .map(|b| match key {
                "qkv" => b.attn.qkv.weight.val(),
                "proj" => b.attn.proj.weight.val(),
                "fc1" => b.mlp.fc1.weight.val(),
                _ => b.mlp.fc2.weight.val(),
            })
            .collect(),
        0,
    )
}

fn max_diff(a: &Tensor<2>, b: &Tensor<2>) -> f32 {
    let (a, b) = (
        HostTensor::from_tensor(a).values,
        HostTensor::from_tensor(b).values,
    );
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn fitted(vit: &Vit, orientation: Orientation, device: &Device) -> (TemplatedVit, TemplateConfig) {
    let c = cfg();
    let d = c.embed_dim;
    let n = 12 * c.depth;
    let blocks = StackedBlocks {
        qkv: stack(vit, "qkv"),
        proj: stack(vit, "proj"),
        fc1: stack(vit, "fc1"),
        fc2: stack(vit, "fc2"),
    };
    let w = disassemble(&blocks, orientation);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let host = |v: Vec<f32>, s: Vec<usize>| HostTensor {
        shape: s,
        values: v,
    };
    let x = host(orthonormal(n, n, &mut rng), vec![n, n]);
    let u = host(orthonormal(d, d, &mut rng), vec![d, d]);
    let v = host(orthonormal(d, d, &mut rng), vec![d, d]);
    let g = project(
        w,
        x.to_tensor(device),
        u.to_tensor(device),
        v.to_tensor(device),
    );
    let tcfg = TemplateConfig {
        ranks: [n, d, d],
        orientation,
        ..TemplateConfig::with_default_ranks(c)
    };
    let mut t: BTreeMap<String, HostTensor> = named_tensors(vit)
        .into_iter()
        .filter(|(k, _)| {
            !(k.ends_with("qkv.weight")
                || k.ends_with("attn.proj.weight")
                || k.ends_with("fc1.weight")
                || k.ends_with("fc2.weight"))
        })
        .collect();
    t.insert("template".into(), HostTensor::from_tensor(&g));
    t.insert("scalers.depth".into(), x);
    t.insert("scalers.inner".into(), u);
    t.insert("scalers.residual".into(), v);
    let model: TemplatedVit = sweet_template::templated_vit(&tcfg, 0, device).unwrap();
    (load_named(model, &t).expect("factor keys"), tcfg)
}

#[test]
fn full_rank_template_represents_any_dense_vit() {
    let device = Device::default();
    let vit = dense(&device);
    for orientation in [Orientation::Residual, Orientation::Raw] {
        let (templated, _) = fitted(&vit, orientation, &device);
        let x = Tensor::<4>::random(
            [3, 3, 8, 8],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let d = max_diff(&templated.forward(x.clone()), &vit.forward(x.clone()));
        println!("{orientation:?}: templated vs dense logits max |diff| {d:.2e}");
        assert!(d < 1e-4, "{d}");
        // and composing once gives back the dense weights
        let back = templated.to_dense();
        let d = max_diff(&back.forward(x.clone()), &vit.forward(x));
        assert!(d < 1e-4, "{d}");
        for (l, b) in back.generator.blocks.iter().enumerate() {
            let e = max_diff(
                &b.mlp.fc2.weight.val(),
                &vit.generator.blocks[l].mlp.fc2.weight.val(),
            );
            assert!(e < 1e-5, "fc2 of layer {l}: {e}");
        }
    }
}

#[test]
fn template_file_round_trips() {
    let device = Device::default();
    let vit = dense(&device);
    let (templated, tcfg) = fitted(&vit, Orientation::Residual, &device);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::TEMPLATE_FILE);
    let provenance = file::Provenance {
        data: "fashion-mnist".into(),
        mean: vec![0.28; 3],
        std: vec![0.35; 3],
        pretraining: serde_json::json!({"epochs": 20}),
        pretrain_seconds: 12.5,
        pretrain_steps: 40,
    };
    let decoder = vec![(
        "decoder_embed.weight".to_string(),
        sweet_vit::names::HostTensor {
            shape: vec![2, 3],
            values: vec![1., 2., 3., 4., 5., 6.],
        },
    )];
    file::save(&path, &templated, &tcfg, &provenance, &decoder).unwrap();
    let back = file::load(&path, &device).unwrap();
    assert_eq!(back.cfg, tcfg);
    assert_eq!(back.provenance, provenance);
    assert_eq!(named_tensors(&back.model), named_tensors(&templated));
    assert_eq!(
        back.decoder.into_iter().collect::<Vec<_>>(),
        decoder,
        "decoder tensors come back under their own keys"
    );
    let g = sweet_vit::names::HostTensor::from_tensor(&templated.generator.template.val());
    assert_eq!(back.template_sha256, file::template_hash(&g));
    // a model file is not a template file
    let model_dir = dir.path().join("m");
    sweet_vit::checkpoint::save_model(&vit, &cfg(), vec![0.5; 3], vec![0.5; 3], &model_dir)
        .unwrap();
    let err = file::load(&model_dir.join("model.safetensors"), &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("sweet.template"), "{err}");
}
