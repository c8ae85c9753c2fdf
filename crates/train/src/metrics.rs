//! One JSON line of metrics per epoch, appended to `metrics.jsonl` in the run folder.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// The metrics file of a run folder.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Appends `record` as one line (flushed and synced, so a killed run keeps every finished line).
pub fn append_jsonl<T: Serialize>(path: &Path, record: &T) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    writeln!(f, "{line}")?;
    f.sync_all()
}

/// Keeps the first `epochs` lines of a metrics file (used on resume, so that epochs re-run
/// after the last checkpoint are not listed twice).
pub fn truncate_jsonl(path: &Path, epochs: usize) -> std::io::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text.lines().take(epochs).collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    sweet_vit::tensor_file::atomic_write(path, out.as_bytes()).map_err(std::io::Error::other)
}

/// Reads every line of a metrics file as `T`; a missing file is no lines. A line that does not
/// parse is an error naming the file and line.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                std::io::Error::other(format!("{} line {}: {e}", path.display(), i + 1))
            })
        })
        .collect()
}

/// The sum of the `epoch_seconds` of every line of a run's metrics file (training and
/// per-epoch evaluation over every invocation of a resumed run).
pub fn train_seconds(metrics_path: &Path) -> Result<f64, crate::TrainError> {
    #[derive(serde::Deserialize)]
    struct Seconds {
        epoch_seconds: f64,
    }
    let lines = read_jsonl::<Seconds>(metrics_path).map_err(|source| crate::TrainError::Io {
        path: metrics_path.to_path_buf(),
        source,
    })?;
    Ok(lines.iter().map(|l| l.epoch_seconds).sum())
}

/// The final evaluation a run wrote at `path` (`RUN/final.json`), if it is there and says it
/// scored the model after `epochs` epochs and `steps` steps: a resumed run that had finished
/// reads it back instead of evaluating again.
pub fn finished<F: serde::de::DeserializeOwned>(
    path: &Path,
    done_at: impl Fn(&F) -> (usize, usize),
    epochs: usize,
    steps: usize,
) -> Option<F> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<F>(&text).ok())
        .filter(|f| done_at(f) == (epochs, steps))
}

/// Writes a run's final evaluation as pretty JSON at `path`, atomically.
pub fn write_final<F: Serialize>(path: &Path, value: &F) -> Result<(), crate::TrainError> {
    let text = serde_json::to_string_pretty(value).expect("final records serialize");
    sweet_vit::tensor_file::atomic_write(path, text.as_bytes()).map_err(|source| {
        crate::TrainError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}
