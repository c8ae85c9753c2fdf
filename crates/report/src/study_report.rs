//! A study's report: `README.md` with the score and cost tables, and three plots.
//!
//! A study is a grid of (method, size, seed) cells ([`CellResult`] rows). [`write_report`]
//! groups them by method (in order of first appearance) and size (`depth x width`, sorted by
//! depth then width) and writes:
//!
//! - `README.md`: (a) the final headline score per method and size as `mean +- std` over seeds
//!   (sample standard deviation, n - 1; the mean alone for one seed; `n/a: <reason>` where every
//!   row of the cell is n/a; `-` where the study has no row; `(n=k)` after each number when the
//!   cells do not all have the same number of seeds); (b) when rows have a `secondary` score and
//!   the study names its metric, the same table of it; (c) mean seconds per method of
//!   pre-training attributed, initialization, fine-tuning and their total; (d) the plots; (e) the
//!   notes.
//! - `accuracy_vs_size.png`: final score against parameters (log x), mean +- std per method.
//! - `accuracy_vs_epoch.png`: mean score after each epoch per method, in panels for the
//!   smallest, a middle and the largest size present.
//! - `accuracy_vs_compute.png`: final score of every cell against its total seconds (log x).
//!
//! The rows hold bare numbers; the [`Metric`] given with them says what they are. Its name
//! titles the tables and plots; a percent metric (accuracy, AP, mIoU: fractions) is shown times
//! 100 with `(%)` in headings and axis labels, a plain one (a Fréchet distance) as it is; when
//! lower is better the score table's heading and the plot titles say so. Every row is first
//! checked against the metrics ([`CellResult::problem_for`]: a percent score within `[0, 1]`,
//! `best_acc` the best epoch in the metric's direction), so a study that passes the wrong metric
//! gets an error naming the row rather than a report in the wrong unit. The file names keep
//! `accuracy` whatever the metric, so links to existing reports stay valid.
//!
//! n/a rows count only as the reason in the score tables. The same rows give the same files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::axis::fmt_si;
use crate::error::{atomic_write, ReportError};
use crate::metric::Metric;
use crate::plot::{LinePlot, Panels, Series};
use crate::results::CellResult;

/// File name of the score-against-parameters plot.
pub const SIZE_PLOT: &str = "accuracy_vs_size.png";
/// File name of the score-per-epoch panels.
pub const EPOCH_PLOT: &str = "accuracy_vs_epoch.png";
/// File name of the score-against-seconds plot.
pub const COMPUTE_PLOT: &str = "accuracy_vs_compute.png";
/// Pixel size of the single plots.
pub const PLOT_SIZE: (u32, u32) = (960, 600);
/// Pixel size of the epoch panels.
pub const PANELS_SIZE: (u32, u32) = (1500, 520);

/// A study's rows grouped by method (first appearance) and size (depth, then width).
struct Grid<'a> {
    methods: Vec<&'a str>,
    sizes: Vec<(usize, usize)>,
    /// Rows per (method index, size), in input order.
    cells: BTreeMap<(usize, (usize, usize)), Vec<&'a CellResult>>,
}

impl<'a> Grid<'a> {
    fn new(rows: &'a [CellResult]) -> Self {
        let mut methods: Vec<&str> = Vec::new();
        let mut cells: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for r in rows {
            let m = match methods.iter().position(|m| *m == r.method) {
                Some(m) => m,
                None => {
                    methods.push(&r.method);
                    methods.len() - 1
                }
            };
            cells.entry((m, r.size())).or_default().push(r);
        }
        let mut sizes: Vec<(usize, usize)> = cells.keys().map(|k| k.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        Grid {
            methods,
            sizes,
            cells,
        }
    }

    /// The rows of `method` at `size` that are not n/a.
    fn valued(&self, method: usize, size: (usize, usize)) -> Vec<&'a CellResult> {
        self.cells
            .get(&(method, size))
            .map(|v| v.iter().copied().filter(|r| !r.is_na()).collect())
            .unwrap_or_default()
    }

    /// The values `score` picks from the rows of `method` at `size` (rows without one are
    /// skipped).
    fn values(&self, method: usize, size: (usize, usize), score: Score) -> Vec<f64> {
        self.valued(method, size)
            .iter()
            .filter_map(|r| score(r))
            .collect()
    }

    /// Final headline scores of `method` at `size`.
    fn finals(&self, method: usize, size: (usize, usize)) -> Vec<f64> {
        self.values(method, size, |r| r.final_acc)
    }

