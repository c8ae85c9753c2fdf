//! The study results table: one CSV row per study cell (method, size, seed), fixed header.
//!
//! Scores are numbers of the study's headline [`Metric`]; the columns keep the `acc` names of
//! the first one, accuracy. Accuracy, AP and mIoU are fractions in `[0, 1]` (as `test_acc` in a
//! run's `metrics.jsonl`), a Fréchet distance is any number `>= 0`; seconds are wall-clock
//! seconds. `acc_epochs` is the score on a fixed test subset after each epoch, `;`-joined; `final_acc`
//! the score on the full test set at the end; `best_acc` the best of `acc_epochs` under the
//! metric's direction ([`CellResult::best_of`]); `secondary` an optional second number of the
//! cell at the end (the class accuracy of generated samples), the last column. A cell that a
//! method cannot produce keeps its method, size and seed, leaves the scores empty and has a note
//! `n/a: <reason>`.
//!
//! The file does not say what its scores measure, so reading and writing check only what holds
//! for every metric: each score finite and `>= 0`, `best_acc` the largest or the smallest of
//! `acc_epochs`. The metric's own rules (a percent score within `[0, 1]`, `best_acc` the best in
//! the metric's direction) are [`CellResult::problem_for`], which the report applies to its rows.
//!
//! Files are written atomically and checked when read: a wrong header, a wrong number of
//! columns, a field that does not parse or a value out of range is a
//! [`ReportError::Results`] naming the file and line. Files from before the `secondary` column
//! (the header without it) still read, every `secondary` empty.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{atomic_write, ReportError};
use crate::metric::Metric;

/// The header of a results file, in this order.
pub const RESULTS_HEADER: [&str; 15] = [
    "method",
    "template",
    "depth",
    "width",
    "heads",
    "params",
    "seed",
    "pretrain_s",
    "init_s",
    "finetune_s",
    "acc_epochs",
    "final_acc",
    "best_acc",
    "note",
    "secondary",
];

/// The start of the note of a cell its method cannot produce: `n/a: <reason>`.
pub const NA_PREFIX: &str = "n/a";

/// One study cell: a method at one target size with one seed, its cost and its scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// Initialization method (e.g. `sweet`, `random`, `weight-selection`).
    pub method: String,
    /// The template or source model the method used (empty when none).
    pub template: String,
    /// Encoder depth of the target model.
    pub depth: usize,
    /// Encoder width (embedding dimension) of the target model.
    pub width: usize,
    /// Attention heads of the target model.
    pub heads: usize,
    /// Parameter count of the target model.
    pub params: Option<u64>,
    /// Seed of the cell (initialization and fine-tuning).
    pub seed: u64,
    /// Pre-training seconds attributed to this cell (a shared pre-training's share; 0 if none).
    pub pretrain_s: Option<f64>,
    /// Seconds spent making the initial weights.
    pub init_s: Option<f64>,
    /// Seconds of fine-tuning.
    pub finetune_s: Option<f64>,
    /// The headline score (accuracy: a fraction in `[0, 1]`) on the fixed test subset after
    /// each epoch.
    pub acc_epochs: Vec<f64>,
    /// The headline score on the full test set at the end.
    pub final_acc: Option<f64>,
    /// The best of `acc_epochs` under the metric's direction ([`CellResult::best_of`]).
    pub best_acc: Option<f64>,
    /// A second score of the cell at the end (the class accuracy of generated samples), if its
    /// study has one. Absent in rows written before it existed.
    #[serde(default)]
    pub secondary: Option<f64>,
    /// Free text; `n/a: <reason>` for a cell the method cannot produce.
    pub note: String,
}

impl CellResult {
    /// A cell `method` cannot produce, with every number empty and the note `n/a: <reason>`.
    pub fn na(
        method: impl Into<String>,
        template: impl Into<String>,
        (depth, width, heads): (usize, usize, usize),
        seed: u64,
        reason: &str,
    ) -> Self {
        Self {
            method: method.into(),
            template: template.into(),
            depth,
            width,
            heads,
            params: None,
            seed,
            pretrain_s: None,
            init_s: None,
            finetune_s: None,
            acc_epochs: Vec::new(),
            final_acc: None,
            best_acc: None,
            secondary: None,
            note: format!("{NA_PREFIX}: {reason}"),
        }
    }

    /// Whether this is a cell the method cannot produce (its note starts with `n/a`).
    pub fn is_na(&self) -> bool {
        self.note.starts_with(NA_PREFIX)
    }

