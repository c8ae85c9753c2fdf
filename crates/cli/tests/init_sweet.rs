//! End to end: `sweet pretrain` a tiny template, then `sweet init sweet` at other sizes, with
//! scaler learning and zero-shot, and the errors a user meets.

mod common;
use common::{sweet, sweet_json, tensors};

use std::path::Path;

/// 96 train / 32 test 1x16x16 images as MNIST IDX files.
fn data(dir: &Path) -> String {
    common::idx_images(dir, 96, 32)
}

/// A (2, 32) template with 4 heads (head dim 8), nested SWS, one epoch.
fn template(dir: &Path, data: &str) -> String {
    let out = dir.join("t");
    let out = out.to_str().unwrap();
    sweet_json(&[
        "pretrain",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--depth",
        "2",
        "--width",
        "32",
        "--heads",
        "4",
        "--patch",
        "4",
        "--rank1",
        "8",
        "--sws",
        "nested",
        "--decoder-width",
        "16",
        "--decoder-depth",
        "1",
        "--decoder-heads",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--eval-images",
        "32",
        "--out",
        out,
        "--json",
    ]);
    format!("{out}/template.safetensors")
}

#[test]
fn init_sweet_writes_a_model_folder_at_other_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let template = template(dir.path(), &data);
    // deeper and narrower, learning scalers on the template's own data set (mnist by default)
    let out = dir.path().join("m");
    let out_s = out.to_str().unwrap();
    let v = sweet_json(&[
        "init",
        "sweet",
        "--template",
        &template,
        "--depth",
        "3",
        "--width",
        "16",
        "--classes",
        "10",
        "--scaler-steps",
        "3",
        "--scaler-images",
        "64",
        "--scaler-batch-size",
        "32",
        "--eval-images",
        "16",
        "--data-dir",
        &data,
        "--out",
        out_s,
        "--json",
    ]);
    assert_eq!(v["depth"], 3);
    assert_eq!(v["width"], 16);
    assert_eq!(v["heads"], 2, "16 / head dim 8");
    assert_eq!(
        v["width_rule"], "ranks",
        "nested template: ranks by default"
    );
    assert!(v["mae_loss_before"].as_f64().is_some() && v["mae_loss_after"].as_f64().is_some());
    let keys: Vec<String> = tensors(&out.join("model.safetensors"))
        .into_iter()
        .map(|(k, s, _)| format!("{k} {s:?}"))
        .collect();
    assert!(
        keys.contains(&"blocks.2.attn.qkv.weight [48, 16]".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"head.weight [10, 16]".to_string()),
        "{keys:?}"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model_args"]["depth"], 3);
    let init: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("init.json")).unwrap()).unwrap();
    assert_eq!(init["run"]["scalers"]["steps"], 3);
    // the folder is an ordinary model: eval reads it
    let e = sweet_json(&[
        "eval",
        "--model",
        out_s,
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--json",
    ]);
    assert!(e["top1"].as_f64().is_some(), "{e}");
    // a finished folder is not overwritten
    let again = sweet(&[
        "init",
        "sweet",
        "--template",
        &template,
        "--depth",
        "3",
        "--width",
        "16",
        "--classes",
        "10",
        "--scaler-steps",
        "0",
        "--out",
        out_s,
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));

    // zero-shot, wider: no data needed
    let wide = dir.path().join("w");
    let v = sweet_json(&[
        "init",
        "sweet",
        "--template",
        &template,
        "--depth",
        "1",
        "--width",
        "48",
        "--classes",
        "0",
        "--scaler-steps",
        "0",
        "--out",
        wide.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["heads"], 6);
    assert!(v["mae_loss_before"].is_null());
}

#[test]
fn a_width_the_head_dim_does_not_divide_lists_the_widths_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let template = template(dir.path(), &data);
    let out = sweet(&[
        "init",
        "sweet",
        "--template",
        &template,
        "--depth",
        "2",
        "--width",
        "20",
        "--classes",
        "10",
        "--scaler-steps",
        "0",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("head dim 8") && err.contains("8, 16, 24"),
        "{err}"
    );
    assert!(!dir.path().join("x").join("model.safetensors").exists());
}