    /// Mean parameter count of the rows at `size` that give one.
    fn params(&self, size: (usize, usize)) -> Option<f64> {
        let p: Vec<f64> = self
            .cells
            .iter()
            .filter(|(k, _)| k.1 == size)
            .flat_map(|(_, rows)| rows.iter().filter_map(|r| r.params.map(|p| p as f64)))
            .collect();
        (!p.is_empty()).then(|| mean(&p))
    }
}

/// Which number of a row a table shows (the final headline score, the secondary score).
type Score = fn(&CellResult) -> Option<f64>;

/// The mean of a non-empty slice.
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Mean and sample standard deviation (n - 1; `None` for fewer than two values).
pub fn mean_std(v: &[f64]) -> Option<(f64, Option<f64>)> {
    if v.is_empty() {
        return None;
    }
    let m = mean(v);
    let std = (v.len() > 1).then(|| {
        let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
        (ss / (v.len() - 1) as f64).sqrt()
    });
    Some((m, std))
}

/// A size as the tables and plots name it.
fn size_name((depth, width): (usize, usize)) -> String {
    format!("{depth} x {width}")
}

/// Text safe inside a Markdown table cell.
fn cell_text(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Seconds with a precision that suits their size.
fn seconds(s: f64) -> String {
    if s == 0.0 {
        "0".into()
    } else if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 1.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.3}")
    }
}

/// What follows a metric's name in a table heading: its unit and, when lower is better, that
/// (` (%)`, ` (lower is better)`, ` (%, lower is better)` or nothing).
fn heading_note(metric: &Metric) -> String {
    let unit = metric.unit_label();
    let notes: Vec<&str> = [unit, lower_is_better(metric)]
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    }
}

/// `lower is better` for a metric where it is, else nothing.
fn lower_is_better(metric: &Metric) -> &'static str {
    if metric.higher_is_better {
        ""
    } else {
        "lower is better"
    }
}

/// What follows a metric's name on an axis: ` (%)` for a percent metric, else nothing.
fn unit_note(metric: &Metric) -> String {
    match metric.unit_label() {
        "" => String::new(),
        unit => format!(" ({unit})"),
    }
}

/// The words a plot title puts in its parentheses after `what`: `what; lower is better` when
/// it is.
fn title_note(what: &str, metric: &Metric) -> String {
    match lower_is_better(metric) {
        "" => what.to_string(),
        lower => format!("{what}; {lower}"),
    }
}

/// The table of `score` per method and size, formatted by `metric`, as Markdown.
fn score_table(g: &Grid, metric: &Metric, score: Score) -> String {
    let counts: Vec<usize> = (0..g.methods.len())
        .flat_map(|m| g.sizes.iter().map(move |&s| (m, s)))
        .map(|(m, s)| g.values(m, s, score).len())
        .filter(|&n| n > 0)
        .collect();
    let show_n = counts.windows(2).any(|w| w[0] != w[1]);
    let mut t = String::from("| method |");
    for &s in &g.sizes {
        let _ = write!(t, " {} |", size_name(s));
    }
    t.push_str("\n|---|");
    t.push_str(&"---:|".repeat(g.sizes.len()));
    t.push('\n');
    for (m, name) in g.methods.iter().enumerate() {
        let _ = write!(t, "| {} |", cell_text(name));
        for &s in &g.sizes {
            let values = g.values(m, s, score);
            let rows = g.cells.get(&(m, s)).map_or(&[][..], Vec::as_slice);
            let text = match mean_std(&values) {
                Some((mean, std)) => {
                    let mut x = metric.format(mean);
                    if let Some(std) = std {
                        let _ = write!(x, " +- {}", metric.format(std));
                    }
                    if show_n {
                        let _ = write!(x, " (n={})", values.len());
                    }
                    x
                }
                None if !rows.is_empty() && rows.iter().all(|r| r.is_na()) => {
                    let mut reasons: Vec<&str> = Vec::new();
                    for r in rows {
                        let reason = r.na_reason().unwrap_or_default();
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                    let reasons: Vec<&str> =
                        reasons.into_iter().filter(|r| !r.is_empty()).collect();
                    if reasons.is_empty() {
                        "n/a".to_string()
                    } else {
                        cell_text(&format!("n/a: {}", reasons.join("; ")))
                    }
                }
                None if !rows.is_empty() => "no result".to_string(),
                None => "-".to_string(),
            };
            let _ = write!(t, " {text} |");
        }
        t.push('\n');
    }
    t
}

/// The cost table (mean seconds per method over its cells that are not n/a), as Markdown.
fn cost_table(g: &Grid) -> String {
    let mut t = String::from(
        "| method | template | cells | pre-training attributed (s) | initialization (s) | fine-tuning (s) | total (s) |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (m, name) in g.methods.iter().enumerate() {
        let rows: Vec<&CellResult> = g.sizes.iter().flat_map(|&s| g.valued(m, s)).collect();
        let mut templates: Vec<&str> = Vec::new();
        for r in &rows {
            if !r.template.is_empty() && !templates.contains(&r.template.as_str()) {
                templates.push(&r.template);
            }
        }
        let part = |f: fn(&CellResult) -> Option<f64>| -> Option<f64> {
            let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| mean(&v))
        };
        let parts = [
            part(|r| r.pretrain_s),
            part(|r| r.init_s),
            part(|r| r.finetune_s),
        ];
        let total = parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum::<f64>());
        let show = |v: Option<f64>| v.map_or("-".to_string(), seconds);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell_text(name),
            if templates.is_empty() {
                "-".to_string()
            } else {
                cell_text(&templates.join(", "))
            },
            rows.len(),
            show(parts[0]),
            show(parts[1]),
            show(parts[2]),
            show(total)
        );
    }
    t
}