    /// The reason of an n/a cell: its note after `n/a` and a `:`, trimmed.
    pub fn na_reason(&self) -> Option<&str> {
        let rest = self.note.strip_prefix(NA_PREFIX)?;
        Some(rest.strip_prefix(':').unwrap_or(rest).trim())
    }

    /// The target size as `(depth, width)`.
    pub fn size(&self) -> (usize, usize) {
        (self.depth, self.width)
    }

    /// Seconds of pre-training attributed + initialization + fine-tuning, over the parts given;
    /// `None` when none is.
    pub fn total_s(&self) -> Option<f64> {
        let parts = [self.pretrain_s, self.init_s, self.finetune_s];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }

    /// The best of a list of per-epoch scores of `metric` (the largest, or the smallest when
    /// lower is better; `None` when empty): what `best_acc` holds.
    pub fn best_of(acc_epochs: &[f64], metric: &Metric) -> Option<f64> {
        metric.best_of(acc_epochs)
    }

    /// The headline scores of the row with their column names: every epoch, final and best.
    fn scores(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        let epochs = self.acc_epochs.iter().map(|&a| ("acc_epochs", a));
        let finals = self.final_acc.map(|a| ("final_acc", a));
        let best = self.best_acc.map(|a| ("best_acc", a));
        epochs.chain(finals).chain(best)
    }

    /// What makes this row unfit for a results file, if anything: checks that hold whatever the
    /// metric (scores finite and `>= 0`, `best_acc` the largest or smallest of `acc_epochs`).
    fn problem(&self) -> Option<String> {
        if self.method.is_empty() {
            return Some("empty method".into());
        }
        let mut scores = self
            .scores()
            .chain(self.secondary.map(|s| ("secondary", s)));
        if let Some((name, a)) = scores.find(|(_, a)| !(a.is_finite() && *a >= 0.0)) {
            return Some(format!("{name} {a} is not a finite score >= 0"));
        }
        let seconds = [
            ("pretrain_s", self.pretrain_s),
            ("init_s", self.init_s),
            ("finetune_s", self.finetune_s),
        ];
        if let Some((name, s)) = seconds
            .iter()
            .find_map(|(n, s)| s.filter(|s| !(s.is_finite() && *s >= 0.0)).map(|s| (n, s)))
        {
            return Some(format!("{name} {s} is not a finite number of seconds >= 0"));
        }
        let largest = self.acc_epochs.iter().copied().reduce(f64::max);
        let smallest = self.acc_epochs.iter().copied().reduce(f64::min);
        if let (Some(best), Some(max), Some(min)) = (self.best_acc, largest, smallest) {
            if best != max && best != min {
                return Some(format!(
                    "best_acc {best} is neither the largest ({max}) nor the smallest ({min}) \
                     of acc_epochs"
                ));
            }
        }
        if self.is_na() && (self.scores().next().is_some() || self.secondary.is_some()) {
            return Some("an n/a cell has scores".into());
        }
        None
    }

    /// What makes this row unfit for a study whose headline score is `metric` and whose
    /// second score (if it has one) is `secondary`, if anything: the checks of every results
    /// row, then every score of a percent metric within `[0, 1]` and `best_acc` the best of
    /// `acc_epochs` in the metric's direction.
    pub fn problem_for(&self, metric: &Metric, secondary: Option<&Metric>) -> Option<String> {
        if let Some(p) = self.problem() {
            return Some(p);
        }
        if metric.percent {
            if let Some((column, a)) = self.scores().find(|(_, a)| *a > 1.0) {
                return Some(not_a_fraction(column, a, metric));
            }
        }
        if let (Some(s), Some(a)) = (secondary, self.secondary) {
            if s.percent && a > 1.0 {
                return Some(not_a_fraction("secondary", a, s));
            }
        }
        if let (Some(best), Some(want)) = (self.best_acc, metric.best_of(&self.acc_epochs)) {
            if best != want {
                let way = if metric.higher_is_better {
                    "higher"
                } else {
                    "lower"
                };
                return Some(format!(
                    "best_acc {best} is not the best of acc_epochs ({want}; {way} {} is better)",
                    metric.name
                ));
            }
        }
        None
    }
}

/// Why `value` in `column` does not fit `metric`, a fraction shown in percent.
fn not_a_fraction(column: &str, value: f64, metric: &Metric) -> String {
    format!(
        "{column} {value} outside [0, 1] ({} is a fraction shown in percent)",
        metric.name
    )
}

