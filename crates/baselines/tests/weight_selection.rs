//! Weight selection end to end on model folders: which teacher entries every student tensor
//! keeps (on a teacher whose every entry is its own flat index), the output's golden key list,
//! a model selected at its own size, and the sizes it refuses.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_baselines::folder::{read_source, TargetSize};
use sweet_baselines::selection::{check_sizes, indices, segment_indices, select, write_selection};
use sweet_baselines::{BaselineRecord, Method};
use sweet_vit::checkpoint::{load_model, save_model};
use sweet_vit::names::{load_named, named_shapes, named_tensors, HostTensor};
use sweet_vit::{Vit, VitConfig};

fn cfg(depth: usize, width: usize, heads: usize, classes: usize) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: width,
        depth,
        num_heads: heads,
        mlp_ratio: 4.0,
        num_classes: classes,
        global_pool: Default::default(),
    }
}

/// A teacher folder of architecture `c`: timm's init, or (`coded`) every entry its flat index.
fn teacher(dir: &Path, c: &VitConfig, coded: bool) {
    let device = Device::default();
    let mut model = Vit::new(c, 1, &device);
    if coded {
        let t: BTreeMap<String, HostTensor> = named_tensors(&model)
            .into_iter()
            .map(|(k, t)| {
                let values = (0..t.values.len()).map(|i| i as f32).collect();
                (k, HostTensor { values, ..t })
            })
            .collect();
        model = load_named(model, &t).unwrap();
    }
    save_model(&model, c, vec![0.25], vec![0.5], dir).unwrap();
}

fn target(depth: usize, width: usize, classes: usize) -> TargetSize {
    TargetSize {
        depth,
        width,
        heads: None,
        classes,
    }
}

fn read(dir: &Path) -> BTreeMap<String, HostTensor> {
    read_source(dir).unwrap().tensors
}

