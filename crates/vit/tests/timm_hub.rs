//! Reading model folders timm writes itself: committed fixtures made by
//! `scripts/make_timm_hub_fixture.py` with timm's own `save_for_hf` / `save_config_for_hf`:
//! - `token/`, `avg/`: tiny ViTs (depth 2, width 32, 2 heads, 16x16x3, patch 4, 5 classes; class
//!   token, and `global_pool='avg'` with `fc_norm`) with an input and timm's logits for it;
//! - `configs/`: config.json of registered architectures at default size, as timm writes it
//!   (`<name>.json`) and without `model_args` (`<name>.legacy.json`, as older timm and the hub's
//!   published configs have it);
//! - `resolved.json`: what timm built for each (sizes, pooling, state-dict keys and shapes).

use std::path::PathBuf;

use burn::prelude::*;
use serde_json::Value;
use sweet_vit::checkpoint::{self, CheckpointError};
use sweet_vit::config::TimmConfig;
use sweet_vit::names::{named_shapes, HostTensor};
use sweet_vit::{tensor_file, GlobalPool, Vit};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/timm_hub")
}

/// timm's resolved architecture of fixture `name` (see the script).
fn timm_resolved(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("resolved.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all["models"][name].clone()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Reads `json` as a model folder's config.json, through the same path as `load_model`.
fn read_config_text(json: &str) -> Result<TimmConfig, CheckpointError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(checkpoint::CONFIG_FILE), json).unwrap();
    checkpoint::read_config(dir.path())
}