/// A results row as it is in the file (`acc_epochs` as one `;`-joined field).
#[derive(Serialize, Deserialize)]
struct Row {
    method: String,
    template: String,
    depth: usize,
    width: usize,
    heads: usize,
    params: Option<u64>,
    seed: u64,
    pretrain_s: Option<f64>,
    init_s: Option<f64>,
    finetune_s: Option<f64>,
    acc_epochs: String,
    final_acc: Option<f64>,
    best_acc: Option<f64>,
    note: String,
    #[serde(default)]
    secondary: Option<f64>,
}

impl From<&CellResult> for Row {
    fn from(c: &CellResult) -> Self {
        let acc: Vec<String> = c.acc_epochs.iter().map(f64::to_string).collect();
        Row {
            method: c.method.clone(),
            template: c.template.clone(),
            depth: c.depth,
            width: c.width,
            heads: c.heads,
            params: c.params,
            seed: c.seed,
            pretrain_s: c.pretrain_s,
            init_s: c.init_s,
            finetune_s: c.finetune_s,
            acc_epochs: acc.join(";"),
            final_acc: c.final_acc,
            best_acc: c.best_acc,
            note: c.note.clone(),
            secondary: c.secondary,
        }
    }
}

impl TryFrom<Row> for CellResult {
    type Error = String;

    fn try_from(r: Row) -> Result<Self, String> {
        let acc_epochs = if r.acc_epochs.trim().is_empty() {
            Vec::new()
        } else {
            r.acc_epochs
                .split(';')
                .enumerate()
                .map(|(i, s)| {
                    s.trim()
                        .parse::<f64>()
                        .map_err(|e| format!("acc_epochs: value {} ({:?}): {e}", i + 1, s.trim()))
                })
                .collect::<Result<_, _>>()?
        };
        let cell = CellResult {
            method: r.method,
            template: r.template,
            depth: r.depth,
            width: r.width,
            heads: r.heads,
            params: r.params,
            seed: r.seed,
            pretrain_s: r.pretrain_s,
            init_s: r.init_s,
            finetune_s: r.finetune_s,
            acc_epochs,
            final_acc: r.final_acc,
            best_acc: r.best_acc,
            secondary: r.secondary,
            note: r.note,
        };
        match cell.problem() {
            Some(p) => Err(p),
            None => Ok(cell),
        }
    }
}

/// The header of results files written before the `secondary` column: [`RESULTS_HEADER`]
/// without its last column.
const HEADER_BEFORE_SECONDARY: &[&str] = RESULTS_HEADER.split_at(RESULTS_HEADER.len() - 1).0;

/// Reads a results file (header [`RESULTS_HEADER`], or that header without its last column
/// `secondary` for files written before it; one row per cell).
pub fn read_results(path: &Path) -> Result<Vec<CellResult>, ReportError> {
    let bytes = std::fs::read(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: u64, message: String| ReportError::Results {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| bad(1, csv_message(&e, &RESULTS_HEADER)))?
        .clone();
    let columns: &[&str] = if headers.iter().eq(RESULTS_HEADER) {
        &RESULTS_HEADER
    } else if headers.iter().eq(HEADER_BEFORE_SECONDARY.iter().copied()) {
        HEADER_BEFORE_SECONDARY
    } else {
        let found = if headers.is_empty() {
            "an empty file".to_string()
        } else {
            format!("header {:?}", headers.iter().collect::<Vec<_>>().join(","))
        };
        return Err(bad(
            1,
            format!(
                "{found}, expected the results header {:?}",
                RESULTS_HEADER.join(",")
            ),
        ));
    };
    let mut cells = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            bad(line, csv_message(&e, columns))
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let row: Row = record
            .deserialize(Some(&headers))
            .map_err(|e| bad(line, csv_message(&e, columns)))?;
        cells.push(CellResult::try_from(row).map_err(|m| bad(line, m))?);
    }
    Ok(cells)
}

/// The part of a csv error that says what is wrong (the position is reported separately), for a
/// file of `columns`.
fn csv_message(e: &csv::Error, columns: &[&str]) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { len, .. } => format!(
            "{len} fields, expected {} ({})",
            columns.len(),
            columns.join(",")
        ),
        csv::ErrorKind::Deserialize { err, .. } => {
            let column = err
                .field()
                .and_then(|i| columns.get(i as usize))
                .map_or(String::new(), |c| format!("column {c}: "));
            format!("{column}{}", err.kind())
        }
        _ => e.to_string(),
    }
}

