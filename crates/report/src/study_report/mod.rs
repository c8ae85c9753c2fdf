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
//!
//! This module checks the rows and writes the files; `grid` groups the rows, `tables` and `plots`
//! make the README's tables and the plots, `labels` the words they share.

mod grid;
mod labels;
mod plots;
mod tables;

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{atomic_write, ReportError};
use crate::metric::Metric;
use crate::results::CellResult;
use grid::Grid;
use labels::heading_note;
use plots::{compute_plot, epoch_panels, size_plot};
use tables::{cost_table, score_table, secondary_section};

pub use grid::mean_std;

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
