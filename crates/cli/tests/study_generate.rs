//! `sweet study` with `task = "generate"`: every cell's init (random, SWEET from a template
//! pre-trained on 16x16 images) becomes the encoder of a class-conditional diffusion run, and
//! the report is in Fréchet distance (lower is better) with the class accuracy beside it.

mod common;
use common::{judge, sweet_json};

use std::path::Path;

fn digits(dir: &Path, name: &str, seed: u64) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, s) in [("train", 48, seed), ("t10k", 24, seed + 1)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, s);
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

#[test]
fn a_generation_study_trains_a_diffusion_model_on_every_init_and_reports_fd() {
    let dir = tempfile::tempdir().unwrap();
    let pre = digits(dir.path(), "pre", 1);
    let down = digits(dir.path(), "down", 7);
    let judge = judge(dir.path(), &down);
    let text = format!(
        r#"
title = "tiny generation"
task = "generate"
sizes = [[1, 8], [2, 16]]
head_dim = 8
seeds = [0]

[generate]
judge = "{judge}"
sample_steps = 3
guidance = 2.0
eval_samples = 10
final_samples = 20
reference_images = 24
sample_batch = 10

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

[finetune]
epochs = 2
batch_size = 8
lr = 1e-3
min_lr = 1e-5
warmup_epochs = 0.5
weight_decay = 0.0
layer_decay = 0.75
drop_path = 0.0
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
layer_decay = false
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
        let read = |f: &str| -> serde_json::Value {
            let path = runs.join(cell).join("generate").join(f);
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let run = read("run.json");
        assert_eq!(run["init_from"].is_string(), from_folder, "{cell}: {run}");
        assert_eq!(run["dit"]["encoder"]["img_size"], 16, "{cell}");
        assert_eq!(run["dit"]["classes"], 10, "{cell}");
        let row = {
            let path = runs.join(cell).join("result.json");
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap())
                .unwrap()
        };
        let fin = read("final.json");
        assert_eq!(row["final_acc"], fin["scores"]["frechet"], "{cell}");
        assert_eq!(row["secondary"], fin["scores"]["class_accuracy"], "{cell}");
        assert!(runs.join(cell).join("generate/samples.png").exists());
    }
    let readme = std::fs::read_to_string(out.join("README.md")).unwrap();
    assert!(readme.contains("FD"), "{readme}");
    assert!(readme.contains("lower is better"), "{readme}");
    assert!(readme.contains("class accuracy"), "{readme}");
    // Each (method, size)'s grid of its first seed, copied beside the README and shown in it.
    for grid in ["random-d1-w8.png", "sweet-d2-w16.png"] {
        assert!(out.join("samples").join(grid).exists(), "{grid}");
        assert!(readme.contains(&format!("(samples/{grid})")), "{readme}");
    }
}
