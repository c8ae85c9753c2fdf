//! Initialization from Kronecker templates (the WAVE baseline) as a library call: a tiny aux
//! net pre-trained for a few MAE steps writes its template file; a target of another depth and
//! width learns its scalers with SWEET's scaler learning, the templates unchanged bit for bit
//! and the scalers moved; zero-shot at the aux's own size exports the aux's composed encoder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use sweet_mae::decoder::DecoderConfig;
use sweet_template::kronecker::file::{self as kfile, KRONECKER_FILE};
use sweet_template::kronecker::init::init_from_kronecker;
use sweet_template::{GeneratorConfig, KroneckerConfig};
use sweet_train::adamw::AdamWConfig;
use sweet_train::pretrain::PretrainConfig;
use sweet_train::run::{
    run_init_kronecker, run_pretraining, write_pretrain_output, DataConfig, KroneckerInitRecord,
    KroneckerInitRun, PretrainRun, ScalerLearning, INIT_FILE, SCALER_RUN,
};
use sweet_train::{LoopConfig, Silent};
use sweet_vit::names::{named_tensors, HostTensor};
use sweet_vit::{checkpoint, VitConfig};

fn tiny_data(dir: &Path) -> DataConfig {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (split, n, seed) in [("train", 64, 1), ("t10k", 16, 2)] {
        sweet_data::write_idx(
            &sweet_data::synthetic(n, 1, 16, 16, 10, seed),
            &data,
            split,
            false,
        )
        .unwrap();
    }
    DataConfig {
        data: "fashion-mnist".into(),
        data_dir: data,
        data_img_size: None,
        data_channels: None,
    }
}

/// Pre-trains a (2, 32) aux net, 2 heads, 4 templates of 16 x 16 per type, for 4 steps.
fn tiny_aux(dir: &Path, data: &DataConfig) -> PathBuf {
    let vit = VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    let run = PretrainRun {
        dataset: data.clone(),
        train_images: None,
        pretrain: PretrainConfig {
            vit: vit.clone(),
            generator: GeneratorConfig::Kronecker(KroneckerConfig {
                vit,
                templates: 4,
                tile: 16,
            }),
            decoder: DecoderConfig {
                width: 16,
                depth: 1,
                heads: 2,
                mlp_ratio: 2.0,
            },
            mask_ratio: 0.75,
            run: LoopConfig {
                epochs: 1,
                batch_size: 16,
                lr: 1e-3,
                min_lr: 0.0,
                warmup_epochs: 0.0,
                optimizer: AdamWConfig::default(),
                seed: 0,
                workers: 1,
                max_steps: None,
                stop_after: None,
                replicas: Vec::new(),
            },
            eval_images: 8,
        },
    };
    let out = dir.join("aux");
    let done = run_pretraining(&run, &out, false, &mut Silent, &Device::default()).unwrap();
    let path = write_pretrain_output(&run, &out, &done).unwrap();
    assert_eq!(path, out.join(KRONECKER_FILE));
    path
}

fn init_run(
    templates: &Path,
    data: &DataConfig,
    depth: usize,
    width: usize,
    steps: usize,
) -> KroneckerInitRun {
    KroneckerInitRun {
        templates: templates.to_path_buf(),
        depth,
        width,
        heads: None,
        classes: 10,
        scalers: ScalerLearning {
            steps,
            images: 48,
            batch_size: 16,
            lr: 1e-2,
            warmup_steps: 1,
            eval_images: 8,
            workers: 1,
        },
        data: Some(data.clone()),
        seed: 3,
    }
}

