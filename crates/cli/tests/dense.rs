//! `sweet detect` and `sweet segment` end to end on tiny generated canvases: train (random and
//! from a 28x28 patch-4 model folder), the model folder they leave scores the same from
//! `eval` as the run's own final evaluation, `predict` draws, and a killed run resumes exactly.

mod common;
use common::{idx_images, sweet, sweet_json, tensors};

use std::path::Path;

/// A 48x48 canvas set (48 train, 16 test canvases) from generated digits; returns its folder.
fn canvases(dir: &Path) -> String {
    let mnist = idx_images(dir, 60, 30);
    let out = dir.join("canvas");
    let o = out.to_str().unwrap();
    let args = [
        "data", "canvas", "--out", o, "--size", "48", "--train", "48",
    ];
    let mut args = args.to_vec();
    args.extend([
        "--test",
        "16",
        "--seed",
        "3",
        "--mnist-dir",
        &mnist,
        "--json",
    ]);
    sweet_json(&args);
    o.to_string()
}

/// The tiny recipe of every run here.
const TINY: [&str; 10] = [
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--warmup-epochs",
    "0",
    "--lr",
    "1e-3",
    "--workers",
    "1",
];

fn train(task: &str, data: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let o = out.to_str().unwrap();
    let mut args = vec![task, "train", "--data-dir", data, "--out", o, "--json"];
    args.extend(TINY);
    args.extend(extra);
    sweet_json(&args)
}

fn read(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn detection_trains_scores_the_same_from_its_folder_draws_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = canvases(tmp.path());
    let random = [
        "--depth", "2", "--width", "32", "--heads", "2", "--patch", "8",
    ];
    let run = tmp.path().join("detect");
    let done = train("detect", &data, &run, &random);
    assert_eq!(done["finished"], true);
    assert_eq!(done["metric"], "AP");
    let score = done["test_score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "AP {score}");
    let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
    let model = run.join("model");
    for f in [
        "model.safetensors",
        "config.json",
        "head.safetensors",
        "dense.json",
    ] {
        assert!(model.join(f).exists(), "{f}");
    }
    let config = read(&model.join("config.json"));
    assert_eq!(config["num_classes"], 0);
    assert_eq!(config["model_args"]["patch_size"], 8);
    assert_eq!(config["model_args"]["img_size"], 48);

    // the folder, read back, scores the whole test set exactly as the run's final evaluation
    let m = model.to_str().unwrap();
    let eval = sweet_json(&[
        "detect",
        "eval",
        "--model",
        m,
        "--data-dir",
        &data,
        "--json",
    ]);
    let fin = read(&run.join("final.json"));
    assert_eq!(eval["scores"], fin["test"]);
    assert_eq!(eval["images"], 16);

    let pics = tmp.path().join("pics");
    let input = format!("{data}/test/images");
    let p = pics.to_str().unwrap();
    let args = [
        "detect", "predict", "--model", m, "--input", &input, "--out", p,
    ];
    let mut args = args.to_vec();
    args.extend(["--limit", "3", "--threshold", "0", "--json"]);
    let pred = sweet_json(&args);
    assert_eq!(pred["images"], 3);
    let pngs: Vec<_> = std::fs::read_dir(&pics)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(pngs.len(), 3);
    assert_eq!(image::image_dimensions(&pngs[0]).unwrap(), (48 * 4, 48 * 4));
    let listed = read(&pics.join("predictions.json"));
    assert_eq!(listed["images"][0]["boxes"].as_array().unwrap().len(), 100);

    // killed after one epoch and resumed: the same weights as the uninterrupted run
    let cut = tmp.path().join("cut");
    let mut once = random.to_vec();
    once.extend(["--stop-after", "1"]);
    let first = train("detect", &data, &cut, &once);
    assert_eq!(first["finished"], false);
    let c = cut.to_str().unwrap();
    let resumed = sweet_json(&["detect", "train", "--resume", "--out", c, "--json"]);
    assert_eq!(resumed["finished"], true);
    // (the tensors, not the bytes: safetensors writes its metadata map in any order)
    for file in ["head.safetensors", "model.safetensors"] {
        let same = tensors(&cut.join("model").join(file)) == tensors(&model.join(file));
        assert!(same, "{file} differs after the resume");
    }
    assert_eq!(resumed["test"], done["test"]);
}

#[test]
fn segmentation_from_a_28px_patch4_folder_trains_and_draws_maps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = canvases(tmp.path());
    let folder = tmp.path().join("init");
    let f = folder.to_str().unwrap();
    let init = [
        "init",
        "random",
        "--img-size",
        "28",
        "--in-chans",
        "1",
        "--patch",
        "4",
        "--depth",
        "2",
        "--width",
        "32",
        "--heads",
        "2",
        "--classes",
        "10",
        "--seed",
        "0",
        "--out",
        f,
    ];
    assert!(sweet(&init).status.success());
    let run = tmp.path().join("segment");
    let done = train(
        "segment",
        &data,
        &run,
        &["--model", f, "--layer-decay", "0.75"],
    );
    assert_eq!(done["finished"], true);
    assert_eq!(done["metric"], "mIoU");
    let test = &done["test"];
    assert_eq!(test["iou"].as_array().unwrap().len(), 11);
    let pixel_acc = test["pixel_acc"].as_f64().unwrap();
    assert!(pixel_acc > 0.0 && pixel_acc <= 1.0);
    let run_file = read(&run.join("run.json"));
    assert_eq!(run_file["backbone"]["patch_size"], 8);
    assert_eq!(run_file["head"]["sub"], 8);
    assert_eq!(run_file["head"]["channels"], 11);

    let m = run.join("model");
    let m = m.to_str().unwrap();
    let eval = sweet_json(&[
        "segment",
        "eval",
        "--model",
        m,
        "--data-dir",
        &data,
        "--json",
    ]);
    assert_eq!(eval["scores"], read(&run.join("final.json"))["test"]);
    let wrong = sweet(&["detect", "eval", "--model", m, "--data-dir", &data]);
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("is a `sweet segment` model"), "{err}");

    let pics = tmp.path().join("maps");
    let input = format!("{data}/test/images");
    let p = pics.to_str().unwrap();
    let args = [
        "segment", "predict", "--model", m, "--input", &input, "--out", p,
    ];
    let mut args = args.to_vec();
    args.extend(["--limit", "2", "--scale", "2", "--json"]);
    assert_eq!(sweet_json(&args)["images"], 2);
    let png = std::fs::read_dir(&pics)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "png"))
        .unwrap();
    // the image and its class map side by side
    assert_eq!(image::image_dimensions(&png).unwrap(), (2 * 48 * 2, 48 * 2));
}
