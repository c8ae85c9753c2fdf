//! Plots are PNGs of the size asked for, with the data drawn in the series' colours, whatever
//! the data (equal values, NaN, empty series, non-positive x on a log axis).

use std::path::Path;

use image::{Rgb, RgbImage};
use sweet_report::{LinePlot, Panels, ReportError, Series};

/// The colours of the first two series (Tableau 10 blue and orange).
const FIRST: Rgb<u8> = Rgb([31, 119, 180]);
const SECOND: Rgb<u8> = Rgb([255, 127, 14]);

fn read_png(path: &Path) -> RgbImage {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8()
}

fn count(img: &RgbImage, color: Rgb<u8>) -> usize {
    img.pixels().filter(|p| **p == color).count()
}

fn dark(img: &RgbImage, rows: std::ops::Range<u32>) -> usize {
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count()
}

fn plot(series: Vec<Series>) -> LinePlot {
    LinePlot {
        title: "Masked-patch loss".into(),
        x_label: "epoch".into(),
        y_label: "loss".into(),
        series,
        log_x: false,
    }
}

#[test]
fn png_has_the_requested_size_and_the_series_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/plot.png");
    let p = plot(vec![
        Series::line("nested", vec![(1.0, 0.59), (2.0, 0.55), (3.0, 0.52)]),
        Series::markers("dense", vec![(1.0, 0.58), (2.0, 0.51), (3.0, 0.49)])
            .with_err(vec![0.01, 0.02, 0.01]),
    ]);
    p.write_png(&path, (640, 400)).unwrap();
    let img = read_png(&path);
    assert_eq!(img.dimensions(), (640, 400));
    assert!(count(&img, FIRST) > 100, "the first line is drawn");
    assert!(
        count(&img, SECOND) > 50,
        "the second series' markers are drawn"
    );
    // the title (top rows) is text drawn in the embedded font
    assert!(dark(&img, 0..30) > 50, "title text drawn");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["plot.png"], "no temp file left behind");
}

#[test]
fn same_plot_same_pixels() {
    let p = plot(vec![Series::line("a", vec![(0.0, 1.0), (1.0, 3.0)])]);
    let a = p.render((300, 200)).unwrap();
    let b = p.render((300, 200)).unwrap();
    assert!(a == b);
    let other = plot(vec![Series::line("a", vec![(0.0, 1.0), (1.0, 2.0)])]);
    assert!(
        other.render((300, 200)).unwrap() != a,
        "other data, other pixels"
    );
}

#[test]
fn degenerate_data_still_draws() {
    let nan = f64::NAN;
    let cases = [
        // all-equal values
        vec![Series::line("flat", vec![(2.0, 0.9), (2.0, 0.9)])],
        // one point, zero
        vec![Series::line("zero", vec![(0.0, 0.0)])],
        // empty and all-NaN series beside a real one
        vec![
            Series::line("empty", vec![]),
            Series::line("real", vec![(1.0, 1.0), (nan, 2.0), (3.0, 3.0)]),
        ],
        // nothing drawable at all
        vec![Series::line("nan", vec![(nan, nan)])],
        vec![],
    ];
    for series in cases {
        let img = plot(series.clone()).render((320, 240)).unwrap();
        assert_eq!(img.dimensions(), (320, 240), "{series:?}");
        assert!(
            dark(&img, 0..240) > 100,
            "axes and labels drawn for {series:?}"
        );
    }
    // a skipped series gets no pixels (and no legend entry) but keeps its colour slot
    let img = plot(vec![
        Series::line("nan", vec![(nan, 1.0), (2.0, f64::INFINITY)]),
        Series::line("real", vec![(1.0, 1.0), (2.0, 2.0)]),
    ])
    .render((320, 240))
    .unwrap();
    assert_eq!(count(&img, FIRST), 0);
    assert!(count(&img, SECOND) > 20);
}

#[test]
fn log_axis_skips_non_positive_x() {
    let mut p = plot(vec![
        Series::line("bad", vec![(0.0, 1.0), (-5.0, 2.0)]),
        Series::line("good", vec![(1e4, 80.0), (1e5, 85.0), (1.2e6, 90.0)])
            .with_err(vec![1.0, 0.5, 0.0]),
    ]);
    p.log_x = true;
    let img = p.render((500, 300)).unwrap();
    assert_eq!(count(&img, FIRST), 0);
    assert!(count(&img, SECOND) > 50);
}

#[test]
fn panels_share_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panels.png");
    let panel = |y: f64| plot(vec![Series::line("m", vec![(1.0, y), (2.0, y + 1.0)])]);
    let panels = Panels {
        title: "Three sizes".into(),
        plots: vec![panel(1.0), panel(2.0), panel(3.0)],
    };
    panels.write_png(&path, (900, 300)).unwrap();
    let img = read_png(&path);
    assert_eq!(img.dimensions(), (900, 300));
    // each third of the image holds one panel's line
    for i in 0..3 {
        let third = image::imageops::crop_imm(&img, i * 300, 0, 300, 300).to_image();
        assert!(count(&third, FIRST) > 20, "panel {i} drawn");
    }
}

#[test]
fn bad_requests_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    let p = plot(vec![
        Series::line("a", vec![(1.0, 1.0)]).with_err(vec![1.0, 2.0])
    ]);
    let err = p.write_png(&path, (200, 100)).unwrap_err();
    assert!(matches!(err, ReportError::Plot { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("1 points but 2 error bars"), "{msg}");
    let ok = plot(vec![]);
    let msg = ok.write_png(&path, (0, 100)).unwrap_err().to_string();
    assert!(msg.contains("width and height must be"), "{msg}");
    assert!(!path.exists());
}
