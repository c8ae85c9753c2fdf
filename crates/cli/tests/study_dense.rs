//! `sweet study` with `task = "detect"`: every cell's init (random, SWEET from a template
//! pre-trained on 16x16 images with patch 4) becomes the backbone of a detection run on
//! 48x48 canvases with patch 8, and the report is in AP.

mod common;
use common::sweet_json;

use std::path::Path;

fn digits(dir: &Path, name: &str, seed: u64) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, s) in [("train", 64, seed), ("t10k", 24, seed + 1)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, s);
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

#[test]
fn a_detection_study_fine_tunes_every_init_as_a_detector_and_reports_ap() {
    let dir = tempfile::tempdir().unwrap();
    let pre = digits(dir.path(), "pre", 1);
    let canvas = dir.path().join("canvas");
    let c = canvas.to_str().unwrap();
    let src = digits(dir.path(), "src", 7);
    let args = [
        "data", "canvas", "--out", c, "--size", "48", "--train", "32",
    ];
    let mut args = args.to_vec();
    args.extend(["--test", "8", "--seed", "1", "--mnist-dir", &src, "--json"]);
    sweet_json(&args);
    let text = format!(
        r#"
title = "tiny detection"
task = "detect"
sizes = [[1, 8], [2, 16]]
head_dim = 8
seeds = [0]

[dense]
patch = 8

[pretrain]
data = "fashion-mnist"
data_dir = "{pre}"
epochs = 1
batch_size = 16
base_lr = 1e-3
warmup_epochs = 0.0
mask_ratio = 0.75
decoder_width = 16
decoder_depth = 1
decoder_heads = 2
eval_images = 8
patch = 4

[[templates]]
name = "t"
depth = 2
width = 16
heads = 2
ranks = [8, 16, 16]
sws = "nested"

[downstream]
data = "coco"
data_dir = "{c}"
eval_images = 4

[finetune]
epochs = 2
batch_size = 8
lr = 1e-3
min_lr = 1e-5
warmup_epochs = 0.5
weight_decay = 0.05
layer_decay = 0.75
drop_path = 0.1
smoothing = 0.0
pad_crop = 0
grad_clip = 1.0

[[methods]]
name = "random"
kind = "random"
layer_decay = false

[[methods]]
name = "sweet"
kind = "sweet"
template = "t"
scaler_steps = 2
scaler_images = 32
scaler_batch_size = 16
layer_decay = true
"#
    );
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, text).unwrap();
    let out = dir.path().join("report");
    let v = sweet_json(&[
        "study",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["cells"], 4, "{v}");
    let runs = out.join("runs/cells");
    for (cell, from_folder) in [("random/d1-w8-s0", false), ("sweet/d2-w16-s0", true)] {
        let run: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(runs.join(cell).join("dense/run.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(run["task"], "detect");
        assert_eq!(run["init_from"].is_string(), from_folder, "{cell}: {run}");
        assert_eq!(run["backbone"]["patch_size"], 8, "{cell}");
        assert_eq!(run["backbone"]["img_size"], 48, "{cell}");
        let final_ap: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(runs.join(cell).join("dense/final.json")).unwrap(),
        )
        .unwrap();
        assert!(final_ap["test_score"].as_f64().is_some(), "{cell}");
    }
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("## Final test AP (%)"), "{readme}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
}