/// Checks sweet's reading of a config against what timm built from it: every resolved size,
/// the pooling, and (building sweet's model, no weights) the key list with shapes.
fn assert_resolves_like_timm(cfg: &TimmConfig, timm: &Value, what: &str) {
    let vit = cfg.vit();
    let n = |k: &str| timm[k].as_u64().unwrap() as usize;
    assert_eq!(
        (
            vit.embed_dim,
            vit.depth,
            vit.num_heads,
            vit.patch_size,
            vit.img_size,
            vit.in_chans,
            vit.num_classes
        ),
        (
            n("embed_dim"),
            n("depth"),
            n("num_heads"),
            n("patch_size"),
            n("img_size").into(),
            n("in_chans"),
            n("num_classes")
        ),
        "{what}: (embed_dim, depth, heads, patch, img, in_chans, classes)"
    );
    assert_eq!(vit.mlp_ratio, 4.0, "{what}");
    assert_eq!(
        vit.global_pool.as_str(),
        timm["global_pool"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        vit.global_pool.uses_fc_norm(),
        timm["fc_norm"].as_bool().unwrap(),
        "{what}: fc_norm"
    );
    assert_eq!(
        cfg.pretrained_cfg.input_size,
        [vit.in_chans, vit.img_size.h, vit.img_size.w],
        "{what}"
    );

    let model = Vit::new(&vit, 0, &Device::default());
    let mut ours = named_shapes(&model);
    let mut theirs: Vec<(String, Vec<usize>)> = timm["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            let shape = kv[1].as_array().unwrap();
            (
                kv[0].as_str().unwrap().to_string(),
                shape.iter().map(|d| d.as_u64().unwrap() as usize).collect(),
            )
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "{what}: key names/shapes differ from timm's");
}

/// Loads a timm-written folder with `checkpoint::load_model` and compares logits with timm's.
fn check_logits(folder: &str, pool: GlobalPool) {
    let dir = fixtures().join(folder);
    let device = Device::default();
    let (model, cfg) = checkpoint::load_model(&dir, &device).expect("timm's folder loads");
    assert_eq!(cfg.vit().global_pool, pool);
    assert_eq!(model.fc_norm.is_some(), pool == GlobalPool::Avg);
    assert_eq!(model.norm.is_some(), pool == GlobalPool::Token);
    assert_resolves_like_timm(&cfg, &timm_resolved(folder), folder);

    let io = tensor_file::read(&dir.join("io.safetensors"))
        .unwrap()
        .tensors;
    let x: Tensor<4> = io["input"].to_tensor(&device);
    let got = HostTensor::from_tensor(&model.forward(x));
    assert_eq!(got.shape, io["logits"].shape);
    let d = max_abs_diff(&got.values, &io["logits"].values);
    println!("{folder}: max |logits - timm| = {d:.2e}");
    assert!(d < 1e-5, "{folder}: logits differ from timm's by {d}");
}

#[test]
fn class_token_folder_written_by_timm_gives_timms_logits() {
    check_logits("token", GlobalPool::Token);
}

#[test]
fn avg_pool_folder_written_by_timm_gives_timms_logits() {
    check_logits("avg", GlobalPool::Avg);
}

/// Registered architectures at default size, from the architecture name (and, where timm wrote
/// them, the few `model_args` it records); the `.legacy` variants have no `model_args` at all.
#[test]
fn config_only_cases_resolve_like_timm() {
    let names = [
        "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
        "vit_small_patch16_384.augreg_in21k_ft_in1k",
        "vit_base_patch16_224.mae",
        "vit_large_patch16_224.augreg_in21k",
    ];
    for name in names {
        let timm = timm_resolved(name);
        for variant in ["json", "legacy.json"] {
            let path = fixtures().join(format!("configs/{name}.{variant}"));
            let text = std::fs::read_to_string(&path).unwrap();
            let has_args = serde_json::from_str::<Value>(&text).unwrap()["model_args"].is_object();
            assert_eq!(has_args, variant == "json", "{}", path.display());
            let cfg = read_config_text(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_resolves_like_timm(&cfg, &timm, &format!("{name}.{variant}"));
        }
    }
}

/// A timm config.json with `edit` applied (the avg fixture's).
fn edited(edit: impl FnOnce(&mut Value)) -> String {
    let text = std::fs::read_to_string(fixtures().join("avg/config.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    serde_json::to_string(&v).unwrap()
}

fn read_err(json: &str) -> String {
    read_config_text(json)
        .expect_err("config must be rejected")
        .to_string()
}

#[test]
fn normalization_that_does_not_fit_the_channels_is_an_error() {
    // the avg fixture takes 3 channels
    let msg = read_err(&edited(|v| {
        v["pretrained_cfg"]["mean"] = serde_json::json!([0.5, 0.5])
    }));
    assert!(
        msg.contains("mean has 2") && msg.contains("3 channels"),
        "{msg}"
    );
    let msg = read_err(&edited(|v| {
        v["pretrained_cfg"]["std"] = serde_json::json!([0.5])
    }));
    assert!(msg.contains("std 1") && msg.contains("3 channels"), "{msg}");
}

#[test]
fn missing_mean_is_an_error_naming_it() {
    let msg = read_err(&edited(|v| {
        v["pretrained_cfg"].as_object_mut().unwrap().remove("mean");
    }));
    assert!(msg.contains("`mean`"), "{msg}");
    let msg = read_err(&edited(|v| {
        v["pretrained_cfg"]
            .as_object_mut()
            .unwrap()
            .remove("input_size");
    }));
    assert!(msg.contains("`input_size`"), "{msg}");
}

#[test]
fn unsupported_global_pool_is_an_error_naming_the_supported_ones() {
    for pool in ["", "max", "avgmax", "map"] {
        let msg = read_err(&edited(|v| {
            v["global_pool"] = pool.into();
            v["model_args"]["global_pool"] = pool.into();
        }));
        assert!(
            msg.contains(&format!("{pool:?}"))
                && msg.contains("\"token\"")
                && msg.contains("\"avg\""),
            "{msg}"
        );
    }
}

#[test]
fn unknown_fields_are_ignored_and_optional_ones_may_be_absent() {
    let base = read_config_text(&edited(|_| {})).unwrap();
    let cfg = read_config_text(&edited(|v| {
        v["some_future_field"] = serde_json::json!({"a": 1});
        let p = v["pretrained_cfg"].as_object_mut().unwrap();
        p.insert("hf_hub_id".into(), "timm/whatever".into());
        p.insert("test_input_size".into(), serde_json::json!([3, 20, 20]));
        for k in [
            "num_classes",
            "first_conv",
            "classifier",
            "crop_pct",
            "interpolation",
        ] {
            p.remove(k);
        }
        v["model_args"]["drop_path_rate"] = 0.1.into();
        v["model_args"]["qkv_bias"] = true.into();
    }))
    .unwrap();
    assert_eq!(cfg.vit(), base.vit());
    assert_eq!(cfg.pretrained_cfg.mean, base.pretrained_cfg.mean);
    assert_eq!(cfg.pretrained_cfg.num_classes, 5);
    assert_eq!(cfg.pretrained_cfg.first_conv, "patch_embed.proj");
}

#[test]
fn architecture_and_model_args_errors_say_what_is_known() {
    let msg = read_err(&edited(|v| {
        v["architecture"] = "deit_tiny_patch16_224".into();
        v.as_object_mut().unwrap().remove("model_args");
    }));
    assert!(
        msg.contains("deit_tiny_patch16_224") && msg.contains("vit_large_patch16_384"),
        "{msg}"
    );
    // An argument that changes the network is rejected, not silently dropped.
    let msg = read_err(&edited(|v| v["model_args"]["class_token"] = false.into()));
    assert!(msg.contains("class_token"), "{msg}");
    let msg = read_err(&edited(|v| v["model_args"]["fc_norm"] = false.into()));
    assert!(msg.contains("fc_norm"), "{msg}");
    // Non-square images are fine (`[h, w]`), non-square patches are not.
    let cfg = read_config_text(&edited(|v| {
        v["model_args"]["img_size"] = serde_json::json!([16, 32])
    }))
    .unwrap();
    assert_eq!(cfg.vit().img_size, sweet_vit::ImgSize::new(16, 32));
    assert_eq!(cfg.pretrained_cfg.input_size, [3, 16, 32]);
    let msg = read_err(&edited(|v| {
        v["model_args"]["patch_size"] = serde_json::json!([4, 8])
    }));
    assert!(msg.contains("square"), "{msg}");
    let msg = read_err(&edited(|v| v["global_pool"] = "token".into()));
    assert!(msg.contains("agree"), "{msg}");
}

/// model_args may hold any subset; what it gives wins over the architecture's defaults.
#[test]
fn model_args_override_key_by_key() {
    let text = std::fs::read_to_string(
        fixtures().join("configs/vit_small_patch16_384.augreg_in21k_ft_in1k.legacy.json"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["model_args"] = serde_json::json!({"depth": 3, "global_pool": "avg"});
    v["global_pool"] = "avg".into();
    let cfg = read_config_text(&v.to_string()).unwrap();
    let vit = cfg.vit();
    assert_eq!(
        (
            vit.depth,
            vit.embed_dim,
            vit.num_heads,
            vit.img_size,
            vit.global_pool
        ),
        (3, 384, 6, 384.into(), GlobalPool::Avg)
    );
}

/// sweet's own folders of an avg-pooled model record the pooling so timm rebuilds it.
#[test]
fn avg_model_round_trips_through_sweets_own_folder() {
    let device = Device::default();
    let (model, cfg) = checkpoint::load_model(&fixtures().join("avg"), &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = &cfg.pretrained_cfg;
    checkpoint::save_model(
        &model,
        &cfg.vit(),
        p.mean.clone(),
        p.std.clone(),
        dir.path(),
    )
    .unwrap();
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(checkpoint::CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(written["global_pool"], "avg");
    assert_eq!(written["model_args"]["global_pool"], "avg");
    let (back, back_cfg) = checkpoint::load_model(dir.path(), &device).unwrap();
    assert_eq!(back_cfg.vit(), cfg.vit());
    assert!(back.fc_norm.is_some() && back.norm.is_none());
}
