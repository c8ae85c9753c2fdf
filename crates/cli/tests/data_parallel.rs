//! `--devices`: data-parallel training with two replicas (here both on the CPU, the only
//! device CI has) follows the one-device run, resumes exactly, and refuses what it cannot do.

mod common;
use common::{idx_images, judge, pretrain_args, sweet, tensors, TINY};

use std::path::Path;

/// `sweet train` of a tiny ViT on `data` into `out` with extra flags; returns stderr.
fn train(data: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--epochs",
        "2",
        "--grad-clip",
        "1.0",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    let o = sweet(&args);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "sweet {args:?} failed:\n{err}");
    err
}

/// Every weight of a run's model folder, in key order.
fn weights(run: &Path) -> Vec<f32> {
    tensors(&run.join("model/model.safetensors"))
        .into_iter()
        .flat_map(|(_, _, bytes)| {
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn two_replicas_follow_the_one_device_run_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_images(dir.path(), 64, 32);
    let one = dir.path().join("one");
    train(&data, &one, &[]);
    let two = dir.path().join("two");
    let err = train(&data, &two, &["--devices", "cpu,cpu"]);
    assert!(
        err.contains("data-parallel: 2 replicas on cpu, cpu, 8 images each per step"),
        "{err}"
    );
    // half batches on each replica, gradients averaged: the same run up to round-off
    let (w1, w2) = (weights(&one), weights(&two));
    assert_eq!(w1.len(), w2.len());
    let diff = w1
        .iter()
        .zip(&w2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "max |one device - two replicas| over {} weights: {diff:e}",
        w1.len()
    );
    assert!(diff < 1e-4, "max difference {diff}");
    // killed after epoch 1 and resumed on two replicas: bit for bit the uninterrupted run
    let cut = dir.path().join("cut");
    train(&data, &cut, &["--devices", "cpu,cpu", "--stop-after", "1"]);
    let moved = weights(&cut)
        .iter()
        .zip(&w2)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        moved > 100.0 * diff.max(1e-7),
        "epoch 2 moved the weights by only {moved}"
    );
    let o = sweet(&[
        "train",
        "--resume",
        "--devices",
        "cpu,cpu",
        "--out",
        cut.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(weights(&cut), w2);
}

#[test]
fn devices_that_cannot_split_the_batch_or_disagree_with_device_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_images(dir.path(), 32, 16);
    let o = dir.path().join("r");
    let base = [
        "train",
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--batch-size",
        "16",
        "--out",
        o.to_str().unwrap(),
    ];
    let fails = |extra: &[&str], words: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = sweet(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{err}");
        for w in words {
            assert!(err.contains(w), "no {w:?} in {err}");
        }
    };
    fails(
        &["--devices", "cpu,cpu,cpu"],
        &["--batch-size 16", "3 devices"],
    );
    fails(
        &["--devices", "cuda:0,cuda:1"],
        &["--device cuda:0", "built without CUDA"],
    );
    fails(&["--devices", "cpu,gpu"], &["cpu, cuda or cuda:N"]);
}

#[test]
fn pretraining_and_generation_run_data_parallel() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_images(dir.path(), 64, 32);
    let out = dir.path().join("pre");
    let mut args = pretrain_args(&data, out.to_str().unwrap(), "2", "nested");
    args.extend(["--devices", "cpu,cpu"]);
    let o = sweet(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("data-parallel: 2 replicas"), "{err}");
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    let judge = judge(dir.path(), &data);
    let gen = dir.path().join("gen");
    let o = sweet(&[
        "generate",
        "train",
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--judge",
        &judge,
        "--sample-steps",
        "2",
        "--eval-samples",
        "10",
        "--final-samples",
        "10",
        "--reference-images",
        "16",
        "--sample-batch",
        "10",
        "--workers",
        "1",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--devices",
        "cpu,cpu",
        "--out",
        gen.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("data-parallel: 2 replicas"), "{err}");
}
