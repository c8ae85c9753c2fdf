//! `sweet study` on a tiny plan end to end: killed mid-way (`kill -9`) and run again, it
//! finishes with exactly one row per cell, and its report has the tables and plots.

mod common;
use common::sweet_json;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn data(dir: &Path, name: &str, seed: u64) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, s) in [("train", 64, seed), ("t10k", 16, seed + 1)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, s);
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

fn plan(dir: &Path) -> std::path::PathBuf {
    let pre = data(dir, "pre", 1);
    let down = data(dir, "down", 5);
    let text = format!(
        r#"
title = "tiny"
notes = "A test plan."
sizes = [[1, 8], [2, 16]]
head_dim = 8
seeds = [0, 1]

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
data = "mnist"
data_dir = "{down}"
labels_per_class = 3
eval_images = 8

[finetune]
epochs = 2
batch_size = 8
lr = 1e-3
min_lr = 1e-5
warmup_epochs = 0.5
weight_decay = 0.05
layer_decay = 0.75
drop_path = 0.1
smoothing = 0.1
pad_crop = 1
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

[[methods]]
name = "direct"
kind = "direct"
layer_decay = true
finetune_epochs = 3
sizes = [[1, 8]]
seeds = [0]
"#
    );
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_study_killed_mid_way_resumes_to_one_row_per_cell() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let out = dir.path().join("report");
    let (plan_s, out_s) = (plan.to_str().unwrap(), out.to_str().unwrap());
    // first run: killed as soon as a fine-tuning has written its first checkpoint
    let mut child = Command::new(env!("CARGO_BIN_EXE_sweet"))
        .args(["study", "--plan", plan_s, "--out", out_s, "--jobs", "2"])
        .env("RAYON_NUM_THREADS", "2")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cells = out.join("runs").join("cells");
    let start = Instant::now();
    let first_checkpoint = || {
        std::fs::read_dir(cells.join("random"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("finetune/checkpoint.safetensors").exists())
    };
    while !first_checkpoint() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    let v = sweet_json(&["study", "--plan", plan_s, "--out", out_s, "--json"]);
    // random 2 sizes x 2 seeds, sweet 2 x 2, direct 1 x 1
    assert_eq!(v["cells"], 9, "{v}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 9, "{csv}");
    let mut keys: Vec<String> = rows
        .iter()
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            format!("{} {} {} {}", f[0], f[2], f[3], f[6])
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 9, "one row per cell: {keys:?}");
    // every fine-tuning ran its plan's two epochs (direct: its own three): one accuracy per
    // epoch in every row
    for r in &rows {
        let epochs = if r.starts_with("direct,") { 3 } else { 2 };
        let acc = r.split(',').nth(10).unwrap();
        assert_eq!(acc.split(';').count(), epochs, "{r}");
    }
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(
        readme.contains("sweet") && readme.contains("direct"),
        "{readme}"
    );
    for png in [
        "accuracy_vs_size.png",
        "accuracy_vs_epoch.png",
        "accuracy_vs_compute.png",
    ] {
        let img = image::open(out.join(png)).unwrap();
        assert!(img.width() > 100 && img.height() > 100, "{png}");
    }
    // a third run has nothing left to do and writes the same rows
    let again = sweet_json(&["study", "--plan", plan_s, "--out", out_s, "--json"]);
    assert_eq!(again["cells"], 9);
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap(),
        csv
    );
}

#[test]
fn a_plan_with_an_unknown_key_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("head_dim = 8", "head_dim = 8\nhead_dims = 8");
    std::fs::write(&plan, text).unwrap();
    let out = common::sweet(&[
        "study",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("head_dims"), "{err}");
}