/// Final score against parameters, one line per method with +- std bars.
fn size_plot(g: &Grid, metric: &Metric) -> LinePlot {
    let series = g
        .methods
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let (points, err): (Vec<_>, Vec<_>) = g
                .sizes
                .iter()
                .filter_map(|&s| {
                    let (mean, std) = mean_std(&g.finals(m, s))?;
                    let params = g.params(s)?;
                    let err = metric.scale(std.unwrap_or(0.0));
                    Some(((params, metric.scale(mean)), err))
                })
                .unzip();
            Series::line(*name, points).with_err(err)
        })
        .collect();
    let name = metric.name;
    LinePlot {
        title: format!(
            "Final test {name} against model size ({})",
            title_note("mean +- std over seeds", metric)
        ),
        x_label: "parameters".into(),
        y_label: format!("final test {name}{}", unit_note(metric)),
        series,
        log_x: true,
    }
}

/// Mean score after each epoch, one panel per chosen size, one line per method.
fn epoch_panels(g: &Grid, metric: &Metric) -> Panels {
    let mut present: Vec<(usize, usize)> = g
        .sizes
        .iter()
        .copied()
        .filter(|&s| {
            (0..g.methods.len()).any(|m| g.valued(m, s).iter().any(|r| !r.acc_epochs.is_empty()))
        })
        .collect();
    // by parameters when every size has a count, else by depth then width
    let params: Vec<Option<f64>> = present.iter().map(|&s| g.params(s)).collect();
    if params.iter().all(Option::is_some) {
        let mut keyed: Vec<_> = present
            .iter()
            .copied()
            .zip(params.into_iter().flatten())
            .collect();
        keyed.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        present = keyed.into_iter().map(|k| k.0).collect();
    }
    let chosen: Vec<(usize, usize)> = if present.len() <= 3 {
        present.clone()
    } else {
        vec![
            present[0],
            present[(present.len() - 1) / 2],
            present[present.len() - 1],
        ]
    };
    let plots = chosen
        .iter()
        .map(|&s| {
            let series = g
                .methods
                .iter()
                .enumerate()
                .map(|(m, name)| {
                    let rows = g.valued(m, s);
                    let epochs = rows.iter().map(|r| r.acc_epochs.len()).max().unwrap_or(0);
                    let points = (0..epochs)
                        .map(|e| {
                            let at: Vec<f64> = rows
                                .iter()
                                .filter_map(|r| r.acc_epochs.get(e).copied())
                                .collect();
                            ((e + 1) as f64, metric.scale(mean(&at)))
                        })
                        .collect();
                    Series::line(*name, points)
                })
                .collect();
            let title = match g.params(s) {
                Some(p) => format!("{} ({} parameters)", size_name(s), fmt_si(p)),
                None => size_name(s),
            };
            LinePlot {
                title,
                x_label: "epoch".into(),
                y_label: format!("test {}{}, fixed subset", metric.name, unit_note(metric)),
                series,
                log_x: false,
            }
        })
        .collect();
    Panels {
        title: format!(
            "Test {} after each fine-tuning epoch ({})",
            metric.name,
            title_note("mean over seeds", metric)
        ),
        plots,
    }
}

