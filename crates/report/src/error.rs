//! The one error type of this crate: every variant names the file it concerns.

use std::path::PathBuf;

/// What can go wrong reading results or writing plots and reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A results file that does not follow the results format (header, columns, numbers).
    #[error("{}, line {line}: {message}", path.display())]
    Results {
        /// The results file.
        path: PathBuf,
        /// 1-based line number in the file (1 = the header).
        line: u64,
        /// What is wrong there.
        message: String,
    },
    /// Rows that cannot be written as a results file (a field that would not read back) or
    /// into a report (a score that does not fit the study's metric).
    #[error("{}: row {row} ({method}, seed {seed}): {message}", path.display())]
    InvalidRow {
        /// The results file or the report's `README.md` being written.
        path: PathBuf,
        /// 0-based index of the row in the slice given.
        row: usize,
        /// The row's method.
        method: String,
        /// The row's seed.
        seed: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A plot that cannot be drawn as asked (a zero size, error bars not matching points, or a
    /// failure inside plotters).
    #[error("{}: cannot draw the plot: {message}", path.display())]
    Plot {
        /// The PNG it was meant for (empty when rendering to memory).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Encoding the PNG failed.
    #[error("{}: PNG encoding failed: {source}", path.display())]
    Png {
        /// The PNG being written.
        path: PathBuf,
        /// The encoder's error.
        source: image::ImageError,
    },
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename, so a reader (or
/// a crash) never sees a half-written file. Creates the parent folder.
pub(crate) fn atomic_write(path: &std::path::Path, bytes: &[u8]) -> Result<(), ReportError> {
    use std::io::Write;
    let io = |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
