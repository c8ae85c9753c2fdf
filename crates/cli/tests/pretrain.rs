//! End-to-end tests of `sweet pretrain` on a tiny generated dataset.

mod common;
use common::{pretrain_args, sweet_json, tensors};

use std::path::Path;

use serde_json::Value;

/// 96 train / 32 test 1x16x16 images; `relabel` overwrites every label (images unchanged).
fn data(dir: &Path, relabel: Option<u32>) -> String {
    let d = dir.join("data");
    std::fs::create_dir_all(&d).unwrap();
    for (prefix, n, seed) in [("train", 96, 1), ("t10k", 32, 2)] {
        let mut set = sweet_data::synthetic(n, 1, 16, 16, 10, seed);
        if let Some(l) = relabel {
            set.labels.iter_mut().for_each(|x| *x = l);
        }
        sweet_data::write_idx(&set, &d, prefix, false).unwrap();
    }
    d.to_str().unwrap().to_string()
}

#[test]
fn pretrain_writes_template_metrics_and_pictures_for_every_sws_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), None);
    for sws in ["nested", "fibre", "channels", "off"] {
        let out = dir.path().join(sws);
        let r = sweet_json(&pretrain_args(&d, out.to_str().unwrap(), "2", sws));
        assert_eq!(r["epochs_run"], 2, "{sws}");
        let t = tensors(&out.join("template.safetensors"));
        let keys: Vec<&str> = t.iter().map(|x| x.0.as_str()).collect();
        assert!(
            keys.contains(&"template")
                && keys.contains(&"scalers.depth")
                && keys.contains(&"blocks.1.attn.qkv.bias"),
            "{keys:?}"
        );
        let g = t.iter().find(|x| x.0 == "template").unwrap();
        assert_eq!(g.1, vec![8, 32, 32]);
        // the MAE decoder travels with the template (scaler learning reuses it), under
        // `decoder.`, and nothing of it sits among the encoder's keys
        let embed = t
            .iter()
            .find(|x| x.0 == "decoder.decoder_embed.weight")
            .expect("the decoder is part of the template file");
        assert_eq!(embed.1, vec![16, 32]);
        assert!(!keys.contains(&"mask_token"), "{keys:?}");
        let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
        assert!(last["test_loss"].as_f64().unwrap().is_finite());
        let png =
            image::open(out.join("reconstructions/epoch_002.png")).expect("a reconstruction grid");
        assert!(png.width() > 3 * 16 && png.height() > 16);
    }
}

#[test]
fn pretrain_never_uses_labels_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (d1, d2) = (
        data(&dir.path().join("a"), None),
        data(&dir.path().join("b"), Some(3)),
    );
    let (a, b, c) = (
        dir.path().join("ra"),
        dir.path().join("rb"),
        dir.path().join("rc"),
    );
    sweet_json(&pretrain_args(&d1, a.to_str().unwrap(), "2", "nested"));
    // same images, every label changed: the same template
    sweet_json(&pretrain_args(&d2, b.to_str().unwrap(), "2", "nested"));
    assert_eq!(
        tensors(&a.join("template.safetensors")),
        tensors(&b.join("template.safetensors"))
    );
    // killed after one epoch, then resumed: the same template as the uninterrupted run
    let mut first = pretrain_args(&d1, c.to_str().unwrap(), "2", "nested");
    first.extend_from_slice(&["--stop-after", "1"]);
    sweet_json(&first);
    sweet_json(&[
        "pretrain",
        "--resume",
        "--out",
        c.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        tensors(&a.join("template.safetensors")),
        tensors(&c.join("template.safetensors"))
    );
}

#[test]
fn dense_pretraining_writes_a_timm_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let d = data(dir.path(), None);
    let out = dir.path().join("dense");
    let mut a = pretrain_args(&d, out.to_str().unwrap(), "1", "off");
    a.push("--dense");
    sweet_json(&a);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("encoder/config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["num_classes"], 0);
    let t = tensors(&out.join("encoder/model.safetensors"));
    assert!(t.iter().any(|x| x.0 == "blocks.1.attn.qkv.weight"));
}
