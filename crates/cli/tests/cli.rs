//! End-to-end tests of the real `sweet` binary on tiny generated datasets in temp folders.

mod common;
use common::{sweet, sweet_json, tensors, TINY};
use safetensors::SafeTensors;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// A learnable 10-class set of 1x16x16 images: class k is a uniform grey level 20 + 22 k with
/// seeded noise. (Position-coded toys, like a bright square whose cell is the class, are not
/// learned by a ViT in a few hundred steps: timm with the same recipe stays at chance too.)
fn toy(n: usize, seed: u64) -> sweet_data::ImageSet {
    let mut set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in 0..n {
        let level = 20 + 22 * set.labels[i] as i32;
        for p in &mut set.pixels[i * 256..(i + 1) * 256] {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((state >> 33) % 21) as i32 - 10;
            *p = (level + noise).clamp(0, 255) as u8;
        }
    }
    set
}

/// The toy set written as MNIST IDX files (train gzipped, test raw).
fn tiny_mnist(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    sweet_data::write_idx(&toy(320, 1), &data, "train", true).unwrap();
    sweet_data::write_idx(&toy(80, 2), &data, "t10k", false).unwrap();
    data
}

fn train_args<'a>(data: &'a str, out: &'a str, epochs: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--epochs",
        epochs,
        "--out",
        out,
        "--json",
    ];
    a.extend_from_slice(TINY);
    a
}

#[test]
fn init_random_writes_a_timm_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let r = sweet_json(&[
        "init",
        "random",
        "--img-size",
        "16",
        "--in-chans",
        "3",
        "--patch",
        "4",
        "--depth",
        "2",
        "--width",
        "32",
        "--heads",
        "2",
        "--classes",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        r["parameters"],
        2 * 12_704 + 32 * 48 + 32 + 32 + 17 * 32 + 64 + 5 * 32 + 5
    );
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architecture"], "vit_tiny_patch16_224");
    assert_eq!(cfg["model_args"]["embed_dim"], 32);
    assert_eq!(
        cfg["pretrained_cfg"]["input_size"],
        serde_json::json!([3, 16, 16])
    );
    let keys: Vec<String> = tensors(&out.join("model.safetensors"))
        .into_iter()
        .map(|t| format!("{} {:?}", t.0, t.1))
        .collect();
    assert!(
        keys.contains(&"blocks.1.attn.qkv.weight [96, 32]".to_string()),
        "{keys:?}"
    );
    assert!(keys.contains(&"patch_embed.proj.weight [32, 3, 4, 4]".to_string()));
    assert_eq!(keys.len(), 32);
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap()["format"], "sweet.vit");
}

#[test]
fn train_then_eval_and_predict_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let run = dir.path().join("run");
    let r = sweet_json(&train_args(
        data.to_str().unwrap(),
        run.to_str().unwrap(),
        "10",
    ));
    let acc = r["test_acc"].as_f64().unwrap();
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert!(
        acc >= 0.9,
        "a tiny ViT should learn the toy set, got {acc}:\n{lines}"
    );
    assert_eq!(lines.lines().count(), 10);
    let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(last["epoch"], 10);
    assert_eq!(last["step"], 200);

    let model = run.join("model");
    let e = sweet_json(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        e["top1"].as_f64().unwrap(),
        acc,
        "eval of the exported folder reproduces the run's accuracy"
    );
    assert_eq!(e["images"], 80);

    // predict on PNGs written from the test set: same top-1 as the labels most of the time.
    let test = toy(80, 2);
    let imgs = dir.path().join("imgs");
    std::fs::create_dir_all(&imgs).unwrap();
    for i in 0..10 {
        image::GrayImage::from_raw(16, 16, test.image_u8(i).to_vec())
            .unwrap()
            .save(imgs.join(format!("{i:02}.png")))
            .unwrap();
    }
    let out = dir.path().join("logits.safetensors");
    let p = sweet_json(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        imgs.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--json",
    ]);
    let top1: Vec<u64> = p["top1"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let right = top1
        .iter()
        .enumerate()
        .filter(|(i, &c)| c == test.labels[*i] as u64)
        .count();
    assert!(right >= 8, "predict top-1 {top1:?}");
    let t = tensors(&out);
    assert_eq!(t[0].0, "logits");
    assert_eq!(t[0].1, vec![10, 10]);

    // the same images as a normalized safetensors tensor give the same logits
    let mut vals = vec![0f32; 10 * 256];
    for i in 0..10 {
        for (j, &px) in test.image_u8(i).iter().enumerate() {
            vals[i * 256 + j] = (px as f32 / 255.0 - 0.1307) / 0.3081;
        }
    }
    let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![10, 1, 16, 16], &bytes)
            .unwrap();
    let input = dir.path().join("images.safetensors");
    std::fs::write(
        &input,
        safetensors::serialize(vec![("images", view)], &None).unwrap(),
    )
    .unwrap();
    let out2 = dir.path().join("logits2.safetensors");
    sweet_json(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out2.to_str().unwrap(),
        "--json",
    ]);
    let (a, b) = (&tensors(&out)[0].2, &tensors(&out2)[0].2);
    let max_diff = a
        .chunks(4)
        .zip(b.chunks(4))
        .map(|(x, y)| {
            (f32::from_le_bytes(x.try_into().unwrap()) - f32::from_le_bytes(y.try_into().unwrap()))
                .abs()
        })
        .fold(0f32, f32::max);
    assert!(
        max_diff < 1e-5,
        "image-file and tensor inputs differ by {max_diff}"
    );
}

