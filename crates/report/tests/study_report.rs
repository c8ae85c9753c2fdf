//! The study report: hand-computed tables, n/a cells, plots of the right size, same rows same
//! files; percent metrics and a plain lower-is-better one (a Fréchet distance), the secondary
//! score's table.

use std::path::Path;

use sweet_report::{write_report, CellResult, Metric, ReportError};

fn row(method: &str, (depth, width): (usize, usize), seed: u64, final_acc: f64) -> CellResult {
    let acc = vec![final_acc - 0.1, final_acc - 0.02];
    CellResult {
        method: method.into(),
        template: String::new(),
        depth,
        width,
        heads: 2,
        params: Some((depth * width * width * 12) as u64),
        seed,
        pretrain_s: Some(0.0),
        init_s: Some(1.0),
        finetune_s: Some(100.0),
        best_acc: CellResult::best_of(&acc, &Metric::ACCURACY),
        acc_epochs: acc,
        final_acc: Some(final_acc),
        secondary: None,
        note: String::new(),
    }
}

fn readme(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("README.md")).unwrap()
}

fn line_starting<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in\n{text}"))
}

#[test]
fn accuracy_table_mean_std_na_and_seed_counts() {
    let rows = vec![
        row("sweet", (2, 32), 0, 0.90),
        row("sweet", (2, 32), 1, 0.92),
        row("sweet", (2, 32), 2, 0.94),
        row("sweet", (4, 64), 0, 0.80),
        row("sweet", (4, 64), 1, 0.81),
        row("random", (2, 32), 0, 0.5),
        CellResult::na("random", "", (4, 64, 4), 0, "too wide"),
        CellResult::na("random", "", (4, 64, 4), 1, "too wide"),
        row("ws", (2, 16), 0, 0.7),
        CellResult::na("ws", "", (2, 32, 2), 0, "a"),
        CellResult::na("ws", "", (2, 32, 2), 1, "b"),
    ];
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), "Study", &rows, "", &Metric::ACCURACY, None).unwrap();
    let md = readme(dir.path());
    assert!(md.starts_with("# Study\n"), "{md}");
    // columns by depth then width; methods in order of first appearance
    assert_eq!(
        line_starting(&md, "| method | 2"),
        "| method | 2 x 16 | 2 x 32 | 4 x 64 |"
    );
    // 90, 92, 94: mean 92, sample std 2; 80, 81: mean 80.5, std sqrt(0.5) = 0.71
    assert_eq!(
        line_starting(&md, "| sweet |"),
        "| sweet | - | 92.00 +- 2.00 (n=3) | 80.50 +- 0.71 (n=2) |"
    );
    assert_eq!(
        line_starting(&md, "| random |"),
        "| random | - | 50.00 (n=1) | n/a: too wide |"
    );
    assert_eq!(
        line_starting(&md, "| ws |"),
        "| ws | 70.00 (n=1) | n/a: a; b | - |"
    );
}

#[test]
fn equal_seed_counts_are_not_repeated_and_costs_are_means() {
    let mut rows = Vec::new();
    for (seed, (init, finetune)) in [(1.0, 100.0), (2.0, 100.0), (3.0, 100.0), (4.0, 200.0)]
        .into_iter()
        .enumerate()
    {
        let size = if seed < 2 { (2, 32) } else { (4, 64) };
        let mut r = row("sweet", size, seed as u64 % 2, 0.9);
        r.template = "runs/template".into();
        r.pretrain_s = Some(10.0);
        r.init_s = Some(init);
        r.finetune_s = Some(finetune);
        rows.push(r);
    }
    let mut r = row("random", (2, 32), 0, 0.5);
    r.init_s = Some(0.5);
    r.finetune_s = Some(50.0);
    rows.push(r.clone());
    r.seed = 1;
    r.final_acc = Some(0.7);
    r.best_acc = CellResult::best_of(&r.acc_epochs, &Metric::ACCURACY);
    rows.push(r);
    rows.push(CellResult::na("random", "", (4, 64, 4), 0, "no"));
    rows.push(CellResult::na("random", "", (4, 64, 4), 1, "no"));
    let dir = tempfile::tempdir().unwrap();
    write_report(dir.path(), "Study", &rows, "", &Metric::ACCURACY, None).unwrap();
    let md = readme(dir.path());
    assert_eq!(
        line_starting(&md, "| sweet | 90"),
        "| sweet | 90.00 +- 0.00 | 90.00 +- 0.00 |"
    );
    // 50, 70: mean 60, std 14.14
    assert_eq!(
        line_starting(&md, "| random | 60"),
        "| random | 60.00 +- 14.14 | n/a: no |"
    );
    // sweet: pre-training 10, init mean 2.5, fine-tuning mean 125; total 137.5
    assert_eq!(
        line_starting(&md, "| sweet | runs"),
        "| sweet | runs/template | 4 | 10.0 | 2.5 | 125 | 138 |"
    );
    // random: the two n/a cells are left out
    assert_eq!(
        line_starting(&md, "| random | -"),
        "| random | - | 2 | 0 | 0.500 | 50.0 | 50.5 |"
    );
}

