//! Inputs that once panicked (or were silently wrong) are errors that name the flag, file or
//! variable and say what to do, raised before any work is done or anything is written.

mod common;
use common::{sweet_env, sweet_json};
use safetensors::SafeTensors;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Runs and expects failure; returns stderr, which must contain every one of `words`.
fn fails(args: &[&str], words: &[&str]) -> String {
    fails_env(args, &[], words)
}

fn fails_env(args: &[&str], env: &[(&str, &str)], words: &[&str]) -> String {
    let out = sweet_env(args, env);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "sweet {args:?} should fail, succeeded:\n{err}"
    );
    assert!(!err.contains("panicked"), "sweet {args:?} panicked:\n{err}");
    for w in words {
        assert!(err.contains(w), "sweet {args:?}: no {w:?} in:\n{err}");
    }
    err
}

/// 64 train / 40 test 1x16x16 images with 10 classes, as MNIST IDX files.
fn tiny_mnist(dir: &Path) -> PathBuf {
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
        &sweet_data::synthetic(40, 1, 16, 16, 10, 2),
        &data,
        "t10k",
        false,
    )
    .unwrap();
    data
}

/// A random 1x16x16, 10-class model folder with MNIST's mean/std.
fn tiny_model(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    sweet_json(&[
        "init",
        "random",
        "--img-size",
        "16",
        "--in-chans",
        "1",
        "--patch",
        "4",
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--classes",
        "10",
        "--mean",
        "0.1307",
        "--std",
        "0.3081",
        "--out",
        m.to_str().unwrap(),
        "--json",
    ]);
    m
}

#[test]
fn batch_size_zero_is_refused_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    for args in [
        &[
            "train",
            "--data",
            "mnist",
            "--data-dir",
            d,
            "--out",
            o,
            "--batch-size",
            "0",
        ][..],
        &[
            "pretrain",
            "--data",
            "mnist",
            "--data-dir",
            d,
            "--out",
            o,
            "--batch-size",
            "0",
        ],
        &[
            "eval",
            "--model",
            d,
            "--data",
            "mnist",
            "--data-dir",
            d,
            "--batch-size",
            "0",
        ],
        &[
            "predict",
            "--model",
            d,
            "--input",
            d,
            "--output",
            o,
            "--batch-size",
            "0",
        ],
    ] {
        fails(args, &["--batch-size", "'0'", "must be at least 1"]);
    }
    assert!(!out.exists(), "nothing written");
}

#[test]
fn pretrain_width_not_a_multiple_of_4_names_the_nearest_widths() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let out = dir.path().join("run");
    let base = [
        "pretrain",
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--depth",
        "1",
    ];
    let mut a = base.to_vec();
    a.extend(["--width", "30", "--heads", "2"]);
    fails(&a, &["--width 30", "multiple of 4", "28 or 32"]);
    // the nearest widths also fit --heads
    let mut a = base.to_vec();
    a.extend(["--width", "30", "--heads", "3"]);
    fails(&a, &["--width 30", "with --heads 3", "24 or 36"]);
    let mut a = base.to_vec();
    a.extend(["--width", "2", "--heads", "1"]);
    fails(&a, &["--width 2", "widths: 4"]);
    assert!(!out.exists(), "nothing written");
    // bench mae-step builds the same position table
    fails(
        &["bench", "mae-step", "--width", "30", "--heads", "2"],
        &["--width 30", "28 or 32"],
    );
}

#[test]
fn bench_counts_of_zero_are_refused() {
    for args in [
        &["bench", "step", "--classes", "0"][..],
        &["bench", "predict", "--classes", "0"],
        &["bench", "step", "--steps", "0"],
        &["bench", "predict", "--steps", "0"],
        &["bench", "mae-step", "--steps", "0"],
        &["bench", "compose", "--steps", "0"],
        &["bench", "step", "--batch-size", "0"],
        &["bench", "predict", "--batch-size", "0"],
        &["bench", "mae-step", "--batch-size", "0"],
    ] {
        let flag = args[2];
        fails(args, &[flag, "must be at least 1"]);
    }
}