#[test]
fn scaler_learning_moves_the_scalers_and_not_the_templates() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let data = tiny_data(dir.path());
    let templates = tiny_aux(dir.path(), &data);
    let t = kfile::load(&templates, &device).unwrap();

    let out = dir.path().join("init");
    let run = init_run(&templates, &data, 3, 48, 4);
    let record = run_init_kronecker(&run, &out, &mut Silent, &device).unwrap();
    assert_eq!(record.method.templates_sha256, t.templates_sha256);
    let (before, after) = (
        record.mae_loss_before.unwrap(),
        record.mae_loss_after.unwrap(),
    );
    assert!(before.is_finite() && after.is_finite());
    assert_ne!(before, after, "4 steps of lr 1e-2 move the loss");
    assert_eq!(
        (record.vit.depth, record.vit.embed_dim, record.vit.num_heads),
        (3, 48, 3),
        "48 / head dim 16"
    );

    // the learned templates are the aux's bit for bit; the scalers moved from their mapping
    let learned: BTreeMap<String, HostTensor> =
        sweet_vit::tensor_file::read(&out.join(SCALER_RUN).join("checkpoint.safetensors"))
            .unwrap()
            .tensors;
    let get = |k: &str| {
        learned
            .iter()
            .find(|(key, _)| key.ends_with(k))
            .unwrap_or_else(|| panic!("no {k} among {:?}", learned.keys().collect::<Vec<_>>()))
            .1
            .clone()
    };
    let aux: BTreeMap<String, HostTensor> = named_tensors(&t.model).into_iter().collect();
    for kind in ["qkv", "proj", "fc1", "fc2"] {
        let k = format!("templates.{kind}");
        assert_eq!(get(&k), aux[&k], "{k} unchanged bit for bit");
    }
    let target = KroneckerConfig {
        vit: VitConfig {
            depth: 3,
            embed_dim: 48,
            num_heads: 3,
            ..t.cfg.vit.clone()
        },
        ..t.cfg.clone()
    };
    let mapped = init_from_kronecker(&t.model, &t.cfg, &target, run.seed, &device).unwrap();
    let mapped: BTreeMap<String, HostTensor> = named_tensors(&mapped).into_iter().collect();
    for l in 0..3 {
        let k = format!("scalers.{l}.qkv");
        assert_eq!(get(&k).shape, mapped[&k].shape);
        assert_ne!(get(&k), mapped[&k], "{k} learned");
    }

    // an ordinary model folder with the aux's normalization and a fresh 10-class head
    let (model, cfg) = checkpoint::load_model(&out, &device).unwrap();
    assert_eq!(cfg.num_classes, 10);
    assert_eq!(cfg.pretrained_cfg.mean, t.provenance.mean);
    assert_eq!(model.blocks.len(), 3);
    let written: KroneckerInitRecord =
        serde_json::from_str(&std::fs::read_to_string(out.join(INIT_FILE)).unwrap()).unwrap();
    assert_eq!(written, record);
    let again = run_init_kronecker(&run, &out, &mut Silent, &device).unwrap();
    assert_eq!(again, record, "a finished init is returned, not redone");
}

#[test]
fn zero_shot_at_the_aux_size_exports_the_aux_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let data = tiny_data(dir.path());
    let templates = tiny_aux(dir.path(), &data);
    let t = kfile::load(&templates, &device).unwrap();
    let out = dir.path().join("zero-shot");
    let record = run_init_kronecker(
        &init_run(&templates, &data, 2, 32, 0),
        &out,
        &mut Silent,
        &device,
    )
    .unwrap();
    assert_eq!(record.mae_loss_before, None);
    let (model, _) = checkpoint::load_model(&out, &device).unwrap();
    let ours = named_tensors(&model);
    let want: BTreeMap<_, _> = named_tensors(&t.model.to_dense()).into_iter().collect();
    for (k, v) in &ours {
        if k.starts_with("head.") {
            continue;
        }
        assert_eq!(Some(v), want.get(k), "{k}");
    }
    assert_eq!(ours.len(), want.len() + 2, "the aux's keys and a head");

    // a width the tile does not divide is refused, naming the widths that work
    let err = run_init_kronecker(
        &init_run(&templates, &data, 2, 40, 0),
        &dir.path().join("bad"),
        &mut Silent,
        &device,
    )
    .expect_err("refused")
    .to_string();
    assert!(err.contains("16, 32, 48, 64"), "{err}");
    assert!(!dir.path().join("bad").join("model.safetensors").exists());
}