#[test]
fn plots_are_pngs_of_their_size_and_output_is_deterministic() {
    let mut rows = Vec::new();
    for (m, method) in ["sweet", "random"].iter().enumerate() {
        for size in [(2, 16), (2, 32), (4, 64), (6, 96), (8, 128)] {
            for seed in 0..2 {
                rows.push(row(
                    method,
                    size,
                    seed,
                    0.6 + 0.05 * m as f64 + 0.01 * seed as f64,
                ));
            }
        }
    }
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let notes = "## Notes\n\nRun on 2 cores.";
    write_report(a.path(), "Study", &rows, notes, &Metric::ACCURACY, None).unwrap();
    write_report(
        &b.path().join("new/dir"),
        "Study",
        &rows,
        notes,
        &Metric::ACCURACY,
        None,
    )
    .unwrap();
    let md = readme(a.path());
    assert!(md.ends_with("## Notes\n\nRun on 2 cores.\n"), "{md}");
    for (file, size) in [
        ("accuracy_vs_size.png", (960, 600)),
        ("accuracy_vs_epoch.png", (1500, 520)),
        ("accuracy_vs_compute.png", (960, 600)),
    ] {
        assert!(md.contains(&format!("]({file})")), "{file} embedded");
        let img = image::open(a.path().join(file)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), size, "{file}");
        // the first method's colour is drawn (lines or markers), not just axes
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 50, "{file}: {blue} pixels of the first series");
    }
    for file in [
        "README.md",
        "accuracy_vs_size.png",
        "accuracy_vs_epoch.png",
        "accuracy_vs_compute.png",
    ] {
        let x = std::fs::read(a.path().join(file)).unwrap();
        let y = std::fs::read(b.path().join("new/dir").join(file)).unwrap();
        assert!(x == y, "{file} differs between two writes of the same rows");
    }
}

#[test]
fn all_na_or_no_rows_still_write_a_report() {
    for rows in [
        vec![],
        vec![CellResult::na(
            "ws",
            "",
            (2, 16, 2),
            0,
            "needs a larger model",
        )],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_report(dir.path(), "Empty", &rows, "", &Metric::ACCURACY, None).unwrap();
        for f in [
            "accuracy_vs_size.png",
            "accuracy_vs_epoch.png",
            "accuracy_vs_compute.png",
        ] {
            assert!(image::open(dir.path().join(f)).is_ok(), "{f}");
        }
        if !rows.is_empty() {
            assert!(readme(dir.path()).contains("| ws | n/a: needs a larger model |"));
        }
    }
}

/// A generation cell: Fréchet distance after each epoch and at the end, class accuracy of the
/// samples as the secondary score.
fn fd_row(
    method: &str,
    size: (usize, usize),
    seed: u64,
    epochs: &[f64],
    final_fd: f64,
    class_acc: Option<f64>,
) -> CellResult {
    let mut r = row(method, size, seed, 0.5);
    r.acc_epochs = epochs.to_vec();
    r.best_acc = CellResult::best_of(epochs, &Metric::FRECHET);
    r.final_acc = Some(final_fd);
    r.secondary = class_acc;
    r
}

#[test]
fn a_lower_is_better_distance_is_shown_plain_with_its_class_accuracy() {
    let rows = vec![
        fd_row("sweet", (2, 32), 0, &[40.0, 11.5, 13.0], 12.0, Some(0.85)),
        fd_row("sweet", (2, 32), 1, &[35.0, 14.5, 16.0], 14.0, Some(0.90)),
        fd_row("random", (2, 32), 0, &[80.0, 60.0], 55.25, Some(0.5)),
        fd_row("random", (4, 64), 0, &[70.0, 50.0], 48.0, None),
        CellResult::na("ws", "", (2, 32, 2), 0, "no source"),
    ];
    // the best epoch of a distance is its smallest
    assert_eq!(rows[0].best_acc, Some(11.5));
    assert_eq!(rows[1].best_acc, Some(14.5));
    let dir = tempfile::tempdir().unwrap();
    write_report(
        dir.path(),
        "Generation",
        &rows,
        "",
        &Metric::FRECHET,
        Some(&Metric::CLASS_ACCURACY),
    )
    .unwrap();
    let md = readme(dir.path());
    assert!(
        md.contains("\n## Final test FD (lower is better)\n"),
        "{md}"
    );
    assert!(!md.contains("FD (%"), "{md}");
    // 12, 14: mean 13, sample std sqrt(2) = 1.41; no x 100 (seed counts differ: n shown)
    assert_eq!(
        line_starting(&md, "| sweet | 13"),
        "| sweet | 13.00 +- 1.41 (n=2) | - |"
    );
    assert_eq!(
        line_starting(&md, "| random | 55"),
        "| random | 55.25 (n=1) | 48.00 (n=1) |"
    );
    assert_eq!(
        line_starting(&md, "| ws | n/a"),
        "| ws | n/a: no source | - |"
    );
    // the class accuracy, in percent: 85, 90: mean 87.5, std 3.54; a cell without one
    let second = md
        .split_once("\n## Final class accuracy (%)\n")
        .unwrap_or_else(|| panic!("no class accuracy table in\n{md}"))
        .1;
    assert!(
        md.find("## Final test FD") < md.find("## Final class accuracy")
            && md.find("## Final class accuracy") < md.find("## Cost"),
        "{md}"
    );
    assert_eq!(
        line_starting(second, "| sweet |"),
        "| sweet | 87.50 +- 3.54 (n=2) | - |"
    );
    assert_eq!(
        line_starting(second, "| random |"),
        "| random | 50.00 (n=1) | no result |"
    );
    assert_eq!(
        line_starting(second, "| ws |"),
        "| ws | n/a: no source | - |"
    );
    for (file, size) in [
        ("accuracy_vs_size.png", (960, 600)),
        ("accuracy_vs_epoch.png", (1500, 520)),
        ("accuracy_vs_compute.png", (960, 600)),
    ] {
        let img = image::open(dir.path().join(file)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), size, "{file}");
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        assert!(blue > 50, "{file}: {blue} pixels of the first series");
    }
}

