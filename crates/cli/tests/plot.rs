//! `sweet plot pretrain` on hand-written metrics files: a PNG of the size asked for with one
//! line per run, and errors that name the file and line.

mod common;
use common::sweet;

use std::path::Path;

/// Writes RUN/metrics.jsonl with `test_loss` values for epochs 1, 2, ...
fn run_folder(dir: &Path, name: &str, losses: &[f64]) -> String {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    let lines: Vec<String> = losses
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                r#"{{"epoch":{},"step":{},"lr":0.0001,"train_loss":{},"test_loss":{l},"epoch_seconds":180.5,"images_per_s":330.2}}"#,
                i + 1,
                (i + 1) * 469,
                l + 0.01
            )
        })
        .collect();
    std::fs::write(run.join("metrics.jsonl"), lines.join("\n") + "\n").unwrap();
    run.to_str().unwrap().to_string()
}

fn stderr_of(args: &[&str]) -> String {
    let out = sweet(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "sweet {args:?} should fail");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn plots_the_test_loss_of_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_folder(dir.path(), "nested", &[0.588, 0.545, 0.519, 0.505, 0.488]);
    let b = run_folder(dir.path(), "dense", &[0.577, 0.510, 0.492]);
    let out = dir.path().join("figs/curves.png");
    let res = sweet(&[
        "plot",
        "pretrain",
        "--run",
        &a,
        "--run",
        &b,
        "--label",
        "template, nested",
        "--label",
        "dense",
        "--out",
        out.to_str().unwrap(),
        "--width",
        "700",
        "--height",
        "420",
        "--json",
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (700, 420));
    // both runs' lines are drawn in their colours (Tableau 10 blue, orange)
    for color in [[31, 119, 180], [255, 127, 14]] {
        let n = img.pixels().filter(|p| p.0 == color).count();
        assert!(n > 100, "{n} pixels of {color:?}");
    }
    // default labels (folder names) and default size
    let out2 = dir.path().join("default.png");
    let res = sweet(&[
        "plot",
        "pretrain",
        "--run",
        &a,
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert_eq!(
        image::open(&out2).unwrap().to_rgb8().dimensions(),
        (840, 504)
    );
}

#[test]
fn missing_or_malformed_metrics_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let out = out.to_str().unwrap();
    let missing = dir.path().join("nothing");
    let err = stderr_of(&[
        "plot",
        "pretrain",
        "--run",
        missing.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert!(
        err.contains(&format!(
            "{}: no such file",
            missing.join("metrics.jsonl").display()
        )),
        "{err}"
    );

    let bad = run_folder(dir.path(), "bad", &[0.5, 0.4]);
    let path = Path::new(&bad).join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"epoch\":3,\"test_loss\":\"oops\"}\n");
    std::fs::write(&path, text).unwrap();
    let err = stderr_of(&["plot", "pretrain", "--run", &bad, "--out", out]);
    assert!(
        err.contains(&format!("{}, line 3:", path.display())),
        "{err}"
    );

    let empty = run_folder(dir.path(), "empty", &[]);
    let err = stderr_of(&["plot", "pretrain", "--run", &empty, "--out", out]);
    assert!(err.contains("no finished epoch yet"), "{err}");

    let ok = run_folder(dir.path(), "ok", &[0.5]);
    let err = stderr_of(&[
        "plot", "pretrain", "--run", &ok, "--label", "a", "--label", "b", "--out", out,
    ]);
    assert!(err.contains("2 --label for 1 --run"), "{err}");
    assert!(!Path::new(out).exists(), "nothing written on error");
}

#[test]
fn help_has_a_runnable_example() {
    let out = sweet(&["plot", "pretrain", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("sweet plot pretrain --run"), "{help}");
}
