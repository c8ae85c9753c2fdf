//! MAE's fine-tuning recipe as a classification run (library calls, as a study runner makes
//! them): the layer-decay scale of every key, a step that moves each layer by its scaled lr,
//! drop path that changes training yet resumes exactly, the epoch test subset and the final
//! whole-test-set evaluation in `final.json` (not redone by a resumed finished run), and the
//! settings refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use sweet_train::adamw::AdamWConfig;
use sweet_train::classify::{evaluate, FinalMetrics, TrainConfig, FINAL_FILE};
use sweet_train::param_groups::{layer_id, ParamGroups};
use sweet_train::run::{run_classification, ClassifyOutcome, ClassifyRun, DataConfig};
use sweet_train::{LoopConfig, Silent, METRICS_FILE};
use sweet_vit::names::{named_shapes, named_tensors, HostTensor};
use sweet_vit::{checkpoint, GlobalPool, Vit, VitConfig};

/// 64 training and 16 test images of 1x16x16 as MNIST IDX files.
fn tiny_mnist(dir: &Path) -> DataConfig {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (n, seed, name) in [(64, 1, "train"), (16, 2, "t10k")] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        sweet_data::write_idx(&set, &data, name, false).unwrap();
    }
    DataConfig {
        data: "mnist".into(),
        data_dir: data,
        data_img_size: None,
        data_channels: None,
    }
}

/// Two blocks, so that the embeddings, each block and the head all get their own lr scale.
fn vit(num_classes: usize) -> VitConfig {
    VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes,
        global_pool: GlobalPool::Token,
    }
}

/// A headless model folder (seed 3) in `dir/encoder`.
fn encoder_folder(dir: &Path) -> PathBuf {
    let out = dir.join("encoder");
    let model = Vit::new(&vit(0), 3, &Device::default());
    checkpoint::save_model(&model, &vit(0), vec![0.5], vec![0.5], &out).unwrap();
    out
}

/// MAE's recipe on the tiny data: 2 epochs of 4 batches of 16.
fn recipe() -> TrainConfig {
    TrainConfig {
        run: LoopConfig {
            epochs: 2,
            batch_size: 16,
            lr: 1e-3,
            min_lr: 1e-6,
            warmup_epochs: 0.5,
            optimizer: AdamWConfig::default(),
            seed: 0,
            workers: 1,
            max_steps: None,
            stop_after: None,
            replicas: Vec::new(),
        },
        label_smoothing: 0.1,
        pad_crop: 0,
        hflip: false,
        layer_decay: Some(0.75),
        drop_path: 0.5,
        eval_images: None,
    }
}

fn finetune_run(dir: &Path, train: TrainConfig) -> ClassifyRun {
    ClassifyRun {
        dataset: tiny_mnist(dir),
        labels_per_class: None,
        init_from: Some(encoder_folder(dir)),
        vit: vit(10),
        train,
    }
}

/// The run's outcome, or its error as text.
fn go(run: &ClassifyRun, out: &Path, resume: bool) -> Result<ClassifyOutcome, String> {
    run_classification(run, out, resume, &mut Silent, &Device::default()).map_err(|e| e.to_string())
}

fn weights(model: &Vit) -> BTreeMap<String, HostTensor> {
    named_tensors(model).into_iter().collect()
}

fn read_final(out: &Path) -> FinalMetrics {
    serde_json::from_str(&std::fs::read_to_string(out.join(FINAL_FILE)).unwrap()).unwrap()
}

/// Equal up to the last bit that serde_json's float parsing may lose.
fn assert_same(read: &FinalMetrics, want: &FinalMetrics) {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    assert!(
        close(read.test_acc, want.test_acc)
            && close(read.test_loss, want.test_loss)
            && close(read.train_seconds, want.train_seconds)
            && (read.test_images, read.epochs, read.steps)
                == (want.test_images, want.epochs, want.steps),
        "{read:?} != {want:?}"
    );
}

