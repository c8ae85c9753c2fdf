//! What every end-to-end test of the `sweet` binary needs: run it (2 threads, no inherited
//! `BURN_DEVICE`), read its `--json` result, read the tensors of a file it wrote.

#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

use safetensors::SafeTensors;
use serde_json::Value;

/// Runs the binary with `args` and extra environment variables.
pub fn sweet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sweet"));
    cmd.args(args)
        .env("RAYON_NUM_THREADS", "2")
        .env_remove("BURN_DEVICE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

pub fn sweet(args: &[&str]) -> Output {
    sweet_env(args, &[])
}

/// Runs and expects success; returns the last stdout line parsed as JSON (`--json`).
pub fn sweet_json(args: &[&str]) -> Value {
    let out = sweet(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sweet {args:?} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().expect("a result line")).expect("JSON result")
}

/// Every tensor of a safetensors file: (key, shape, raw bytes), sorted by key.
pub fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(k, t)| (k, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// `train` training and `test` test 1x16x16 synthetic images (10 classes) as MNIST IDX files
/// in `dir/data`; returns that folder.
pub fn idx_images(dir: &Path, train: usize, test: usize) -> String {
    let d = dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, seed) in [("train", train, 1), ("t10k", test, 2)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

/// The metadata of a safetensors file.
pub fn metadata(path: &Path) -> std::collections::HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().clone().unwrap_or_default()
}

/// A tiny classifier of the 16x16 digits in `data` (MNIST IDX files), trained with `sweet
/// train` into `dir/judge`: the judge of generation tests. Returns its model folder.
pub fn judge(dir: &Path, data: &str) -> String {
    let out = dir.join("judge");
    let o = out.to_str().unwrap();
    let args = [
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--depth",
        "1",
        "--width",
        "16",
    ];
    let mut args = args.to_vec();
    args.extend([
        "--heads",
        "2",
        "--patch",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        o,
        "--json",
    ]);
    sweet_json(&args);
    out.join("model").to_str().unwrap().to_string()
}

/// `sweet pretrain` of a (2, 32) templated ViT with a 1-block decoder on `data` into `out`,
/// `epochs` epochs of batch 32 under SWS mode `sws`, `--json`.
pub fn pretrain_args<'a>(
    data: &'a str,
    out: &'a str,
    epochs: &'a str,
    sws: &'a str,
) -> Vec<&'a str> {
    vec![
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
        "2",
        "--patch",
        "4",
        "--rank1",
        "8",
        "--sws",
        sws,
        "--decoder-width",
        "16",
        "--decoder-depth",
        "1",
        "--decoder-heads",
        "2",
        "--epochs",
        epochs,
        "--batch-size",
        "32",
        "--base-lr",
        "1e-3",
        "--eval-images",
        "32",
        "--out",
        out,
        "--json",
    ]
}

/// The flags of a tiny `sweet train`: a (2, 32) ViT, patch 4, batch 16.
pub const TINY: &[&str] = &[
    "--depth",
    "2",
    "--width",
    "32",
    "--heads",
    "2",
    "--patch",
    "4",
    "--batch-size",
    "16",
    "--lr",
    "3e-3",
    "--warmup-epochs",
    "0.5",
    "--workers",
    "2",
];