#[test]
fn every_tensor_keeps_the_teachers_evenly_spaced_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (from, out) = (dir.path().join("t"), dir.path().join("s"));
    // (3, 96) with head dim 32 -> (2, 64): 96 -> 64 and 384 -> 256 are not divisible
    teacher(&from, &cfg(3, 96, 3, 0), true);
    write_selection(&from, &target(2, 64, 10), 0, &out, &Device::default()).unwrap();
    let (t, s) = (read(&from), read(&out));
    // linspace(0, 95, 64) = 0, 1.51, 3.02, 4.52, 6.03, 7.54, 9.05, 10.56 ...
    let d = indices(96, 64);
    assert_eq!(d[..8], [0, 2, 3, 5, 6, 8, 9, 11]);
    let h = indices(384, 256);
    let qkv = segment_indices(3, 96, 64);
    assert_eq!(qkv[64..67], [96, 98, 99], "k rows start at the k segment");
    let mut expect: BTreeMap<String, Vec<Option<Vec<usize>>>> = BTreeMap::from([
        ("cls_token".into(), vec![None, None, Some(d.clone())]),
        ("pos_embed".into(), vec![None, None, Some(d.clone())]),
        (
            "patch_embed.proj.weight".into(),
            vec![Some(d.clone()), None, None, None],
        ),
        ("patch_embed.proj.bias".into(), vec![Some(d.clone())]),
        ("norm.weight".into(), vec![Some(d.clone())]),
        ("norm.bias".into(), vec![Some(d.clone())]),
    ]);
    for l in 0..2 {
        let b = |k: &str| format!("blocks.{l}.{k}");
        for k in ["norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"] {
            expect.insert(b(k), vec![Some(d.clone())]);
        }
        expect.insert(
            b("attn.qkv.weight"),
            vec![Some(qkv.clone()), Some(d.clone())],
        );
        expect.insert(b("attn.qkv.bias"), vec![Some(qkv.clone())]);
        expect.insert(
            b("attn.proj.weight"),
            vec![Some(d.clone()), Some(d.clone())],
        );
        expect.insert(b("attn.proj.bias"), vec![Some(d.clone())]);
        expect.insert(b("mlp.fc1.weight"), vec![Some(h.clone()), Some(d.clone())]);
        expect.insert(b("mlp.fc1.bias"), vec![Some(h.clone())]);
        expect.insert(b("mlp.fc2.weight"), vec![Some(d.clone()), Some(h.clone())]);
        expect.insert(b("mlp.fc2.bias"), vec![Some(d.clone())]);
    }
    for (key, keep) in &expect {
        assert_eq!(&s[key], &select(&t[key], keep), "{key}");
    }
    // the fresh head is not the teacher's (it has none) and every other key was checked
    let rest: Vec<&String> = s.keys().filter(|k| !expect.contains_key(*k)).collect();
    assert_eq!(rest, ["head.bias", "head.weight"]);
    let record = BaselineRecord::read(&out).unwrap();
    match record.method {
        Method::WeightSelection(c) => assert_eq!((c.depth, c.width, c.heads), (2, 64, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(record.source.unwrap().vit.embed_dim, 96);
}

#[test]
fn the_output_has_timms_keys_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let (from, out) = (dir.path().join("t"), dir.path().join("s"));
    teacher(&from, &cfg(3, 64, 2, 0), false);
    write_selection(&from, &target(1, 32, 10), 0, &out, &Device::default()).unwrap();
    let (model, c) = load_model(&out, &Device::default()).unwrap();
    assert_eq!(c.pretrained_cfg.mean, [0.25], "the teacher's normalization");
    let got: Vec<String> = named_shapes(&model)
        .into_iter()
        .map(|(k, s)| format!("{k} {s:?}"))
        .collect();
    let golden = [
        "blocks.0.attn.qkv.weight [96, 32]",
        "blocks.0.attn.proj.weight [32, 32]",
        "blocks.0.mlp.fc1.weight [128, 32]",
        "blocks.0.mlp.fc2.weight [32, 128]",
        "patch_embed.proj.weight [32, 1, 4, 4]",
        "patch_embed.proj.bias [32]",
        "cls_token [1, 1, 32]",
        "pos_embed [1, 5, 32]",
        "blocks.0.norm1.weight [32]",
        "blocks.0.norm1.bias [32]",
        "blocks.0.attn.qkv.bias [96]",
        "blocks.0.attn.proj.bias [32]",
        "blocks.0.norm2.weight [32]",
        "blocks.0.norm2.bias [32]",
        "blocks.0.mlp.fc1.bias [128]",
        "blocks.0.mlp.fc2.bias [32]",
        "norm.weight [32]",
        "norm.bias [32]",
        "head.weight [10, 32]",
        "head.bias [10]",
    ];
    assert_eq!(got, golden);
    assert_eq!((c.vit().depth, c.vit().num_heads), (1, 1));
}

#[test]
fn selecting_a_model_at_its_own_size_returns_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (from, out) = (dir.path().join("t"), dir.path().join("s"));
    teacher(&from, &cfg(2, 64, 2, 0), false);
    write_selection(&from, &target(2, 64, 0), 7, &out, &Device::default()).unwrap();
    assert_eq!(read(&from), read(&out));
    assert_eq!(
        read_source(&out).unwrap().model.vit,
        read_source(&from).unwrap().model.vit
    );
}

#[test]
fn larger_targets_and_other_patches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("t");
    teacher(&from, &cfg(2, 64, 2, 0), false);
    let device = Device::default();
    for (i, t) in [target(3, 64, 0), target(2, 96, 0)].iter().enumerate() {
        let out = dir.path().join(format!("o{i}"));
        let e = write_selection(&from, t, 0, &out, &device).unwrap_err();
        assert!(e.to_string().contains("only shrinks"), "{e}");
        assert!(!out.join("model.safetensors").exists(), "nothing written");
    }
    let teacher_cfg = cfg(2, 64, 2, 0);
    let other_patch = VitConfig {
        patch_size: 2,
        ..cfg(2, 32, 1, 0)
    };
    let e = check_sizes(&teacher_cfg, &other_patch).unwrap_err();
    assert!(e.to_string().contains("patch"), "{e}");
    let other_size = VitConfig {
        img_size: 16.into(),
        ..cfg(2, 32, 1, 0)
    };
    assert!(check_sizes(&teacher_cfg, &other_size).is_err());
}
