//! A model folder as the encoder of a classifier to fine-tune (`checkpoint::load_for_finetune`):
//! every encoder key exactly, a fresh head at std 2e-5 for the data's class count (from a
//! headless folder or a head of another count), a fresh `fc_norm` with average pooling, and
//! errors naming any other missing or unexpected key, or another architecture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use sweet_vit::checkpoint::{self, CheckpointError, FINETUNE_HEAD_STD};
use sweet_vit::names::{named_tensors, HostTensor};
use sweet_vit::{tensor_file, GlobalPool, Vit, VitConfig};

fn cfg(num_classes: usize, global_pool: GlobalPool) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes,
        global_pool,
    }
}

/// A model folder of `cfg` in `dir/name` (seed 1); returns it and its tensors by key.
fn folder(dir: &Path, name: &str, cfg: &VitConfig) -> (PathBuf, BTreeMap<String, HostTensor>) {
    let device = Device::default();
    let model = Vit::new(cfg, 1, &device);
    let out = dir.join(name);
    checkpoint::save_model(&model, cfg, vec![0.5], vec![0.5], &out).unwrap();
    (out, named_tensors(&model).into_iter().collect())
}

/// Rewrites the folder's weights through `edit`.
fn edit(dir: &Path, f: impl FnOnce(&mut BTreeMap<String, HostTensor>)) {
    let path = dir.join(checkpoint::WEIGHTS_FILE);
    let mut file = tensor_file::read(&path).unwrap();
    f(&mut file.tensors);
    let tensors: Vec<(String, HostTensor)> = file.tensors.into_iter().collect();
    tensor_file::write(&path, &tensors, &file.metadata).unwrap();
}

fn load(dir: &Path, cfg: &VitConfig) -> Result<Vit, CheckpointError> {
    checkpoint::load_for_finetune(dir, cfg, 0, &Device::default())
}

fn err(dir: &Path, cfg: &VitConfig) -> String {
    match load(dir, cfg) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_headless_folder_gets_a_fresh_small_head_and_keeps_every_encoder_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, saved) = folder(tmp.path(), "enc", &cfg(0, GlobalPool::Token));
    let target = cfg(5, GlobalPool::Token);
    let model = load(&dir, &target).unwrap();
    let loaded: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    for (k, t) in &saved {
        assert_eq!(&loaded[k], t, "{k} is the folder's");
    }
    let w = &loaded["head.weight"];
    assert_eq!(w.shape, [5, 16]);
    let n = w.values.len() as f32;
    let std = (w.values.iter().map(|v| v * v).sum::<f32>() / n).sqrt();
    assert!(
        std > 0.5 * FINETUNE_HEAD_STD && std < 1.5 * FINETUNE_HEAD_STD,
        "head std {std}"
    );
    assert_eq!(loaded["head.bias"].values, [0.0; 5]);
    assert_eq!(loaded.len(), saved.len() + 2);
}

#[test]
fn a_head_of_another_count_is_replaced_and_avg_pooling_gets_a_fresh_fc_norm() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, saved) = folder(tmp.path(), "m", &cfg(3, GlobalPool::Token));
    // same class count: the head is still fresh (not the folder's .02 init)
    let model = load(&dir, &cfg(3, GlobalPool::Token)).unwrap();
    let head = HostTensor::from_tensor(&model.head.as_ref().unwrap().weight.val());
    assert_ne!(head, saved["head.weight"]);
    assert!(head.values.iter().all(|v| v.abs() < 1e-3));
    // another count, average pooling: the folder's final norm is dropped, fc_norm is 1 / 0
    let model = load(&dir, &cfg(7, GlobalPool::Avg)).unwrap();
    let loaded: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    assert_eq!(loaded["head.weight"].shape, [7, 16]);
    assert_eq!(loaded["fc_norm.weight"].values, [1.0; 16]);
    assert_eq!(loaded["fc_norm.bias"].values, [0.0; 16]);
    assert!(!loaded.contains_key("norm.weight"));
    assert_eq!(
        loaded["blocks.1.mlp.fc2.weight"],
        saved["blocks.1.mlp.fc2.weight"]
    );
}

#[test]
fn any_other_missing_or_unexpected_key_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let target = cfg(4, GlobalPool::Token);
    let (dir, _) = folder(tmp.path(), "missing", &cfg(0, GlobalPool::Token));
    edit(&dir, |t| {
        t.remove("blocks.1.norm1.weight");
    });
    let e = err(&dir, &target);
    assert!(
        e.contains("missing keys: blocks.1.norm1.weight [16]"),
        "{e}"
    );

    let (dir, _) = folder(tmp.path(), "extra", &cfg(0, GlobalPool::Token));
    edit(&dir, |t| {
        t.insert(
            "dist_token".into(),
            HostTensor {
                shape: vec![1, 1, 16],
                values: vec![0.0; 16],
            },
        );
    });
    let e = err(&dir, &target);
    assert!(e.contains("unexpected keys: dist_token"), "{e}");

    let (dir, _) = folder(tmp.path(), "shape", &cfg(0, GlobalPool::Token));
    edit(&dir, |t| {
        t.insert(
            "cls_token".into(),
            HostTensor {
                shape: vec![1, 16],
                values: vec![0.0; 16],
            },
        );
    });
    let e = err(&dir, &target);
    assert!(
        e.contains("cls_token: expected [1, 1, 16], found [1, 16]"),
        "{e}"
    );

    // an avg-pooled folder has no final norm: token pooling says what to pass
    let (dir, _) = folder(tmp.path(), "avg", &cfg(10, GlobalPool::Avg));
    let e = err(&dir, &target);
    assert!(
        e.contains("missing keys: norm.weight [16], norm.bias [16]"),
        "{e}"
    );
    assert!(e.contains("--global-pool avg"), "{e}");
    assert!(load(&dir, &cfg(4, GlobalPool::Avg)).is_ok());
}

#[test]
fn another_architecture_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = folder(tmp.path(), "m", &cfg(0, GlobalPool::Token));
    // 4 heads instead of 2: every shape is the same, the model is not
    let target = VitConfig {
        num_heads: 4,
        ..cfg(10, GlobalPool::Token)
    };
    let e = err(&dir, &target);
    assert!(e.contains("architecture differs"), "{e}");
    assert!(
        e.contains("num_heads: 2") && e.contains("num_heads: 4"),
        "{e}"
    );
}