#[test]
fn resumed_run_ends_with_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let d = data.to_str().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    sweet_json(&train_args(d, a.to_str().unwrap(), "3"));
    let mut first = train_args(d, b.to_str().unwrap(), "3");
    first.extend_from_slice(&["--stop-after", "1"]);
    let r = sweet_json(&first);
    assert_eq!(r["epochs_run"], 1);
    let r = sweet_json(&["train", "--resume", "--out", b.to_str().unwrap(), "--json"]);
    assert_eq!(r["epochs_run"], 2);
    assert_eq!(
        tensors(&a.join("model/model.safetensors")),
        tensors(&b.join("model/model.safetensors"))
    );
    assert_eq!(
        std::fs::read_to_string(a.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        std::fs::read_to_string(b.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
    );
    // A new run into an existing run folder is refused instead of overwriting it.
    let out = sweet(&train_args(d, a.to_str().unwrap(), "3"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let run = dir.path().join("run");
    let mut args = train_args(data.to_str().unwrap(), run.to_str().unwrap(), "3");
    args.extend_from_slice(&["--stop-after", "1"]);
    sweet_json(&args);
    let ckpt = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    // Make the rest of the run diverge: an absurd learning rate.
    let cfg_path = run.join("run.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["train"]["lr"] = serde_json::json!(1e30);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let out = sweet(&["train", "--resume", "--out", run.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("non-finite loss"), "{err}");
    assert_eq!(
        std::fs::read(run.join("checkpoint.safetensors")).unwrap(),
        ckpt,
        "checkpoint untouched"
    );
}

#[test]
fn bad_input_is_an_error_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = sweet(&[
        "train",
        "--data",
        "mnist",
        "--data-dir",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere: not found"), "{err}");

    let data = tiny_mnist(dir.path());
    let out = sweet(&[
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--patch",
        "5",
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a multiple of patch_size"));

    let out = sweet(&[
        "eval",
        "--model",
        dir.path().to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.json"));

    // predict: a safetensors input with the wrong shape
    let m = dir.path().join("m");
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
        "3",
        "--out",
        m.to_str().unwrap(),
        "--json",
    ]);
    let bytes = vec![0u8; 4 * 3 * 8 * 8];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 3, 8, 8], &bytes)
            .unwrap();
    let input = dir.path().join("x.safetensors");
    std::fs::write(
        &input,
        safetensors::serialize(vec![("images", view)], &None).unwrap(),
    )
    .unwrap();
    let out = sweet(&[
        "predict",
        "--model",
        m.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().join("o.safetensors").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[1, 3, 8, 8]") && err.contains("[B, 1, 16, 16]"),
        "{err}"
    );
    assert!(
        !dir.path().join("o.safetensors").exists(),
        "nothing written on error"
    );
}

/// README.md promises that every command's `--help` teaches with an example: the example must
/// reach the help text (a doc comment on the subcommand variant would hide the Args struct's)
/// and be printed as one runnable line.
#[test]
fn every_command_help_shows_a_runnable_example() {
    // (`data canvas` runs its own example: tests/data_canvas.rs)
    let commands: [&[&str]; 26] = [
        &["train"],
        &["finetune"],
        &["study"],
        &["init", "sweet"],
        &["bench", "init"],
        &["plot", "pretrain"],
        &["pretrain"],
        &["eval"],
        &["predict"],
        &["init", "random"],
        &["init", "mimetic"],
        &["init", "weight-selection"],
        &["init", "ligo"],
        &["bench", "step"],
        &["bench", "compose"],
        &["bench", "mae-step"],
        &["bench", "predict"],
        &["detect", "train"],
        &["detect", "eval"],
        &["detect", "predict"],
        &["segment", "train"],
        &["segment", "eval"],
        &["segment", "predict"],
        &["generate", "train"],
        &["generate", "sample"],
        &["generate", "eval"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = sweet(&args);
        assert!(out.status.success(), "sweet {args:?} failed");
        let help = String::from_utf8_lossy(&out.stdout);
        let run = format!("sweet {}", cmd.join(" "));
        // (`detect train` and `segment train` share one help text with an example of each)
        let example = help
            .lines()
            .find(|l| l.contains("Example") && l.contains(&run))
            .unwrap_or_else(|| panic!("`{run}` --help has no example of itself:\n{help}"));
        assert!(
            !example.contains(" \\ "),
            "example split by a line continuation: {example}"
        );
        let (_, rest) = example.split_once(&run).expect("found above");
        assert!(
            !rest.contains("sweet "),
            "two commands joined on the example line: {example}"
        );
    }
}
