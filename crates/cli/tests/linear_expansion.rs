//! End to end: `sweet pretrain --generator linear-expansion` a tiny auxiliary model (TLEG's
//! learngene, by MAE), then `sweet init linear-expansion` at another depth, and the errors a
//! user meets.

mod common;
use common::{idx_images, metadata, sweet, sweet_json, tensors};

use std::path::Path;

use serde_json::Value;

/// A (2, 32) auxiliary model with 2 heads, `epochs` epochs, plus `extra`.
fn pretrain_args<'a>(
    data: &'a str,
    out: &'a str,
    epochs: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut a = vec![
        "pretrain",
        "--generator",
        "linear-expansion",
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
    ];
    a.extend_from_slice(extra);
    a
}

const BLOCK_KEYS: [(&str, [usize; 2]); 12] = [
    ("norm1.weight", [32, 0]),
    ("norm1.bias", [32, 0]),
    ("attn.qkv.weight", [96, 32]),
    ("attn.qkv.bias", [96, 0]),
    ("attn.proj.weight", [32, 32]),
    ("attn.proj.bias", [32, 0]),
    ("norm2.weight", [32, 0]),
    ("norm2.bias", [32, 0]),
    ("mlp.fc1.weight", [128, 32]),
    ("mlp.fc1.bias", [128, 0]),
    ("mlp.fc2.weight", [32, 128]),
    ("mlp.fc2.bias", [32, 0]),
];

fn shape(s: [usize; 2]) -> Vec<usize> {
    s.into_iter().filter(|&d| d > 0).collect()
}

/// The shared keys of a width-32, patch-4, 16x16x1 encoder (written out).
fn shared_keys() -> Vec<(String, Vec<usize>)> {
    vec![
        ("cls_token".into(), vec![1, 1, 32]),
        ("norm.bias".into(), vec![32]),
        ("norm.weight".into(), vec![32]),
        ("patch_embed.proj.bias".into(), vec![32]),
        ("patch_embed.proj.weight".into(), vec![32, 1, 4, 4]),
        ("pos_embed".into(), vec![1, 17, 32]),
    ]
}