/// Final score of each cell against its seconds, one marker series per method.
fn compute_plot(g: &Grid, metric: &Metric) -> LinePlot {
    let series = g
        .methods
        .iter()
        .enumerate()
        .map(|(m, name)| {
            let points = g
                .sizes
                .iter()
                .flat_map(|&s| g.valued(m, s))
                .filter_map(|r| Some((r.total_s()?, metric.scale(r.final_acc?))))
                .collect();
            Series::markers(*name, points)
        })
        .collect();
    let name = metric.name;
    LinePlot {
        title: format!(
            "Final test {name} against compute ({})",
            title_note("one marker per cell", metric)
        ),
        x_label: "seconds: pre-training attributed + initialization + fine-tuning".into(),
        y_label: format!("final test {name}{}", unit_note(metric)),
        series,
        log_x: true,
    }
}

/// The first row that does not fit the metrics, as the error naming it.
fn check_rows(
    readme: &Path,
    rows: &[CellResult],
    metric: &Metric,
    secondary: Option<&Metric>,
) -> Result<(), ReportError> {
    for (i, r) in rows.iter().enumerate() {
        if let Some(message) = r.problem_for(metric, secondary) {
            return Err(ReportError::InvalidRow {
                path: readme.to_path_buf(),
                row: i,
                method: r.method.clone(),
                seed: r.seed,
                message,
            });
        }
    }
    Ok(())
}

/// Writes the study report for `rows` into `dir` (created if missing): `README.md` titled
/// `title` with `notes` appended, and the three PNG plots it embeds. The rows' headline scores
/// (`acc_epochs`, `final_acc`, `best_acc`) are `metric`'s ([`Metric::ACCURACY`], [`Metric::AP`],
/// [`Metric::MIOU`], [`Metric::FRECHET`]); their `secondary` scores, if any, `secondary`'s
/// (`None`: the study has no second score, and no table of it is written). A row that does not
/// fit the metrics ([`CellResult::problem_for`]) is a [`ReportError::InvalidRow`] and nothing is
/// written. See the module docs.
pub fn write_report(
    dir: &Path,
    title: &str,
    rows: &[CellResult],
    notes: &str,
    metric: &Metric,
    secondary: Option<&Metric>,
) -> Result<(), ReportError> {
    check_rows(&dir.join("README.md"), rows, metric, secondary)?;
    let g = Grid::new(rows);
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = rows.iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let mut md = format!("# {title}\n\n");
    let _ = writeln!(
        md,
        "{} cells: {} method{} x {} size{} (depth x width), seeds {}.\n",
        rows.len(),
        g.methods.len(),
        if g.methods.len() == 1 { "" } else { "s" },
        g.sizes.len(),
        if g.sizes.len() == 1 { "" } else { "s" },
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "## Final test {}{}\n",
        metric.name,
        heading_note(metric)
    );
    md.push_str(
        "Full test set at the end of fine-tuning; mean +- sample standard deviation over seeds \
         (the mean alone for one seed); n/a: the method cannot produce that size.\n\n",
    );
    md.push_str(&score_table(&g, metric, |r| r.final_acc));
    if let Some(second) = secondary.filter(|_| rows.iter().any(|r| r.secondary.is_some())) {
        md.push_str(&secondary_section(&g, second));
    }
    md.push_str("\n## Cost\n\n");
    md.push_str(
        "Mean seconds per cell over each method's cells (every size and seed, n/a cells \
         excluded); the total is the sum of the three means.\n\n",
    );
    md.push_str(&cost_table(&g));
    md.push_str("\n## Plots\n\n");
    let name = metric.name;
    let _ = writeln!(md, "![final {name} against parameters]({SIZE_PLOT})\n");
    let _ = writeln!(md, "![{name} after each epoch]({EPOCH_PLOT})\n");
    let _ = writeln!(md, "![final {name} against compute]({COMPUTE_PLOT})\n");
    if !notes.trim().is_empty() {
        md.push_str(notes.trim_end());
        md.push('\n');
    }

    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    size_plot(&g, metric).write_png(&dir.join(SIZE_PLOT), PLOT_SIZE)?;
    epoch_panels(&g, metric).write_png(&dir.join(EPOCH_PLOT), PANELS_SIZE)?;
    compute_plot(&g, metric).write_png(&dir.join(COMPUTE_PLOT), PLOT_SIZE)?;
    atomic_write(&dir.join("README.md"), md.as_bytes())
}