/// Writes `cells` as a results file, atomically (temp file + rename), creating the folder.
/// Rows that would not read back (a negative or non-finite score, negative seconds, an n/a cell
/// with scores, ...) are refused.
pub fn write_results(path: &Path, cells: &[CellResult]) -> Result<(), ReportError> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let io = |e: csv::Error| ReportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    writer.write_record(RESULTS_HEADER).map_err(io)?;
    for (i, cell) in cells.iter().enumerate() {
        if let Some(message) = cell.problem() {
            return Err(ReportError::InvalidRow {
                path: path.to_path_buf(),
                row: i,
                method: cell.method.clone(),
                seed: cell.seed,
                message,
            });
        }
        writer.serialize(Row::from(cell)).map_err(io)?;
    }
    let bytes = writer.into_inner().map_err(|e| ReportError::Io {
        path: path.to_path_buf(),
        source: e.into_error(),
    })?;
    atomic_write(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(method: &str, seed: u64, acc: &[f64], final_acc: f64) -> CellResult {
        CellResult {
            method: method.into(),
            template: "runs/template, \"quoted\"".into(),
            depth: 6,
            width: 128,
            heads: 4,
            params: Some(1_199_882),
            seed,
            pretrain_s: Some(1234.5),
            init_s: Some(0.125),
            finetune_s: Some(300.0),
            acc_epochs: acc.to_vec(),
            final_acc: Some(final_acc),
            best_acc: CellResult::best_of(acc, &Metric::ACCURACY),
            secondary: None,
            note: "two\nlines; a,comma".into(),
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/results.csv");
        let mut generated = cell("generate", 4, &[40.5, 12.25, 17.0], 15.5);
        generated.best_acc = CellResult::best_of(&generated.acc_epochs, &Metric::FRECHET);
        generated.secondary = Some(0.875);
        let cells = vec![
            cell("sweet", 0, &[0.1, 0.9012345678901234, 0.95], 0.953),
            cell("random", 1, &[], 0.5),
            generated,
            CellResult::na(
                "weight-selection",
                "",
                (12, 384, 6),
                2,
                "no larger source model",
            ),
        ];
        write_results(&path, &cells).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next().unwrap(), RESULTS_HEADER.join(","));
        assert!(text.contains(",0.1;0.9012345678901234;0.95,"), "{text}");
        // the secondary score is the last column, empty when absent
        assert!(
            text.contains(",40.5;12.25;17,15.5,12.25,\"two\nlines; a,comma\",0.875\n"),
            "{text}"
        );
        assert!(text.contains("a,comma\",\n"), "{text}");
        assert_eq!(read_results(&path).unwrap(), cells);
        assert_eq!(cells[3].na_reason(), Some("no larger source model"));
        assert!(cells[3].is_na() && !cells[0].is_na());
    }

    #[test]
    fn files_and_rows_from_before_the_secondary_column_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        let old_header = RESULTS_HEADER[..RESULTS_HEADER.len() - 1].join(",");
        assert!(old_header.ends_with(",best_acc,note"), "{old_header}");
        std::fs::write(
            &path,
            format!("{old_header}\nsweet,,6,128,4,100,0,0,0.5,10,0.5;0.7,0.75,0.7,ok\n"),
        )
        .unwrap();
        let rows = read_results(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].best_acc, rows[0].secondary, rows[0].note.as_str()),
            (Some(0.7), None, "ok")
        );
        // a short row in an old file is counted against the old header
        std::fs::write(&path, format!("{old_header}\nsweet,,6\n")).unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(err.contains("3 fields, expected 14"), "{err}");
    }

    #[test]
    fn malformed_files_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let good = cell("sweet", 0, &[0.5], 0.6);
        write_results(&path, &[good.clone(), good]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // the header and the first row span lines 1-3 (the note has a newline); the second row
        // starts at line 4
        let header = lines[0];
        let first = format!("{}\n{}", lines[1], lines[2]);
        let cases = [
            (
                format!("{header}\n{first}\nsweet,t,6\n"),
                4,
                "3 fields, expected 15",
            ),
            (
                format!(
                    "{header}\n{first}\n{}",
                    first.replace(",6,128,", ",six,128,")
                ),
                4,
                "column depth",
            ),
            (
                format!(
                    "{header}\n{}",
                    first.replace(",0.5,0.6,0.5,", ",0.5;x,0.6,0.5,")
                ),
                2,
                "acc_epochs: value 2",
            ),
            (
                format!(
                    "{header}\n{}",
                    first.replace(",0.5,0.6,0.5,", ",0.5,-0.6,0.5,")
                ),
                2,
                "final_acc -0.6 is not a finite score >= 0",
            ),
            (
                format!(
                    "{header}\n{}",
                    first.replace(",0.5,0.6,0.5,", ",0.5;inf,0.6,0.5,")
                ),
                2,
                "acc_epochs inf is not a finite score",
            ),
            (
                format!("{}\n{first}", header.replace("seed", "run")),
                1,
                "expected the results header",
            ),
            (String::new(), 1, "an empty file"),
        ];
        for (text, line, what) in cases {
            std::fs::write(&path, &text).unwrap();
            let err = read_results(&path).unwrap_err().to_string();
            let at = format!("{}, line {line}: ", path.display());
            assert!(err.starts_with(&at), "{err:?} should start with {at:?}");
            assert!(err.contains(what), "{err:?} should say {what:?}");
        }
        let missing = dir.path().join("missing.csv");
        assert!(read_results(&missing)
            .unwrap_err()
            .to_string()
            .starts_with(&missing.display().to_string()));
    }

    #[test]
    fn rows_that_would_not_read_back_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut bad = cell("sweet", 3, &[0.5, 0.7, 0.6], 0.7);
        bad.best_acc = Some(0.6);
        let err = write_results(&path, &[bad]).unwrap_err().to_string();
        assert!(
            err.contains("row 0 (sweet, seed 3)")
                && err.contains("best_acc 0.6 is neither the largest (0.7) nor the smallest (0.5)"),
            "{err}"
        );
        let mut na = CellResult::na("ws", "", (2, 32, 1), 0, "too small");
        na.final_acc = Some(0.1);
        assert!(write_results(&path, &[na]).is_err());
        let mut na = CellResult::na("ws", "", (2, 32, 1), 0, "too small");
        na.secondary = Some(0.1);
        let err = write_results(&path, &[na]).unwrap_err().to_string();
        assert!(err.contains("an n/a cell has scores"), "{err}");
        let mut nan = cell("sweet", 0, &[], 0.5);
        nan.secondary = Some(f64::NAN);
        let err = write_results(&path, &[nan]).unwrap_err().to_string();
        assert!(err.contains("secondary NaN is not a finite score"), "{err}");
        let mut neg = cell("sweet", 0, &[], 0.5);
        neg.init_s = Some(-1.0);
        assert!(write_results(&path, &[neg]).is_err());
        assert!(!path.exists(), "nothing is written when a row is refused");
    }

    #[test]
    fn best_epochs_follow_the_metrics_direction() {
        let epochs = [30.0, 8.5, 12.0];
        assert_eq!(CellResult::best_of(&epochs, &Metric::FRECHET), Some(8.5));
        assert_eq!(CellResult::best_of(&epochs, &Metric::ACCURACY), Some(30.0));
        // the smallest epoch is a valid best_acc for a results file, and the best for a distance
        let mut fd = cell("generate", 0, &epochs, 9.0);
        fd.best_acc = Some(8.5);
        assert_eq!(fd.problem(), None);
        assert_eq!(fd.problem_for(&Metric::FRECHET, None), None);
        // ... not for a score where higher is better; and FD is no fraction
        assert_eq!(
            fd.problem_for(&Metric::ACCURACY, None).as_deref(),
            Some("acc_epochs 30 outside [0, 1] (accuracy is a fraction shown in percent)")
        );
        let mut acc = cell("sweet", 0, &[0.5, 0.7], 0.7);
        acc.best_acc = Some(0.5);
        assert_eq!(
            acc.problem_for(&Metric::ACCURACY, None).as_deref(),
            Some("best_acc 0.5 is not the best of acc_epochs (0.7; higher accuracy is better)")
        );
        assert_eq!(
            acc.problem_for(&Metric::new("error", true, false), None),
            None
        );
        // a percent secondary score must be a fraction, a plain one need not be
        fd.secondary = Some(87.5);
        let want = "secondary 87.5 outside [0, 1] (class accuracy is a fraction shown in percent)";
        assert_eq!(
            fd.problem_for(&Metric::FRECHET, Some(&Metric::CLASS_ACCURACY))
                .as_deref(),
            Some(want)
        );
        assert_eq!(fd.problem_for(&Metric::FRECHET, None), None);
        assert_eq!(
            fd.problem_for(&Metric::FRECHET, Some(&Metric::FRECHET)),
            None
        );
    }

    #[test]
    fn totals_add_the_parts_given() {
        let mut c = cell("sweet", 0, &[], 0.5);
        assert_eq!(c.total_s(), Some(1234.5 + 0.125 + 300.0));
        c.pretrain_s = None;
        assert_eq!(c.total_s(), Some(300.125));
        assert_eq!(CellResult::na("a", "", (1, 8, 1), 0, "x").total_s(), None);
    }
}
