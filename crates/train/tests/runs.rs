//! Whole runs as library calls, as a study runner makes them (no CLI): the run folder they
//! write and a step limit that cuts the run short.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use sweet_mae::decoder::DecoderConfig;
use sweet_template::GeneratorConfig;
use sweet_train::adamw::AdamWConfig;
use sweet_train::classify::TrainConfig;
use sweet_train::pretrain::PretrainConfig;
use sweet_train::run::{run_classification, run_pretraining, ClassifyRun, DataConfig, PretrainRun};
use sweet_train::{LoopConfig, Silent, METRICS_FILE};
use sweet_vit::VitConfig;

/// 64 training and 16 test images of 1x16x16 as MNIST IDX files.
fn tiny_mnist(dir: &Path) -> DataConfig {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    sweet_data::write_idx(
        &sweet_data::synthetic(64, 1, 16, 16, 10, 1),
        &data,
        "train",
        false,
    )
    .unwrap();
    sweet_data::write_idx(
        &sweet_data::synthetic(16, 1, 16, 16, 10, 2),
        &data,
        "t10k",
        false,
    )
    .unwrap();
    DataConfig {
        data: "mnist".into(),
        data_dir: data,
        data_img_size: None,
        data_channels: None,
    }
}

fn vit(num_classes: usize) -> VitConfig {
    VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 16,
        depth: 1,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes,
        global_pool: Default::default(),
    }
}

/// 2 epochs of 4 batches of 16, limited to 5 steps.
fn loop_config() -> LoopConfig {
    LoopConfig {
        epochs: 2,
        batch_size: 16,
        lr: 1e-3,
        min_lr: 1e-5,
        warmup_epochs: 0.5,
        optimizer: AdamWConfig::default(),
        seed: 0,
        workers: 1,
        max_steps: Some(5),
        stop_after: None,
        replicas: Vec::new(),
    }
}

fn lines(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join(METRICS_FILE))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn written<T: serde::de::DeserializeOwned>(path: PathBuf) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_classification_run_is_a_function_call() {
    let dir = tempfile::tempdir().unwrap();
    let run = ClassifyRun {
        dataset: tiny_mnist(dir.path()),
        labels_per_class: None,
        init_from: None,
        vit: vit(10),
        train: TrainConfig {
            run: loop_config(),
            label_smoothing: 0.1,
            pad_crop: 0,
            hflip: false,
            layer_decay: None,
            drop_path: 0.0,
            eval_images: None,
        },
    };
    let out = dir.path().join("run");
    let done = run_classification(&run, &out, false, &mut Silent, &Device::default()).unwrap();
    let steps: Vec<usize> = done.history.iter().map(|m| m.step).collect();
    assert_eq!(steps, [4, 5], "the second epoch stops at max_steps");
    assert_eq!(done.mean.len(), 1);
    assert_eq!(written::<ClassifyRun>(out.join(ClassifyRun::FILE)), run);
    assert_eq!(lines(&out).len(), 2);
    assert!(lines(&out)[1]["train_acc"].as_f64().is_some());
    // the folder now holds a run: a new one is refused, a resumed one has nothing left
    let again = run_classification(&run, &out, false, &mut Silent, &Device::default());
    assert!(again.is_err_and(|e| e.to_string().contains("already holds a run")));
    let resumed = run_classification(&run, &out, true, &mut Silent, &Device::default()).unwrap();
    assert!(resumed.history.is_empty());
}

#[test]
fn a_pretraining_run_is_a_function_call() {
    let dir = tempfile::tempdir().unwrap();
    let run = PretrainRun {
        dataset: tiny_mnist(dir.path()),
        train_images: Some(48),
        pretrain: PretrainConfig {
            vit: vit(0),
            generator: GeneratorConfig::Dense,
            decoder: DecoderConfig {
                width: 16,
                depth: 1,
                heads: 2,
                mlp_ratio: 2.0,
            },
            mask_ratio: 0.75,
            run: loop_config(),
            eval_images: 8,
        },
    };
    let out = dir.path().join("run");
    let done = run_pretraining(&run, &out, false, &mut Silent, &Device::default()).unwrap();
    // 48 images make 3 batches per epoch: 3 steps, then 2
    let steps: Vec<usize> = done.history.iter().map(|m| m.step).collect();
    assert_eq!(steps, [3, 5]);
    assert_eq!(written::<PretrainRun>(out.join(PretrainRun::FILE)), run);
    assert_eq!(lines(&out).len(), 2);
    assert!(out.join("reconstructions/epoch_002.png").exists());
}
