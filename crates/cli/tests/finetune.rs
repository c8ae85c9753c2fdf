//! `sweet finetune` end to end on tiny data: from a headless folder to a fine-tuned model
//! folder and `final.json` with MAE's recipe in the run file, average pooling, the key check,
//! exact resume (drop path and layer decay on), a finished run left alone, and `train
//! --init-from` with a head of another class count.

mod common;
use common::{sweet, sweet_json, tensors};

use std::path::{Path, PathBuf};

use serde_json::Value;
use sweet_vit::names::HostTensor;
use sweet_vit::tensor_file;

/// 64 train / 40 test 1x16x16 images with 10 classes, as MNIST IDX files.
fn tiny_mnist(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (n, seed, name) in [(64, 1, "train"), (40, 2, "t10k")] {
        let set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        sweet_data::write_idx(&set, &data, name, false).unwrap();
    }
    data
}

/// A random 1x16x16 model folder with `classes` outputs (0: headless), 2 blocks of width 16.
fn folder(dir: &Path, name: &str, classes: &str) -> PathBuf {
    let m = dir.join(name);
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
        "2",
        "--width",
        "16",
        "--heads",
        "2",
        "--classes",
        classes,
        "--out",
        m.to_str().unwrap(),
        "--json",
    ]);
    m
}

/// `sweet finetune` of `model` on `data` into `out`, 2 epochs of 4 batches of 16, plus `extra`.
fn finetune(model: &Path, data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "finetune",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--workers",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Key -> shape of a model folder's weights.
fn shapes(dir: &Path) -> Vec<(String, Vec<usize>)> {
    tensors(&dir.join("model.safetensors"))
        .into_iter()
        .map(|(k, s, _)| (k, s))
        .collect()
}

#[test]
fn a_headless_folder_fine_tunes_into_a_model_folder_and_final_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let enc = folder(dir.path(), "enc", "0");
    let run = dir.path().join("run");
    let args = finetune(&enc, &data, &run, &["--eval-images", "8"]);
    let out = sweet(&strs(&args));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // MAE's lr rule, printed as MAE prints it: 1e-3 x 16 / 256
    for line in [
        "base lr: 1.00e-3",
        "actual lr: 6.25e-5",
        "effective batch size: 16",
    ] {
        assert!(stderr.contains(line), "no {line:?} in:\n{stderr}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (r["finished"].clone(), r["test_images"].clone()),
        (true.into(), 40.into())
    );

    // the recipe's defaults, in the run file
    let cfg = json_file(&run.join("run.json"));
    let t = &cfg["train"];
    assert_eq!(t["lr"], 6.25e-5);
    assert_eq!(
        (t["layer_decay"].clone(), t["drop_path"].clone()),
        (0.75.into(), 0.1.into())
    );
    assert_eq!(
        (t["min_lr"].clone(), t["warmup_epochs"].clone()),
        (1e-6.into(), 5.0.into())
    );
    assert_eq!(
        (t["label_smoothing"].clone(), t["eval_images"].clone()),
        (0.1.into(), 8.into())
    );
    assert_eq!(t["optimizer"]["weight_decay"], 0.05);
    assert_eq!(t["optimizer"]["beta2"], 0.999);
    assert_eq!(cfg["vit"]["num_classes"], 10);
    assert_eq!(cfg["init_from"], enc.to_str().unwrap());

    // every epoch scored 8 test images, the end all 40
    let fin = json_file(&run.join("final.json"));
    assert_eq!(
        (fin["epochs"].clone(), fin["steps"].clone()),
        (2.into(), 8.into())
    );
    assert_eq!(fin["test_images"], 40);
    assert_eq!(fin["test_acc"], r["test_acc"]);
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    for l in lines.lines() {
        let acc = serde_json::from_str::<Value>(l).unwrap()["test_acc"]
            .as_f64()
            .unwrap();
        assert_eq!((acc * 8.0).fract(), 0.0, "a share of 8 images: {acc}");
    }

    // the fine-tuned folder: the encoder's keys and shapes plus a 10-class head, and it is the
    // model final.json scored
    let model = run.join("model");
    let mut want = shapes(&enc);
    want.extend([
        ("head.bias".to_string(), vec![10]),
        ("head.weight".to_string(), vec![10, 16]),
    ]);
    want.sort();
    assert_eq!(shapes(&model), want);
    assert_eq!(json_file(&model.join("config.json"))["num_classes"], 10);
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
        (e["top1"].clone(), e["images"].clone()),
        (fin["test_acc"].clone(), 40.into())
    );
}