/// The README section of the secondary score: its heading and its table, laid out as the
/// headline table.
fn secondary_section(g: &Grid, metric: &Metric) -> String {
    let mut md = format!("\n## Final {}{}\n\n", metric.name, heading_note(metric));
    md.push_str(
        "The second score of each cell at the end, in the same layout: mean +- sample standard \
         deviation over seeds; no result: the cells have none.\n\n",
    );
    md.push_str(&score_table(g, metric, |r| r.secondary));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, (depth, width): (usize, usize), params: u64, acc: &[f64]) -> CellResult {
        CellResult {
            method: method.into(),
            template: String::new(),
            depth,
            width,
            heads: 1,
            params: Some(params),
            seed: 0,
            pretrain_s: None,
            init_s: None,
            finetune_s: Some(1.0),
            acc_epochs: acc.to_vec(),
            final_acc: acc.last().copied(),
            best_acc: CellResult::best_of(acc, &Metric::ACCURACY),
            secondary: None,
            note: String::new(),
        }
    }

    #[test]
    fn epoch_panels_are_smallest_middle_largest_by_parameters() {
        // (12, 64) sorts after (8, 256) by depth but has fewer parameters
        let sizes = [
            ((2, 32), 10),
            ((4, 64), 20),
            ((8, 256), 90),
            ((12, 64), 40),
            ((6, 96), 30),
        ];
        let rows: Vec<CellResult> = sizes.iter().map(|&(s, p)| row("m", s, p, &[0.5])).collect();
        let g = Grid::new(&rows);
        assert_eq!(g.sizes, [(2, 32), (4, 64), (6, 96), (8, 256), (12, 64)]);
        let titles: Vec<String> = epoch_panels(&g, &Metric::ACCURACY)
            .plots
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert_eq!(
            titles,
            [
                "2 x 32 (10 parameters)",
                "6 x 96 (30 parameters)",
                "8 x 256 (90 parameters)"
            ]
        );
    }

    #[test]
    fn epoch_means_use_the_seeds_that_reached_each_epoch() {
        let rows = vec![
            row("m", (2, 32), 10, &[0.1, 0.2, 0.3]),
            row("m", (2, 32), 10, &[0.3, 0.4]),
            CellResult::na("m", "", (2, 32, 1), 2, "x"),
        ];
        let g = Grid::new(&rows);
        let panels = epoch_panels(&g, &Metric::ACCURACY);
        assert_eq!(panels.plots.len(), 1);
        let pts = &panels.plots[0].series[0].points;
        let want = [(1.0, 20.0), (2.0, 30.0), (3.0, 30.0)];
        assert_eq!(pts.len(), 3);
        for (p, w) in pts.iter().zip(want) {
            assert!(
                (p.0 - w.0).abs() < 1e-12 && (p.1 - w.1).abs() < 1e-9,
                "{pts:?}"
            );
        }
    }

    #[test]
    fn a_plain_metric_is_plotted_as_it_is_and_titled_lower_is_better() {
        let rows = vec![
            row("m", (2, 32), 10, &[40.0, 12.0]),
            row("m", (2, 32), 10, &[30.0, 16.0]),
        ];
        let g = Grid::new(&rows);
        let fd = Metric::FRECHET;
        let panels = epoch_panels(&g, &fd);
        assert_eq!(
            panels.title,
            "Test FD after each fine-tuning epoch (mean over seeds; lower is better)"
        );
        assert_eq!(panels.plots[0].y_label, "test FD, fixed subset");
        assert_eq!(panels.plots[0].series[0].points, [(1.0, 35.0), (2.0, 14.0)]);
        let size = size_plot(&g, &fd);
        assert_eq!(
            size.title,
            "Final test FD against model size (mean +- std over seeds; lower is better)"
        );
        assert_eq!(size.y_label, "final test FD");
        assert_eq!(size.series[0].points, [(10.0, 14.0)]);
        let compute = compute_plot(&g, &fd);
        assert_eq!(
            compute.title,
            "Final test FD against compute (one marker per cell; lower is better)"
        );
        assert_eq!(compute.series[0].points, [(1.0, 12.0), (1.0, 16.0)]);
        // a percent metric keeps its labels and is scaled
        let acc = size_plot(&g, &Metric::ACCURACY);
        assert_eq!(
            acc.title,
            "Final test accuracy against model size (mean +- std over seeds)"
        );
        assert_eq!(acc.y_label, "final test accuracy (%)");
        assert_eq!(acc.series[0].points, [(10.0, 1400.0)]);
    }

    #[test]
    fn sample_std() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[3.0]), Some((3.0, None)));
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        // population std is 2; the sample std is sqrt(32 / 7)
        assert!((s.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
