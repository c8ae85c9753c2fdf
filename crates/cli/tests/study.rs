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

/// The baselines' kinds in a plan: mimetic (data-free), weight selection and LiGO from a
/// direct pre-training of another size (its pre-training seconds attributed to them), TLEG
/// from a learngene and WAVE from Kronecker templates, each pre-trained as a `[[templates]]`
/// entry; a size a method cannot make is a row marked n/a with the method's reason.
#[test]
fn every_baseline_kind_runs_in_a_study_and_sizes_it_cannot_make_are_na() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(plan(dir.path())).unwrap();
    // the tiny plan's data, recipe and sizes [[1, 8], [2, 16]]; one seed; the baselines
    let head = &base[..base.find("[[templates]]").unwrap()];
    let down = &base[base.find("[downstream]").unwrap()..base.find("[[methods]]").unwrap()];
    let text = format!(
        r#"{head}
[[templates]]
name = "le"
generator = "linear-expansion"
depth = 2
width = 16
heads = 2

[[templates]]
name = "kron"
generator = "kronecker"
depth = 2
width = 32
heads = 4

{down}
[[methods]]
name = "mimetic"
kind = "mimetic"
layer_decay = false

[[methods]]
name = "ws"
kind = "weight-selection"
from = [2, 16]
layer_decay = true

[[methods]]
name = "ligo"
kind = "ligo"
from = [1, 8]
operator_steps = 2
operator_images = 64
layer_decay = true

[[methods]]
name = "tleg"
kind = "linear-expansion"
template = "le"
layer_decay = true

[[methods]]
name = "wave"
kind = "kronecker"
template = "kron"
scaler_steps = 2
scaler_images = 32
scaler_batch_size = 16
layer_decay = true
sizes = [[1, 8], [1, 32]]
"#
    )
    .replace("seeds = [0, 1]", "seeds = [0]");
    let plan = dir.path().join("baselines.toml");
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
    assert_eq!(v["cells"], 10, "{v}");
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let row = |method: &str, width: &str| -> Vec<String> {
        csv.lines()
            .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
            .find(|f| f[0] == method && f[3] == width)
            .unwrap_or_else(|| panic!("no row {method} width {width}: {csv}"))
    };
    // TLEG makes only its learngene's width, Kronecker templates only multiples of 32: the
    // other sizes are n/a with the reason
    let na = row("tleg", "8");
    assert!(na[11].is_empty() && na[13].contains("16"), "{na:?}");
    let na = row("wave", "8");
    assert!(na[11].is_empty() && na[13].contains("32"), "{na:?}");
    let direct_s = |size: &str| -> f64 {
        let metrics = out.join("runs/direct").join(size).join("metrics.jsonl");
        std::fs::read_to_string(metrics)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch_seconds"]
                    .as_f64()
                    .unwrap()
            })
            .sum()
    };
    for (method, width, source, pre) in [
        ("ws", "8", "direct-d2-w16", "d2-w16"),
        ("ligo", "16", "direct-d1-w8", "d1-w8"),
    ] {
        let r = row(method, width);
        assert_eq!(r[1], source, "{r:?}");
        let pretrain_s: f64 = r[7].parse().unwrap();
        assert!((pretrain_s - direct_s(pre)).abs() < 1e-6, "{r:?}");
        assert!(r[11].parse::<f64>().is_ok(), "{r:?}");
    }
    for (method, width) in [
        ("mimetic", "8"),
        ("mimetic", "16"),
        ("tleg", "16"),
        ("ws", "16"),
        ("ligo", "8"),
        ("wave", "32"),
    ] {
        let r = row(method, width);
        assert!(r[11].parse::<f64>().is_ok(), "{r:?}");
    }
    // each init folder says how it was made
    let init = |m: &str, cell: &str| -> serde_json::Value {
        let p = out
            .join("runs/cells")
            .join(m)
            .join(cell)
            .join("init/init.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(init("mimetic", "d1-w8-s0")["method"]["name"], "mimetic");
    assert_eq!(init("ws", "d1-w8-s0")["method"]["name"], "weight-selection");
    assert_eq!(init("ligo", "d2-w16-s0")["method"]["name"], "ligo");
    assert!(init("wave", "d1-w32-s0")["templates_sha256"].is_string());
}
