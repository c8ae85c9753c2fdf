//! Non-square images end to end: an 8x12 data set trains a ViT with a 2x3 patch grid, whose
//! model folder records `img_size [8, 12]`, evaluates and predicts; MAE pre-training runs on
//! it too (sin-cos table for a 2x3 grid). Before `img_size` became `[h, w]` such data panicked
//! inside the model (it assumed H = W).

mod common;
use common::sweet_json;

use serde_json::Value;

#[test]
fn non_square_images_train_evaluate_predict_and_pretrain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    sweet_data::write_idx(
        &sweet_data::synthetic(64, 1, 8, 12, 4, 1),
        &data,
        "train",
        false,
    )
    .unwrap();
    sweet_data::write_idx(
        &sweet_data::synthetic(16, 1, 8, 12, 4, 2),
        &data,
        "t10k",
        false,
    )
    .unwrap();
    let data = data.to_str().unwrap();
    let run = dir.path().join("run");
    let tiny = [
        "--depth",
        "1",
        "--width",
        "16",
        "--heads",
        "2",
        "--patch",
        "4",
        "--batch-size",
        "16",
        "--workers",
        "1",
    ];
    let mut args = vec![
        "train",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--json",
        "--out",
        run.to_str().unwrap(),
    ];
    args.extend(tiny);
    let r = sweet_json(&args);
    let model = run.join("model");
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model_args"]["img_size"], serde_json::json!([8, 12]));
    assert_eq!(
        cfg["pretrained_cfg"]["input_size"],
        serde_json::json!([1, 8, 12])
    );

    let e = sweet_json(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--json",
    ]);
    assert_eq!(
        e["top1"], r["test_acc"],
        "eval reproduces the run's accuracy"
    );
    assert_eq!(e["images"], 16);

    let img = dir.path().join("x.png");
    image::GrayImage::from_pixel(12, 8, image::Luma([90]))
        .save(&img)
        .unwrap();
    let p = sweet_json(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        img.to_str().unwrap(),
        "--output",
        dir.path().join("l.safetensors").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(p["classes"], 10, "the mnist format always has 10 classes");

    let pre = dir.path().join("pre");
    let mut args = vec![
        "pretrain",
        "--data",
        "mnist",
        "--data-dir",
        data,
        "--epochs",
        "1",
        "--rank1",
        "4",
        "--decoder-width",
        "16",
        "--decoder-depth",
        "1",
        "--decoder-heads",
        "2",
        "--eval-images",
        "8",
        "--json",
        "--out",
        pre.to_str().unwrap(),
    ];
    args.extend(tiny);
    let m = sweet_json(&args);
    assert!(m["last_test_loss"].as_f64().unwrap().is_finite());
}