#[test]
fn average_pooling_replaces_the_final_norm_by_a_fresh_fc_norm() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let m = folder(dir.path(), "m", "3");
    let run = dir.path().join("run");
    let extra = ["--global-pool", "avg", "--max-steps", "2"];
    let r = sweet_json(&strs(&finetune(&m, &data, &run, &extra)));
    assert_eq!(r["finished"], true);
    let keys: Vec<String> = shapes(&run.join("model"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(keys.contains(&"fc_norm.weight".to_string()), "{keys:?}");
    assert!(!keys.contains(&"norm.weight".to_string()), "{keys:?}");
    let cfg = json_file(&run.join("model/config.json"));
    assert_eq!(cfg["model_args"]["global_pool"], "avg");
    assert_eq!(json_file(&run.join("final.json"))["steps"], 2);
}

#[test]
fn a_folder_with_a_key_the_model_lacks_or_a_bad_setting_is_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let m = folder(dir.path(), "m", "0");
    let path = m.join("model.safetensors");
    let mut file = tensor_file::read(&path).unwrap();
    file.tensors.insert(
        "dist_token".into(),
        HostTensor {
            shape: vec![1, 1, 16],
            values: vec![0.0; 16],
        },
    );
    file.tensors.remove("blocks.0.norm2.bias");
    let t: Vec<(String, HostTensor)> = file.tensors.into_iter().collect();
    tensor_file::write(&path, &t, &file.metadata).unwrap();
    let run = dir.path().join("run");
    let bad = |extra: &[&str], words: &[&str]| {
        let out = sweet(&strs(&finetune(&m, &data, &run, extra)));
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{err}");
        for w in words {
            assert!(err.contains(w), "no {w:?} in:\n{err}");
        }
        assert!(!run.exists(), "nothing written: {err}");
    };
    bad(
        &[],
        &[
            "missing keys: blocks.0.norm2.bias [16]",
            "unexpected keys: dist_token",
        ],
    );
    bad(
        &["--layer-decay", "0"],
        &["--layer-decay must be in (0, 1]"],
    );
    bad(&["--drop-path", "1"], &["--drop-path must be in [0, 1)"]);
    bad(&["--global-pool", "max"], &["\"max\" is not supported"]);
}

#[test]
fn a_killed_finetune_resumes_exactly_and_a_finished_one_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let enc = folder(dir.path(), "enc", "0");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    // drop path high enough that masks drop branches in these 8 steps
    let extra = ["--drop-path", "0.5"];
    sweet_json(&strs(&finetune(&enc, &data, &a, &extra)));
    let mut first = finetune(&enc, &data, &b, &extra);
    first.extend(["--stop-after".to_string(), "1".to_string()]);
    let r = sweet_json(&strs(&first));
    assert_eq!(
        (r["epochs_run"].clone(), r["finished"].clone()),
        (1.into(), false.into())
    );
    assert!(!b.join("final.json").exists());
    let r = sweet_json(&[
        "finetune",
        "--resume",
        "--out",
        b.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        (r["epochs_run"].clone(), r["finished"].clone()),
        (1.into(), true.into())
    );
    let weights = |run: &Path| tensors(&run.join("model/model.safetensors"));
    assert_eq!(weights(&a), weights(&b));
    let fin = |run: &Path| {
        let mut v = json_file(&run.join("final.json"));
        v["train_seconds"] = Value::Null;
        v
    };
    assert_eq!(fin(&a), fin(&b));

    // resuming the finished run trains and scores nothing again
    let before = std::fs::read(b.join("final.json")).unwrap();
    let r = sweet_json(&[
        "finetune",
        "--resume",
        "--out",
        b.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["epochs_run"], 0);
    assert_eq!(std::fs::read(b.join("final.json")).unwrap(), before);
    assert_eq!(weights(&a), weights(&b));
    // --resume takes the model from the run file
    let out = sweet(&[
        "finetune",
        "--resume",
        "--out",
        b.to_str().unwrap(),
        "--model",
        enc.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("would ignore --model"));
}

#[test]
fn train_init_from_a_folder_with_another_head_gets_a_fresh_head_for_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_mnist(dir.path());
    let m = folder(dir.path(), "m3", "3");
    let run = dir.path().join("run");
    let r = sweet_json(&[
        "train",
        "--init-from",
        m.to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--workers",
        "1",
        "--layer-decay",
        "0.5",
        "--out",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r["finished"], true);
    let head: Vec<(String, Vec<usize>)> = shapes(&run.join("model"))
        .into_iter()
        .filter(|(k, _)| k.starts_with("head."))
        .collect();
    assert_eq!(
        head,
        [
            ("head.bias".to_string(), vec![10]),
            ("head.weight".to_string(), vec![10, 16])
        ]
    );
    let t = &json_file(&run.join("run.json"))["train"];
    assert_eq!(
        (t["layer_decay"].clone(), t.get("drop_path")),
        (0.5.into(), None)
    );
}

#[test]
fn help_teaches_with_a_runnable_example_and_names_the_folders_it_takes() {
    let out = sweet(&["finetune", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let example = help
        .lines()
        .find(|l| l.contains("Example"))
        .unwrap_or_else(|| panic!("no example:\n{help}"));
    assert!(
        example.contains("sweet finetune --model runs/mae/encoder")
            && example.contains("sweet pretrain --data mnist --data-dir data/mnist --dense"),
        "{example}"
    );
    for w in ["sweet init", "sweet pretrain --dense", "timm"] {
        assert!(help.contains(w), "no {w:?} in:\n{help}");
    }
}
