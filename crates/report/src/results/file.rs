//! The results file: [`RESULTS_HEADER`] and one CSV row per cell, written atomically and checked
//! when read.
//!
//! A wrong header, a wrong number of columns, a field that does not parse or a value out of
//! range is a [`ReportError::Results`] naming the file and line. Files from before the
//! `secondary` column (the header without it) still read, every `secondary` empty.

use std::path::Path;

use super::row::Row;
use super::CellResult;
use crate::error::{atomic_write, ReportError};

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
    use crate::metric::Metric;
    use crate::results::tests::cell;

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
}
