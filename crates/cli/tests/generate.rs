//! `sweet generate` end to end on tiny generated digits: a judge trained with `sweet train`,
//! a diffusion run from that folder's encoder leaves its scores, EMA snapshots, grid and model
//! folder; `eval` of the folder reproduces the run's final scores; `sample` draws a grid; a
//! killed run resumes exactly; bad settings are refused.

mod common;
use common::{idx_images, judge, sweet, sweet_json, tensors};

use std::path::Path;

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `generate train` with the tiny recipe; `extra` adds or overrides flags.
fn train(data: &str, judge: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = out.to_str().unwrap();
    let mut args = vec![
        "generate",
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--judge",
        judge,
        "--out",
        o,
    ];
    args.extend([
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--warmup-epochs",
        "0",
        "--sample-steps",
        "4",
        "--eval-samples",
        "20",
        "--final-samples",
        "20",
        "--reference-images",
        "32",
        "--sample-batch",
        "10",
        "--workers",
        "1",
        "--json",
    ]);
    args.extend(extra);
    sweet_json(&args)
}

#[test]
fn a_diffusion_run_scores_leaves_a_model_that_scores_the_same_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = idx_images(tmp.path(), 64, 32);
    let judge = judge(tmp.path(), &data);
    let run = tmp.path().join("gen");
    // The encoder of the judge's folder (depth 1, width 16): its head and class token go.
    let done = train(&data, &judge, &run, &["--model", &judge]);
    assert_eq!(done["finished"], true);
    let fd = done["frechet"].as_f64().unwrap();
    assert!(fd.is_finite() && fd >= 0.0, "FD {fd}");
    let acc = done["class_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epochs: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(epochs.len(), 2);
    for e in &epochs {
        assert_eq!(e["scores"]["samples"], 20);
    }
    // Only the last two EMA snapshots are kept.
    assert!(run.join("ema-1.safetensors").exists() && run.join("ema-2.safetensors").exists());
    let card = read(&run.join("model/generate.json"));
    assert_eq!(card["dit"]["encoder"]["depth"], 1);
    assert_eq!(card["dit"]["encoder"]["embed_dim"], 16);
    assert_eq!(card["dit"]["classes"], 10);
    let keys: Vec<String> = tensors(&run.join("model/model.safetensors"))
        .into_iter()
        .map(|t| t.0)
        .collect();
    for k in [
        "blocks.0.attn.qkv.weight",
        "adaln.0.weight",
        "y_embedder.embedding_table",
        "final_linear.weight",
        "pos_embed",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
    }
    assert!(!keys
        .iter()
        .any(|k| k == "cls_token" || k.starts_with("head.")));
    // A grid of 10 rows (classes) x 10 samples of 16 px with 2 px padding.
    let side = 10 * (16 + 2) + 2;
    assert_eq!(
        image::image_dimensions(run.join("samples.png")).unwrap(),
        (side, side)
    );

    // The folder scores exactly as the run's final scoring (same seed, samples, sampler).
    let m = run.join("model");
    let m = m.to_str().unwrap();
    let eval = sweet_json(&[
        "generate",
        "eval",
        "--model",
        m,
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--judge",
        &judge,
        "--samples",
        "20",
        "--reference-images",
        "32",
        "--sample-batch",
        "10",
        "--json",
    ]);
    let fin = read(&run.join("final.json"));
    assert_eq!(eval["frechet"], fin["scores"]["frechet"]);
    assert_eq!(eval["class_accuracy"], fin["scores"]["class_accuracy"]);

    let grid = tmp.path().join("grid.png");
    let g = grid.to_str().unwrap();
    let s = sweet_json(&[
        "generate",
        "sample",
        "--model",
        m,
        "--per-class",
        "3",
        "--sample-steps",
        "2",
        "--out",
        g,
        "--json",
    ]);
    assert_eq!(s["per_class"], 3);
    let dims = image::image_dimensions(&grid).unwrap();
    assert_eq!(dims, (3 * 18 + 2, 10 * 18 + 2));

    // Killed after one epoch and resumed: the weights (EMA included) of the uninterrupted run.
    let cut = tmp.path().join("cut");
    let first = train(
        &data,
        &judge,
        &cut,
        &["--model", &judge, "--stop-after", "1"],
    );
    assert_eq!(first["finished"], false);
    let c = cut.to_str().unwrap();
    let resumed = sweet_json(&["generate", "train", "--resume", "--out", c, "--json"]);
    assert_eq!(resumed["finished"], true);
    let same = tensors(&cut.join("model/model.safetensors"))
        == tensors(&run.join("model/model.safetensors"));
    assert!(same, "the resumed run's EMA weights differ");
    assert_eq!(read(&cut.join("final.json"))["scores"], fin["scores"]);
}

#[test]
fn bad_generation_settings_are_refused_with_what_to_change() {
    let tmp = tempfile::tempdir().unwrap();
    let data = idx_images(tmp.path(), 32, 16);
    let o = tmp.path().join("run");
    let o = o.to_str().unwrap();
    let base = [
        "generate",
        "train",
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--out",
        o,
    ];
    let fails = |extra: &[&str], expect: &str| {
        let mut args = base.to_vec();
        args.extend(extra);
        let out = sweet(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(err.contains(expect), "{extra:?}: {err}");
        assert!(
            !Path::new(o).join("run.json").exists(),
            "{extra:?} wrote a run"
        );
    };
    fails(
        &["--label-dropout", "0", "--judge", "nowhere"],
        "needs an unconditional model",
    );
    fails(
        &["--judge", "nowhere"],
        "the judge folder nowhere does not exist",
    );
    fails(&["--ema-decay", "1"], "--ema-decay 1 must be in [0, 1)");
    fails(
        &["--sample-steps", "2000"],
        "--sample-steps 2000 must be in 1..=1000",
    );
}
