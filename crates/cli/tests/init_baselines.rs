//! End to end: `sweet init mimetic`, `sweet init weight-selection` and `sweet init ligo` write
//! model folders that load as ordinary models, say how they were made, and refuse what they
//! cannot do.

mod common;
use common::{idx_images, sweet, sweet_json, tensors};

use std::path::Path;

use serde_json::Value;

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `sweet init random|mimetic` of a (depth, width) model on 16x16x1 images, patch 4.
fn init(kind: &str, out: &Path, depth: &str, width: &str, heads: &str, classes: &str) -> Value {
    sweet_json(&[
        "init",
        kind,
        "--img-size",
        "16",
        "--in-chans",
        "1",
        "--patch",
        "4",
        "--depth",
        depth,
        "--width",
        width,
        "--heads",
        heads,
        "--classes",
        classes,
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ])
}

#[test]
fn mimetic_sets_only_the_attention_weights_of_a_random_model() {
    let dir = tempfile::tempdir().unwrap();
    let (m, r) = (dir.path().join("m"), dir.path().join("r"));
    let v = init("mimetic", &m, "2", "64", "2", "10");
    assert_eq!(v["method"], "mimetic");
    init("random", &r, "2", "64", "2", "10");
    let (mt, rt) = (
        tensors(&m.join("model.safetensors")),
        tensors(&r.join("model.safetensors")),
    );
    // the same keys and shapes as the random baseline, the same values but in qkv and proj
    assert_eq!(mt.len(), rt.len());
    for (a, b) in mt.iter().zip(&rt) {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        let set = a.0.ends_with("attn.qkv.weight") || a.0.ends_with("attn.proj.weight");
        assert_eq!(a.2 != b.2, set, "{}", a.0);
    }
    assert_eq!(
        json_file(&m.join("config.json")),
        json_file(&r.join("config.json"))
    );
    let record = json_file(&m.join("init.json"));
    assert_eq!(record["method"]["name"], "mimetic");
    assert_eq!(record["method"]["alpha1"], 0.7);
    assert_eq!(record["source"], Value::Null);
    assert_eq!(record["parameters"], v["parameters"]);
    let out = sweet(&[
        "init",
        "mimetic",
        "--img-size",
        "16",
        "--patch",
        "4",
        "--depth",
        "1",
        "--width",
        "32",
        "--heads",
        "1",
        "--classes",
        "2",
        "--out",
        m.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "an existing model folder is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a model"));
}

#[test]
fn weight_selection_shrinks_a_model_folder_and_refuses_to_grow() {
    let dir = tempfile::tempdir().unwrap();
    let (t, s) = (dir.path().join("teacher"), dir.path().join("s"));
    init("random", &t, "3", "64", "2", "0");
    let (t_s, s_s) = (t.to_str().unwrap(), s.to_str().unwrap());
    let v = sweet_json(&[
        "init",
        "weight-selection",
        "--from",
        t_s,
        "--depth",
        "2",
        "--width",
        "32",
        "--classes",
        "10",
        "--out",
        s_s,
        "--json",
    ]);
    assert_eq!(
        (v["depth"].as_u64(), v["width"].as_u64()),
        (Some(2), Some(32))
    );
    assert_eq!(v["heads"], 1, "the teacher's head dim 32 is kept");
    let keys: Vec<(String, Vec<usize>)> = tensors(&s.join("model.safetensors"))
        .into_iter()
        .map(|(k, s, _)| (k, s))
        .collect();
    assert!(keys.contains(&("blocks.1.attn.qkv.weight".into(), vec![96, 32])));
    assert!(keys.contains(&("blocks.1.mlp.fc2.weight".into(), vec![32, 128])));
    assert!(keys.contains(&("pos_embed".into(), vec![1, 17, 32])));
    assert!(keys.contains(&("head.weight".into(), vec![10, 32])));
    assert!(!keys.iter().any(|(k, _)| k.starts_with("blocks.2.")));
    let record = json_file(&s.join("init.json"));
    assert_eq!(record["method"]["name"], "weight-selection");
    assert_eq!(record["source"]["vit"]["embed_dim"], 64);
    assert_eq!(record["source"]["sha256"].as_str().unwrap().len(), 64);
    for (depth, width) in [("4", "64"), ("2", "96")] {
        let out = dir.path().join(format!("big-{depth}-{width}"));
        let o = sweet(&[
            "init",
            "weight-selection",
            "--from",
            t_s,
            "--depth",
            depth,
            "--width",
            width,
            "--classes",
            "10",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("only shrinks") && err.contains("sweet init ligo"),
            "{err}"
        );
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn ligo_grows_a_model_folder_and_refuses_to_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let data = idx_images(dir.path(), 64, 32);
    let (src, out) = (dir.path().join("source"), dir.path().join("g"));
    init("random", &src, "1", "32", "2", "0");
    let (src_s, out_s) = (src.to_str().unwrap(), out.to_str().unwrap());
    let grow = |depth: &str, width: &str, out: &str, with_data: bool| {
        let mut a = vec![
            "init",
            "ligo",
            "--from",
            src_s,
            "--depth",
            depth,
            "--width",
            width,
            "--classes",
            "10",
            "--steps",
            "2",
            "--images",
            "32",
            "--batch-size",
            "16",
            "--eval-images",
            "16",
            "--out",
            out,
        ];
        if with_data {
            a.extend(["--data", "mnist", "--data-dir", &data]);
        }
        a.push("--json");
        sweet(&a)
    };
    let o = grow("2", "64", out_s, true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(v["method"], "ligo");
    assert_eq!(
        (
            v["depth"].as_u64(),
            v["width"].as_u64(),
            v["heads"].as_u64()
        ),
        (Some(2), Some(64), Some(4))
    );
    assert!(v["mae_loss_after"].as_f64().unwrap().is_finite());
    let keys: Vec<(String, Vec<usize>)> = tensors(&out.join("model.safetensors"))
        .into_iter()
        .map(|(k, s, _)| (k, s))
        .collect();
    assert!(keys.contains(&("blocks.1.attn.qkv.weight".into(), vec![192, 64])));
    assert!(keys.contains(&("pos_embed".into(), vec![1, 17, 64])));
    assert!(keys.contains(&("head.weight".into(), vec![10, 64])));
    assert!(out.join("operator-training/metrics.jsonl").exists());
    let record = json_file(&out.join("init.json"));
    assert_eq!(record["method"]["name"], "ligo");
    assert_eq!(record["method"]["training"]["lr"], 2e-4);
    assert_eq!(record["source"]["vit"]["depth"], 1);
    // smaller targets are refused, and so is training without data
    let small = dir.path().join("small");
    let o = grow("1", "16", small.to_str().unwrap(), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("only grows"), "{err}");
    let o = grow(
        "2",
        "64",
        dir.path().join("nodata").to_str().unwrap(),
        false,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--data"), "{err}");
    // ... unless there are no steps: the operators as initialized, no MAE loss reported
    let zero = dir.path().join("zero");
    let v = sweet_json(&[
        "init",
        "ligo",
        "--from",
        src_s,
        "--depth",
        "2",
        "--width",
        "64",
        "--classes",
        "0",
        "--steps",
        "0",
        "--out",
        zero.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["mae_loss_before"], Value::Null);
    assert!(zero.join("model.safetensors").exists() && !zero.join("operator-training").exists());
}
