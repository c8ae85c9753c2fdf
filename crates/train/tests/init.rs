//! Initialization from a template as a library call: a tiny template pre-trained for a few
//! steps, then targets of other sizes initialized from it. G is unchanged bit for bit by scaler
//! learning, the scalers do change, the MAE loss is reported before and after, the folder is an
//! ordinary model folder with the template's mean/std, zero-shot at the template's own size is
//! exactly the pre-trained composed encoder, and a finished init is not redone.

use std::path::Path;

use burn::prelude::*;
use sweet_mae::decoder::DecoderConfig;
use sweet_template::file::{self as template_file, TEMPLATE_FILE};
use sweet_template::{GeneratorConfig, SwsMode, TemplateConfig, WidthRule};
use sweet_train::adamw::AdamWConfig;
use sweet_train::pretrain::PretrainConfig;
use sweet_train::run::{
    run_init, run_pretraining, write_pretrain_output, DataConfig, InitRecord, InitRun, PretrainRun,
    ScalerLearning, SCALER_RUN,
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

/// Pre-trains a (2, 16) template with 2 heads (head dim 8) for 4 steps; returns its file.
fn tiny_template(dir: &Path, data: &DataConfig) -> std::path::PathBuf {
    let vit = VitConfig {
        img_size: 16.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    };
    let tcfg = TemplateConfig {
        ranks: [8, 16, 16],
        sws: SwsMode::Nested,
        ..TemplateConfig::with_default_ranks(vit.clone())
    };
    let run = PretrainRun {
        dataset: data.clone(),
        train_images: None,
        pretrain: PretrainConfig {
            vit,
            generator: GeneratorConfig::Tucker(tcfg),
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
    let out = dir.join("template");
    let done = run_pretraining(&run, &out, false, &mut Silent, &Device::default()).unwrap();
    let path = write_pretrain_output(&run, &out, &done).unwrap();
    assert_eq!(path, out.join(TEMPLATE_FILE));
    path
}

fn init_run(
    template: &Path,
    data: &DataConfig,
    depth: usize,
    width: usize,
    steps: usize,
) -> InitRun {
    InitRun {
        template: template.to_path_buf(),
        depth,
        width,
        heads: None,
        classes: 10,
        width_rule: WidthRule::Ranks,
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
fn scaler_learning_changes_the_scalers_and_not_g() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let data = tiny_data(dir.path());
    let template = tiny_template(dir.path(), &data);
    let t = template_file::load(&template, &device).unwrap();
    let g = HostTensor::from_tensor(&t.model.generator.template.val());

    let out = dir.path().join("init");
    let run = init_run(&template, &data, 3, 8, 4);
    let record = run_init(&run, &out, &mut Silent, &device).unwrap();
    assert_eq!(record.method.template_sha256, t.template_sha256);
    let (before, after) = (
        record.mae_loss_before.unwrap(),
        record.mae_loss_after.unwrap(),
    );
    assert!(before.is_finite() && after.is_finite());
    assert_ne!(before, after, "4 steps of lr 1e-2 move the loss");
    assert_eq!(record.vit.depth, 3);
    assert_eq!(record.vit.embed_dim, 8);
    assert_eq!(record.vit.num_heads, 1, "width 8 / head dim 8");

    // the learned model's G is bit for bit the template's; its scalers moved
    let learned: Vec<(String, HostTensor)> = {
        let ckpt = out.join(SCALER_RUN).join("checkpoint.safetensors");
        sweet_vit::tensor_file::read(&ckpt)
            .unwrap()
            .tensors
            .into_iter()
            .collect()
    };
    let get = |k: &str| {
        learned
            .iter()
            .find(|(key, _)| key.ends_with(k))
            .unwrap_or_else(|| {
                panic!(
                    "no {k} among {:?}",
                    learned.iter().map(|p| &p.0).collect::<Vec<_>>()
                )
            })
            .1
            .clone()
    };
    assert_eq!(get("template"), g, "G unchanged bit for bit");
    let mapped_x = sweet_template::init::interpolate_depth(
        &HostTensor::from_tensor(&t.model.generator.scalers.depth.val()),
        3,
    );
    assert_ne!(get("scalers.depth"), mapped_x, "X' learned");

    // an ordinary model folder with the template's normalization and a fresh 10-class head
    let (model, cfg) = checkpoint::load_model(&out, &device).unwrap();
    assert_eq!(cfg.num_classes, 10);
    assert_eq!(cfg.pretrained_cfg.mean, t.provenance.mean);
    assert_eq!(model.blocks.len(), 3);
    let written: InitRecord =
        serde_json::from_str(&std::fs::read_to_string(out.join(InitRecord::FILE)).unwrap())
            .unwrap();
    assert_eq!(written, record);
    // the JSON layout of SWEET's record is the one every earlier init.json has (the method's
    // part is flattened in), so folders initialized before stay readable
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(InitRecord::FILE)).unwrap())
            .unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = vec![
        "run",
        "vit",
        "parameters",
        "template_sha256",
        "template_config",
        "provenance",
        "mae_loss_before",
        "mae_loss_after",
        "scaler_seconds",
        "seconds",
    ];
    want.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, want);
    // finished: a second call returns the record and redoes nothing
    let again = run_init(&run, &out, &mut Silent, &device).unwrap();
    assert_eq!(again, record);
}

#[test]
fn zero_shot_at_the_templates_size_exports_the_pretrained_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::default();
    let data = tiny_data(dir.path());
    let template = tiny_template(dir.path(), &data);
    let t = template_file::load(&template, &device).unwrap();
    let out = dir.path().join("zero-shot");
    let record = run_init(
        &init_run(&template, &data, 2, 16, 0),
        &out,
        &mut Silent,
        &device,
    )
    .unwrap();
    assert_eq!(record.mae_loss_before, None);
    let (model, _) = checkpoint::load_model(&out, &device).unwrap();
    let ours = named_tensors(&model);
    let want: std::collections::BTreeMap<_, _> =
        named_tensors(&t.model.to_dense()).into_iter().collect();
    for (k, v) in &ours {
        if k.starts_with("head.") {
            continue;
        }
        assert_eq!(Some(v), want.get(k), "{k}");
    }
    assert_eq!(ours.len(), want.len() + 2, "the template's keys and a head");
}