#[test]
fn layer_decay_scales_every_key_by_its_layer() {
    let model = Vit::new(&vit(3), 0, &Device::default());
    let groups = ParamGroups::layer_decay(0.5, 2);
    let mut got: Vec<(String, f64)> = named_shapes(&model)
        .into_iter()
        .map(|(k, _)| {
            let s = groups.lr_scale(&k);
            (k, s)
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    // 2 blocks: embeddings decay^3, block 0 decay^2, block 1 decay, the rest decay^0
    let (emb, b0, b1, top) = (0.125, 0.25, 0.5, 1.0);
    let golden: Vec<(&str, f64)> = vec![
        ("blocks.0.attn.proj.bias", b0),
        ("blocks.0.attn.proj.weight", b0),
        ("blocks.0.attn.qkv.bias", b0),
        ("blocks.0.attn.qkv.weight", b0),
        ("blocks.0.mlp.fc1.bias", b0),
        ("blocks.0.mlp.fc1.weight", b0),
        ("blocks.0.mlp.fc2.bias", b0),
        ("blocks.0.mlp.fc2.weight", b0),
        ("blocks.0.norm1.bias", b0),
        ("blocks.0.norm1.weight", b0),
        ("blocks.0.norm2.bias", b0),
        ("blocks.0.norm2.weight", b0),
        ("blocks.1.attn.proj.bias", b1),
        ("blocks.1.attn.proj.weight", b1),
        ("blocks.1.attn.qkv.bias", b1),
        ("blocks.1.attn.qkv.weight", b1),
        ("blocks.1.mlp.fc1.bias", b1),
        ("blocks.1.mlp.fc1.weight", b1),
        ("blocks.1.mlp.fc2.bias", b1),
        ("blocks.1.mlp.fc2.weight", b1),
        ("blocks.1.norm1.bias", b1),
        ("blocks.1.norm1.weight", b1),
        ("blocks.1.norm2.bias", b1),
        ("blocks.1.norm2.weight", b1),
        ("cls_token", emb),
        ("head.bias", top),
        ("head.weight", top),
        ("norm.bias", top),
        ("norm.weight", top),
        ("patch_embed.proj.bias", emb),
        ("patch_embed.proj.weight", emb),
        ("pos_embed", emb),
    ];
    let golden: Vec<(String, f64)> = golden.into_iter().map(|(k, s)| (k.into(), s)).collect();
    assert_eq!(got, golden);
    // average pooling's fc_norm sits with the head; ids past the blocks are L + 1
    assert_eq!(layer_id("fc_norm.weight", 2), 3);
    assert_eq!(layer_id("blocks.11.norm1.bias", 12), 12);
    assert_eq!(layer_id("patch_embed.proj.weight", 12), 0);
    // crossed with the decay rule, which it leaves as timm's
    assert!(groups.decays("blocks.0.attn.qkv.weight", &[48, 16]));
    assert!(!groups.decays("blocks.0.attn.qkv.bias", &[48]));
    assert!(!groups.decays("pos_embed", &[1, 17, 16]));
    // decay 1 is no decay
    let flat = ParamGroups::layer_decay(1.0, 2);
    assert!(got.iter().all(|(k, _)| flat.lr_scale(k) == 1.0));
}

#[test]
fn a_step_moves_each_layer_by_its_share_of_the_lr() {
    // AdamW's first step moves every parameter with a gradient by lr_k * g / (|g| + eps), so
    // (without weight decay) each tensor's largest move is its group lr: lr * 0.5^(3 - id).
    let dir = tempfile::tempdir().unwrap();
    let lr = 1e-2;
    let mut train = recipe();
    train.run.lr = lr;
    train.run.warmup_epochs = 0.0;
    train.run.max_steps = Some(1);
    train.run.optimizer.weight_decay = 0.0;
    train.layer_decay = Some(0.5);
    train.drop_path = 0.0;
    let run = ClassifyRun {
        init_from: None,
        ..finetune_run(dir.path(), train)
    };
    let before = weights(&Vit::new(&run.vit, 0, &Device::default()));
    let done = go(&run, &dir.path().join("run"), false).unwrap();
    let after = weights(&done.model);
    let mut seen = Vec::new();
    for (key, b) in &before {
        let moved = b.values.iter().zip(&after[key].values);
        let max = moved.map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max) as f64;
        let want = lr * 0.5f64.powi(3 - layer_id(key, 2) as i32);
        assert!(
            (max - want).abs() < 1e-3 * want,
            "{key}: moved at most {max}, want {want}"
        );
        seen.push(want);
    }
    seen.sort_by(f64::total_cmp);
    seen.dedup();
    assert_eq!(seen.len(), 4, "every layer id was checked");
}

#[test]
fn drop_path_changes_training_and_a_killed_run_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let run = finetune_run(dir.path(), recipe());
    let whole = go(&run, &dir.path().join("whole"), false).unwrap();
    assert_eq!(whole.history.len(), 2);

    // killed after epoch 1, then resumed: the same weights, step for step
    let mut first = run.clone();
    first.train.run.stop_after = Some(1);
    let cut = dir.path().join("cut");
    let part = go(&first, &cut, false).unwrap();
    assert_eq!(part.history.len(), 1);
    assert!(part.final_metrics.is_none() && !cut.join(FINAL_FILE).exists());
    let resumed = go(&run, &cut, true).unwrap();
    assert_eq!(resumed.history.len(), 1);
    assert_eq!(weights(&resumed.model), weights(&whole.model));
    assert_eq!(
        resumed.final_metrics.as_ref().map(|f| f.test_acc),
        whole.final_metrics.as_ref().map(|f| f.test_acc)
    );

    // the masks matter: without drop path (or with another seed) the weights differ
    let mut plain = run.clone();
    plain.train.drop_path = 0.0;
    let other = go(&plain, &dir.path().join("plain"), false).unwrap();
    assert_ne!(weights(&other.model), weights(&whole.model));
    let mut reseeded = run.clone();
    reseeded.train.run.seed = 1;
    let other = go(&reseeded, &dir.path().join("reseeded"), false).unwrap();
    assert_ne!(weights(&other.model), weights(&whole.model));
}

