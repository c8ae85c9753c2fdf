//! End to end: `sweet pretrain --generator kronecker` a tiny aux net, then `sweet init
//! kronecker` at another depth and width (an ordinary model folder with exactly the keys and
//! shapes of a timm model of that size), and the errors a user meets.

mod common;
use common::{sweet, sweet_json, tensors};

use std::path::Path;

/// 96 train / 32 test 1x16x16 images as MNIST IDX files.
fn data(dir: &Path) -> String {
    let d = dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, seed) in [("train", 96, 1), ("t10k", 32, 2)] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

fn pretrain_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "pretrain",
        "--generator",
        "kronecker",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--depth",
        "2",
        "--width",
        "32",
        "--heads",
        "1",
        "--patch",
        "4",
        "--templates",
        "4",
        "--decoder-width",
        "16",
        "--decoder-depth",
        "1",
        "--decoder-heads",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--eval-images",
        "32",
        "--out",
        out,
        "--json",
    ]
}

/// Keys and shapes of a safetensors file.
fn key_shapes(path: &Path) -> Vec<String> {
    tensors(path)
        .into_iter()
        .map(|(k, s, _)| format!("{k} {s:?}"))
        .collect()
}

#[test]
fn pretrain_kronecker_then_init_at_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let run = dir.path().join("aux");
    let run_s = run.to_str().unwrap();
    let v = sweet_json(&pretrain_args(&data, run_s));
    let file = run.join("kronecker.safetensors");
    assert_eq!(v["output"], file.to_str().unwrap());
    let keys = key_shapes(&file);
    for k in [
        "templates.qkv [4, 32, 32]",
        "scalers.1.qkv [4, 3, 1]",
        "scalers.1.fc2 [4, 1, 4]",
        "blocks.1.attn.qkv.bias [96]",
    ] {
        assert!(keys.contains(&k.to_string()), "{k} not in {keys:?}");
    }
    assert!(keys.iter().any(|k| k.starts_with("decoder.")), "{keys:?}");
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("blocks.1.attn.qkv.weight")),
        "no dense encoder weights: {keys:?}"
    );

    // deeper and wider, a few scaler steps on the aux's own data set (mnist by default)
    let out = dir.path().join("m");
    let out_s = out.to_str().unwrap();
    let templates = file.to_str().unwrap();
    let v = sweet_json(&[
        "init",
        "kronecker",
        "--templates",
        templates,
        "--depth",
        "3",
        "--width",
        "64",
        "--classes",
        "10",
        "--scaler-steps",
        "2",
        "--scaler-images",
        "64",
        "--scaler-batch-size",
        "32",
        "--eval-images",
        "16",
        "--data-dir",
        &data,
        "--out",
        out_s,
        "--json",
    ]);
    assert_eq!(
        (v["depth"].as_u64(), v["width"].as_u64()),
        (Some(3), Some(64))
    );
    assert_eq!(v["heads"], 2, "64 / head dim 32");
    assert!(v["mae_loss_before"].as_f64().is_some() && v["mae_loss_after"].as_f64().is_some());
    // exactly the keys and shapes of a timm ViT of that size
    let random = dir.path().join("r");
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
        "3",
        "--width",
        "64",
        "--heads",
        "2",
        "--classes",
        "10",
        "--out",
        random.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        key_shapes(&out.join("model.safetensors")),
        key_shapes(&random.join("model.safetensors"))
    );
    let init: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("init.json")).unwrap()).unwrap();
    assert_eq!(init["run"]["scalers"]["steps"], 2);
    assert_eq!(init["kronecker_config"]["templates"], 4);
    let e = sweet_json(&[
        "eval",
        "--model",
        out_s,
        "--data",
        "mnist",
        "--data-dir",
        &data,
        "--json",
    ]);
    assert!(e["top1"].as_f64().is_some(), "{e}");

    // zero-shot needs no data; a width that is not a multiple of 32 lists the valid ones
    let zs = dir.path().join("z");
    let v = sweet_json(&[
        "init",
        "kronecker",
        "--templates",
        templates,
        "--depth",
        "1",
        "--width",
        "32",
        "--classes",
        "0",
        "--scaler-steps",
        "0",
        "--out",
        zs.to_str().unwrap(),
        "--json",
    ]);
    assert!(v["mae_loss_before"].is_null());
    let bad = sweet(&[
        "init",
        "kronecker",
        "--templates",
        templates,
        "--depth",
        "2",
        "--width",
        "48",
        "--classes",
        "10",
        "--scaler-steps",
        "0",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("32, 64, 96, 128"), "{err}");
    assert!(!dir.path().join("x").join("model.safetensors").exists());
}

#[test]
fn contradictory_generator_flags_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = data(dir.path());
    let out = dir.path().join("a");
    let mut args = pretrain_args(&data, out.to_str().unwrap());
    args.push("--dense");
    let o = sweet(&args);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot be used with"));
    let mut args = pretrain_args(&data, out.to_str().unwrap());
    args.extend(["--sws", "off"]);
    let o = sweet(&args);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("--sws set(s) the Tucker template, which --generator kronecker does not use"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // an aux width that is not a multiple of the 32-wide templates lists the widths that work
    let mut args = pretrain_args(&data, out.to_str().unwrap());
    let w = args.iter().position(|a| *a == "--width").unwrap();
    args[w + 1] = "48";
    let o = sweet(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("32, 64, 96"), "{err}");
    assert!(!out.join("pretrain.json").exists());
}
