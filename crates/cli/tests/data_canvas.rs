//! `sweet data canvas` end to end on generated IDX digits (never real MNIST): what it writes
//! and prints, determinism, no train/test leakage, and its errors.

mod common;
use common::{sweet, sweet_json};

use std::path::{Path, PathBuf};

use sweet_data::dataset::{ImageSet, Split};
use sweet_data::{open_dense, write_idx};

/// Train digits use strokes of 200, test digits 250: only test canvases have pixels above 200.
const TRAIN_INK: u8 = 200;
const TEST_INK: u8 = 250;

/// `n` 28x28 rectangles of `ink` (label `i % 10`, sizes varying with `i`).
fn digits(n: usize, ink: u8) -> ImageSet {
    let mut pixels = vec![0u8; n * 784];
    for i in 0..n {
        let (w, h) = (8 + (i * 7) % 13, 10 + (i * 5) % 13);
        let (x0, y0) = ((28 - w) / 2, (28 - h) / 2);
        for y in y0..y0 + h {
            pixels[i * 784 + y * 28 + x0..i * 784 + y * 28 + x0 + w].fill(ink);
        }
    }
    ImageSet {
        pixels,
        labels: (0..n).map(|i| (i % 10) as u32).collect(),
        len: n,
        channels: 1,
        height: 28,
        width: 28,
        num_classes: 10,
        class_names: (0..10).map(|k| k.to_string()).collect(),
        mean: vec![0.1307],
        std: vec![0.3081],
    }
}

/// MNIST-style IDX files in `dir/mnist`; returns that folder.
fn mnist(dir: &Path) -> PathBuf {
    let d = dir.join("mnist");
    std::fs::create_dir_all(&d).unwrap();
    write_idx(&digits(40, TRAIN_INK), &d, "train", false).unwrap();
    write_idx(&digits(15, TEST_INK), &d, "t10k", true).unwrap();
    d
}

fn canvas_args<'a>(out: &'a str, mnist: &'a str, seed: &'a str) -> Vec<&'a str> {
    let args = [
        "data", "canvas", "--out", out, "--size", "48", "--train", "20",
    ];
    let mut args = args.to_vec();
    args.extend(["--test", "8", "--seed", seed, "--mnist-dir", mnist]);
    args
}

/// Every file under `dir`, sorted, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().into(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn writes_a_coco_set_that_reads_back_and_reports_its_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = mnist(tmp.path());
    let out = tmp.path().join("set");
    let (o, m) = (out.to_str().unwrap(), data.to_str().unwrap());
    let mut args = canvas_args(o, m, "4");
    args.push("--json");
    let result = sweet_json(&args);
    for (split, n) in [(Split::Train, 20), (Split::Test, 8)] {
        let set = open_dense(&out, split).unwrap();
        assert_eq!(set.len(), n);
        assert_eq!((set.images.height, set.images.width), (48, 48));
        assert!(set.semantic.is_some());
        let objects: usize = set.objects.iter().map(Vec::len).sum();
        let key = split.to_string();
        assert_eq!(result[&key]["images"], n);
        assert_eq!(result[&key]["objects"], objects);
        assert!(objects >= n, "every canvas has a digit");
        // train canvases from train digits only, test canvases from test digits only
        for i in 0..n {
            let top = *set.images.image_u8(i).iter().max().unwrap();
            match split {
                Split::Train => assert!(top <= TRAIN_INK, "train image {i}: {top}"),
                Split::Test => assert!(top > TRAIN_INK, "test image {i}: {top}"),
            }
        }
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("canvas.json")).unwrap()).unwrap();
    assert_eq!(info["config"]["size"], 48);
    assert_eq!(info["config"]["seed"], 4);

    // without --json: what was written, per split
    let again = tmp.path().join("again");
    let printed = sweet(&canvas_args(again.to_str().unwrap(), m, "4"));
    assert!(printed.status.success());
    let text = String::from_utf8_lossy(&printed.stdout);
    let train_line = format!("train: 20 images, {} objects", result["train"]["objects"]);
    assert!(text.contains(&train_line), "{text}");
    assert!(text.contains(&format!(
        "test: 8 images, {} objects",
        result["test"]["objects"]
    )));
    assert!(tree(&out) == tree(&again), "same seed, different files");
}

#[test]
fn another_seed_gives_another_set() {
    let tmp = tempfile::tempdir().unwrap();
    let data = mnist(tmp.path());
    let m = data.to_str().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(sweet(&canvas_args(a.to_str().unwrap(), m, "1"))
        .status
        .success());
    assert!(sweet(&canvas_args(b.to_str().unwrap(), m, "2"))
        .status
        .success());
    let ann = |d: &Path| std::fs::read(d.join("train/annotations.json")).unwrap();
    assert_ne!(ann(&a), ann(&b));
}

#[test]
fn missing_mnist_says_how_to_fetch_it_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("set");
    let gone = tmp.path().join("no-mnist");
    let run = sweet(&canvas_args(
        out.to_str().unwrap(),
        gone.to_str().unwrap(),
        "0",
    ));
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("scripts/fetch-data.sh"), "{err}");
    assert!(err.contains(gone.to_str().unwrap()), "{err}");
    assert!(!out.exists());
}

#[test]
fn refuses_a_non_empty_out_and_a_canvas_below_the_largest_digit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = mnist(tmp.path());
    let out = tmp.path().join("set");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep").unwrap();
    let run = sweet(&canvas_args(
        out.to_str().unwrap(),
        data.to_str().unwrap(),
        "0",
    ));
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(tree(&out).len(), 1);

    let small = ["data", "canvas", "--out", "x", "--size", "39"];
    let run = sweet(&small);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("39"));
}

/// The help's example, with a temporary --out, small counts and the fixture digits, runs.
#[test]
fn help_teaches_with_a_runnable_example() {
    let help = sweet(&["data", "canvas", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("annotations.json") && help.contains("scripts/fetch-data.sh"));
    let example = help
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("sweet data canvas --out"))
        .unwrap_or_else(|| panic!("no example in:\n{help}"));
    let tmp = tempfile::tempdir().unwrap();
    let data = mnist(tmp.path());
    let out = tmp.path().join("example");
    let mut args: Vec<String> = example
        .split_whitespace()
        .skip(1)
        .map(|a| match a {
            "data/mnist-canvas" => out.to_str().unwrap().to_string(),
            "10000" => "6".into(),
            "2000" => "3".into(),
            other => other.into(),
        })
        .collect();
    args.extend(["--mnist-dir".into(), data.to_str().unwrap().into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = sweet(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(open_dense(&out, Split::Test).unwrap().len(), 3);
}