#[test]
fn epochs_score_the_test_subset_and_the_end_the_whole_test_set_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut train = recipe();
    train.eval_images = Some(4);
    let run = finetune_run(dir.path(), train);
    let out = dir.path().join("run");
    let done = go(&run, &out, false).unwrap();

    let device = Device::default();
    let test = run.dataset.open(sweet_data::Split::Test).unwrap();
    let model = done.model.valid();
    let (loss4, acc4) = evaluate(&model, &std::sync::Arc::new(test.take(4)), 256, 1, &device);
    let (loss, acc) = evaluate(&model, &test, 256, 1, &device);
    let last = done.history.last().unwrap();
    assert_eq!((last.test_loss, last.test_acc), (loss4, acc4));
    assert_ne!(loss4, loss, "the subset is not the whole set");
    let fin = done.final_metrics.clone().unwrap();
    assert_same(&read_final(&out), &fin);
    assert_eq!((fin.test_loss, fin.test_acc), (loss, acc));
    assert_eq!((fin.test_images, fin.epochs, fin.steps), (16, 2, 8));
    let lines = std::fs::read_to_string(out.join(METRICS_FILE)).unwrap();
    let seconds: f64 = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch_seconds"]
                .as_f64()
                .unwrap()
        })
        .sum();
    assert_eq!(fin.train_seconds, seconds);

    // a finished run resumed does nothing again: final.json is read back, not recomputed
    let marked = FinalMetrics {
        test_acc: 0.123,
        ..fin.clone()
    };
    std::fs::write(
        out.join(FINAL_FILE),
        serde_json::to_string(&marked).unwrap(),
    )
    .unwrap();
    let again = go(&run, &out, true).unwrap();
    assert!(again.history.is_empty());
    assert_same(&again.final_metrics.unwrap(), &marked);
    // killed between the last checkpoint and final.json: the resumed run writes it
    std::fs::remove_file(out.join(FINAL_FILE)).unwrap();
    let again = go(&run, &out, true).unwrap();
    assert_eq!(again.final_metrics, Some(fin.clone()));
    assert_same(&read_final(&out), &fin);
}

#[test]
fn settings_out_of_range_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    type Edit = fn(&mut TrainConfig);
    let cases: [(Edit, &str); 5] = [
        (
            |t| t.layer_decay = Some(0.0),
            "--layer-decay must be in (0, 1]",
        ),
        (
            |t| t.layer_decay = Some(1.5),
            "--layer-decay must be in (0, 1]",
        ),
        (|t| t.drop_path = 1.0, "--drop-path must be in [0, 1)"),
        (|t| t.drop_path = -0.1, "--drop-path must be in [0, 1)"),
        (
            |t| t.eval_images = Some(0),
            "--eval-images must be at least 1",
        ),
    ];
    for (edit, words) in cases {
        let mut train = recipe();
        edit(&mut train);
        let run = finetune_run(dir.path(), train);
        let err = go(&run, &out, false).err().expect("refused");
        assert!(err.contains(words), "{err}");
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn old_run_files_read_and_the_new_settings_are_written_only_when_set() {
    let run: ClassifyRun = serde_json::from_str(include_str!("fixtures/run.json")).unwrap();
    assert_eq!(
        (
            run.train.layer_decay,
            run.train.drop_path,
            run.train.eval_images
        ),
        (None, 0.0, None)
    );
    let mut set = run.clone();
    set.train.layer_decay = Some(0.75);
    set.train.drop_path = 0.1;
    set.train.eval_images = Some(1000);
    let text = serde_json::to_string(&set).unwrap();
    assert!(
        text.contains(r#""layer_decay":0.75,"drop_path":0.1,"eval_images":1000"#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<ClassifyRun>(&text).unwrap(), set);
}