#[test]
fn an_unknown_burn_device_lists_the_valid_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let args = [
        "init",
        "random",
        "--img-size",
        "8",
        "--in-chans",
        "1",
        "--patch",
        "4",
        "--depth",
        "1",
        "--width",
        "8",
        "--heads",
        "2",
        "--classes",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    fails_env(
        &args,
        &[("BURN_DEVICE", "gpu0")],
        &["BURN_DEVICE=\"gpu0\"", "not a burn device name", "flex"],
    );
    fails_env(&args, &[("BURN_DEVICE", "")], &["BURN_DEVICE=\"\"", "flex"]);
    // a backend burn knows but this build lacks
    fails_env(
        &args,
        &[("BURN_DEVICE", "wgpu")],
        &[
            "BURN_DEVICE=\"wgpu\"",
            "built without the wgpu backend",
            "flex",
        ],
    );
    assert!(!out.exists(), "nothing written");
    // burn reads the name case-insensitively
    let out = sweet_env(&args, &[("BURN_DEVICE", "FLEX")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn burn_device_cuda_without_the_cuda_feature_says_so() {
    fails_env(
        &[
            "bench", "predict", "--depth", "1", "--width", "8", "--heads", "2",
        ],
        &[("BURN_DEVICE", "cuda")],
        &[
            "BURN_DEVICE=\"cuda\"",
            "built without the cuda backend",
            "--features cuda",
            "flex",
        ],
    );
}

/// `--device` (before or after the subcommand) picks the CPU, names the build's missing CUDA
/// and refuses what is no device, before anything is written; it overrides `BURN_DEVICE`.
#[test]
fn the_device_flag_picks_the_cpu_and_refuses_what_this_build_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let o = out.to_str().unwrap();
    let init = [
        "init",
        "random",
        "--img-size",
        "8",
        "--in-chans",
        "1",
        "--patch",
        "4",
        "--depth",
        "1",
        "--width",
        "8",
        "--heads",
        "2",
        "--classes",
        "2",
        "--out",
        o,
    ];
    let with = |device: &[&'static str], after: bool| -> Vec<&str> {
        let mut v: Vec<&str> = if after {
            init.to_vec()
        } else {
            device.to_vec()
        };
        v.extend(if after {
            device.to_vec()
        } else {
            init.to_vec()
        });
        v
    };
    fails(
        &with(&["--device", "gpu"], false),
        &["--device", "cpu, cuda or cuda:N"],
    );
    fails(
        &with(&["--device", "cuda:x"], true),
        &["cpu, cuda or cuda:N"],
    );
    #[cfg(not(feature = "cuda"))]
    fails(
        &with(&["--device", "cuda:1"], false),
        &["--device cuda:1", "built without CUDA", "--device cpu"],
    );
    assert!(!out.exists(), "nothing written");
    // an unusable BURN_DEVICE does not matter once --device names the CPU
    let ok = sweet_env(
        &with(&["--device", "cpu"], true),
        &[("BURN_DEVICE", "wgpu")],
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(out.join("model.safetensors").exists());
}

#[test]
fn resume_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();
    // checked before the run folder is even read
    let err = fails(
        &[
            "train", "--resume", "--out", r, "--epochs", "5", "--lr=0.1", "--hflip",
        ],
        &[
            "--resume",
            "run.json",
            "--epochs, --lr, --hflip",
            "another --out",
        ],
    );
    assert!(
        !err.contains("--batch-size"),
        "defaults are not listed: {err}"
    );
    fails(
        &[
            "pretrain", "--resume", "--out", r, "--data", "mnist", "--width", "64",
        ],
        &["pretrain.json", "--data, --width"],
    );
    // --out, --json, --workers and --stop-after are fine: the error is the missing run
    fails(
        &[
            "train",
            "--resume",
            "--out",
            r,
            "--json",
            "--workers",
            "1",
            "--stop-after",
            "1",
        ],
        &["--resume needs", "run.json"],
    );

    // and a real run resumes with another --workers
    let data = tiny_mnist(dir.path());
    sweet_json(&[
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        r,
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--stop-after",
        "1",
        "--json",
    ]);
    let res = sweet_json(&["train", "--resume", "--out", r, "--workers", "1", "--json"]);
    assert_eq!(res["epochs_run"], 1);
}

/// Logits `[n, k]` of a `sweet predict` output file.
fn logits(path: &Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("logits").unwrap();
    let k = t.shape()[1];
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect::<Vec<_>>()
        .chunks(k)
        .map(<[f32]>::to_vec)
        .collect()
}

#[test]
fn eval_normalizes_with_the_models_mean_and_std() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let model = tiny_model(dir.path());
    let eval = || {
        sweet_json(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data",
            "mnist",
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
        ])
    };
    // with the data set's own statistics in config.json: what eval computed before
    let before = eval();
    // statistics far from MNIST's (0.1307, 0.3081)
    let cfg_path = model.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["pretrained_cfg"]["mean"] = serde_json::json!([0.9]);
    cfg["pretrained_cfg"]["std"] = serde_json::json!([0.05]);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let e = eval();
    let loss = e["loss"].as_f64().unwrap();
    assert!(
        (loss - before["loss"].as_f64().unwrap()).abs() > 1e-4,
        "config.json's mean/std must matter: {before} vs {e}"
    );

    // predict (which normalizes with config.json) on the same images agrees with eval
    let test = sweet_data::synthetic(40, 1, 16, 16, 10, 2);
    let imgs = dir.path().join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    for i in 0..test.len {
        image::GrayImage::from_raw(16, 16, test.image_u8(i).to_vec())
            .unwrap()
            .save(imgs.join(format!("{i:02}.png")))
            .unwrap();
    }
    let out = dir.path().join("logits.safetensors");
    sweet_json(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        imgs.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--json",
    ]);
    let rows = logits(&out);
    let (mut right, mut ce) = (0usize, 0f64);
    for (row, &label) in rows.iter().zip(&test.labels) {
        let best = (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        right += usize::from(best == label as usize);
        let max = row.iter().copied().fold(f32::MIN, f32::max) as f64;
        let lse = max
            + row
                .iter()
                .map(|&v| (v as f64 - max).exp())
                .sum::<f64>()
                .ln();
        ce += lse - row[label as usize] as f64;
    }
    let n = rows.len() as f64;
    assert_eq!(e["top1"].as_f64().unwrap(), right as f64 / n, "{e}");
    assert!(
        (loss - ce / n).abs() < 1e-5,
        "eval loss {loss}, predict's logits give {}",
        ce / n
    );
}