#[test]
fn the_secondary_table_is_only_there_when_rows_have_secondary_scores() {
    let has = |rows: &[CellResult], secondary: Option<&Metric>| -> bool {
        let dir = tempfile::tempdir().unwrap();
        write_report(dir.path(), "S", rows, "", &Metric::FRECHET, secondary).unwrap();
        let md = readme(dir.path());
        assert!(md.contains("## Final test FD"), "{md}");
        md.contains("## Final class accuracy")
    };
    let without = vec![fd_row("sweet", (2, 32), 0, &[20.0, 10.0], 10.0, None)];
    let with = vec![fd_row("sweet", (2, 32), 0, &[20.0, 10.0], 10.0, Some(0.9))];
    assert!(!has(&without, Some(&Metric::CLASS_ACCURACY)));
    assert!(!has(&with, None), "no metric to show the scores by");
    assert!(has(&with, Some(&Metric::CLASS_ACCURACY)));
}

#[test]
fn percent_metrics_keep_their_headings_and_plain_ones_say_which_way_is_better() {
    let rows = vec![row("sweet", (2, 32), 0, 0.9)];
    for (metric, heading) in [
        (Metric::ACCURACY, "## Final test accuracy (%)"),
        (Metric::AP, "## Final test AP (%)"),
        (Metric::MIOU, "## Final test mIoU (%)"),
        (
            Metric::new("error", true, false),
            "## Final test error (%, lower is better)",
        ),
        (Metric::new("loss", false, true), "## Final test loss"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = rows.clone();
        rows[0].best_acc = CellResult::best_of(&rows[0].acc_epochs, &metric);
        write_report(dir.path(), "S", &rows, "", &metric, None).unwrap();
        let md = readme(dir.path());
        assert_eq!(line_starting(&md, "## Final test"), heading);
        let shown = if metric.percent { "90.00" } else { "0.90" };
        assert_eq!(
            line_starting(&md, "| sweet |"),
            format!("| sweet | {shown} |")
        );
    }
}

#[test]
fn rows_that_do_not_fit_the_metric_are_errors_naming_the_row() {
    let readme_of = |dir: &Path| dir.join("README.md");
    let cases: [(Vec<CellResult>, Metric, Option<&Metric>, &str); 3] = [
        // a distance reported as an accuracy
        (
            vec![
                row("sweet", (2, 32), 0, 0.9),
                fd_row("gen", (2, 32), 1, &[20.0, 10.0], 10.0, None),
            ],
            Metric::ACCURACY,
            None,
            "row 1 (gen, seed 1): acc_epochs 20 outside [0, 1] (accuracy is a fraction",
        ),
        // the largest epoch as the best of a distance
        (
            vec![{
                let mut r = fd_row("gen", (2, 32), 3, &[20.0, 10.0], 10.0, None);
                r.best_acc = Some(20.0);
                r
            }],
            Metric::FRECHET,
            None,
            "row 0 (gen, seed 3): best_acc 20 is not the best of acc_epochs (10; lower FD is better)",
        ),
        // a class accuracy in percent rather than a fraction
        (
            vec![fd_row("gen", (2, 32), 0, &[20.0, 10.0], 10.0, Some(90.0))],
            Metric::FRECHET,
            Some(&Metric::CLASS_ACCURACY),
            "row 0 (gen, seed 0): secondary 90 outside [0, 1] (class accuracy is a fraction",
        ),
    ];
    for (rows, metric, secondary, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let err = write_report(dir.path(), "S", &rows, "", &metric, secondary).unwrap_err();
        assert!(matches!(err, ReportError::InvalidRow { .. }), "{err:?}");
        let text = err.to_string();
        let at = format!("{}: {want}", readme_of(dir.path()).display());
        assert!(text.starts_with(&at), "{text:?} should start with {at:?}");
        assert!(!readme_of(dir.path()).exists(), "nothing is written");
    }
}