fn keys_and_shapes(path: &Path) -> Vec<(String, Vec<usize>)> {
    tensors(path).into_iter().map(|(k, s, _)| (k, s)).collect()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Catches a learngene run that writes no learngene file, loses keys or the decoder, carries
/// per-block parts, records no provenance, does not resume exactly, or an expansion that does
/// not write an ordinary timm model folder at the asked depth: the learngene file holds exactly
/// the golden learngene and shared keys plus `decoder.*`, with the provenance (data, mean/std,
/// steps); a run killed after one epoch and resumed writes the same tensors; `init
/// linear-expansion --depth 3` writes blocks 0..2 with timm's keys and shapes, a fresh head
/// for 10 classes, block 0 equal to the learngene's base byte for byte, config.json with the
/// learngene's mean/std, and init.json naming the learngene's hash; the folder fine-tunes.
#[test]
fn a_learngene_pretrains_resumes_and_expands_to_another_depth() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_images(dir.path(), 96, 32);
    let (a, c) = (dir.path().join("a"), dir.path().join("c"));
    let r = sweet_json(&pretrain_args(&data, a.to_str().unwrap(), "2", &[]));
    assert_eq!(r["epochs_run"], 2);
    let file = a.join("learngene.safetensors");
    assert_eq!(r["output"], file.to_str().unwrap());

    let mut want = shared_keys();
    for half in ["base", "slope"] {
        for (k, s) in BLOCK_KEYS {
            want.push((format!("learngene.{half}.{k}"), shape(s)));
        }
    }
    want.sort();
    let got = keys_and_shapes(&file);
    let (decoder, encoder): (Vec<_>, Vec<_>) = got
        .into_iter()
        .partition(|(k, _)| k.starts_with("decoder."));
    assert_eq!(encoder, want);
    assert!(
        decoder
            .iter()
            .any(|(k, s)| k == "decoder.decoder_embed.weight" && s == &vec![16, 32]),
        "{decoder:?}"
    );
    let meta = metadata(&file);
    assert_eq!(meta["format"], "sweet.learngene");
    let prov: Value = serde_json::from_str(&meta["provenance"]).unwrap();
    assert_eq!(prov["data"], "mnist");
    assert_eq!(prov["pretrain_steps"], 6);
    assert_eq!(
        prov["pretraining"]["pretrain"]["generator"]["kind"],
        "linear-expansion"
    );
    let lines = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    assert!(a.join("reconstructions/epoch_002.png").exists());

    // killed after one epoch, then resumed: the same learngene as the uninterrupted run
    sweet_json(&pretrain_args(
        &data,
        c.to_str().unwrap(),
        "2",
        &["--stop-after", "1"],
    ));
    sweet_json(&[
        "pretrain",
        "--resume",
        "--out",
        c.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(tensors(&file), tensors(&c.join("learngene.safetensors")));

    let m = dir.path().join("m");
    let v = sweet_json(&[
        "init",
        "linear-expansion",
        "--learngene",
        file.to_str().unwrap(),
        "--depth",
        "3",
        "--classes",
        "10",
        "--out",
        m.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        (v["depth"].clone(), v["width"].clone()),
        (3.into(), 32.into())
    );
    let mut want = shared_keys();
    for i in 0..3 {
        for (k, s) in BLOCK_KEYS {
            want.push((format!("blocks.{i}.{k}"), shape(s)));
        }
    }
    want.push(("head.weight".into(), vec![10, 32]));
    want.push(("head.bias".into(), vec![10]));
    want.sort();
    assert_eq!(keys_and_shapes(&m.join("model.safetensors")), want);
    let (lg, model) = (tensors(&file), tensors(&m.join("model.safetensors")));
    let bytes = |t: &[(String, Vec<usize>, Vec<u8>)], k: &str| {
        t.iter()
            .find(|x| x.0 == k)
            .unwrap_or_else(|| panic!("{k}"))
            .2
            .clone()
    };
    for (k, _) in BLOCK_KEYS {
        assert_eq!(
            bytes(&model, &format!("blocks.0.{k}")),
            bytes(&lg, &format!("learngene.base.{k}")),
            "{k}"
        );
    }
    for (k, _) in shared_keys() {
        assert_eq!(bytes(&model, &k), bytes(&lg, &k), "{k}");
    }
    let cfg = json_file(&m.join("config.json"));
    assert_eq!(cfg["model_args"]["depth"], 3);
    assert_eq!(cfg["pretrained_cfg"]["mean"], prov["mean"]);
    assert_eq!(cfg["pretrained_cfg"]["std"], prov["std"]);
    let init = json_file(&m.join("init.json"));
    assert_eq!(init["learngene_sha256"], meta["learngene_sha256"].as_str());
    assert_eq!(init["run"]["depth"], 3);
    assert_eq!(init["scaler_seconds"], 0.0);
    assert_eq!(init["provenance"]["pretrain_steps"], 6);

    // an ordinary model folder: it fine-tunes
    let f = dir.path().join("f");
    let r = sweet_json(&[
        "finetune",
        "--model",
        m.to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--workers",
        "1",
        "--out",
        f.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["epochs_run"], 1, "{r}");

    // the same folder again, another width, template flags: errors that say what to do
    let init = |out: &Path, extra: &[&str]| {
        let mut a = vec![
            "init",
            "linear-expansion",
            "--learngene",
            file.to_str().unwrap(),
            "--depth",
            "3",
            "--classes",
            "10",
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        sweet(&a)
    };
    let again = init(&m, &[]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));
    let wide = init(&dir.path().join("w"), &["--width", "64"]);
    assert!(!wide.status.success());
    let err = String::from_utf8_lossy(&wide.stderr);
    assert!(
        err.contains("width 32") && err.contains("width 64 needs its own auxiliary model"),
        "{err}"
    );
    assert!(!dir.path().join("w/model.safetensors").exists());
    let ranks = sweet(&pretrain_args(
        &data,
        dir.path().join("r").to_str().unwrap(),
        "1",
        &["--rank1", "8"],
    ));
    assert!(!ranks.status.success());
    let err = String::from_utf8_lossy(&ranks.stderr);
    assert!(
        err.contains("--rank1") && err.contains("linear-expansion"),
        "{err}"
    );
}
