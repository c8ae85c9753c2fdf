//! `sweet plot`: PNG figures from run folders, drawn by sweet-report (embedded font, no Python).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::json;
use sweet_report::{LinePlot, Series};

#[derive(clap::Subcommand, Debug)]
pub enum Plot {
    /// The masked-patch test loss after each epoch of `sweet pretrain` runs, one line per run,
    /// read from RUN/metrics.jsonl.
    ///
    /// Example:
    ///   sweet plot pretrain --run runs/fmnist-nested-20 --label nested --run runs/fmnist-dense-20 --label dense --out docs/pretrain-curves-fashion-mnist.png
    Pretrain(PretrainArgs),
}

#[derive(clap::Args, Debug)]
pub struct PretrainArgs {
    /// A `sweet pretrain` run folder; repeat for more runs.
    #[arg(long = "run", value_name = "RUN", required = true)]
    pub runs: Vec<PathBuf>,
    /// Legend name of each run, in the order of --run (default: the run folders' names).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// The PNG to write (its folder is created).
    #[arg(long)]
    pub out: PathBuf,
    /// Caption above the plot.
    #[arg(
        long,
        default_value = "MAE pre-training, masked-patch loss on test images"
    )]
    pub title: String,
    /// Image width in pixels.
    #[arg(long, default_value_t = 840, value_parser = clap::value_parser!(u32).range(64..=16384))]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 504, value_parser = clap::value_parser!(u32).range(64..=16384))]
    pub height: u32,
    /// Print the result as one JSON line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: Plot) -> anyhow::Result<()> {
    match cmd {
        Plot::Pretrain(a) => pretrain(a),
    }
}

/// The fields of a `metrics.jsonl` line this plot needs (the file has more).
#[derive(serde::Deserialize)]
struct EpochLoss {
    epoch: usize,
    test_loss: f64,
}

/// `(epoch, test_loss)` of every line of `run`'s metrics file.
fn read_test_loss(run: &Path) -> anyhow::Result<Vec<(f64, f64)>> {
    let path = run.join(sweet_train::METRICS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{}: no such file (is {} a `sweet pretrain` run folder?)",
            path.display(),
            run.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut points = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: EpochLoss = serde_json::from_str(line).with_context(|| {
            format!(
                "{}, line {}: not a `sweet pretrain` metrics line (needs epoch and test_loss)",
                path.display(),
                i + 1
            )
        })?;
        points.push((m.epoch as f64, m.test_loss));
    }
    if points.is_empty() {
        bail!("{}: no finished epoch yet", path.display());
    }
    Ok(points)
}

/// The legend name of a run folder: its last component.
fn folder_name(run: &Path) -> String {
    run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn pretrain(a: PretrainArgs) -> anyhow::Result<()> {
    if !a.labels.is_empty() && a.labels.len() != a.runs.len() {
        bail!(
            "{} --label for {} --run: give one label per run, in the same order, or none",
            a.labels.len(),
            a.runs.len()
        );
    }
    let mut series = Vec::new();
    for (i, run) in a.runs.iter().enumerate() {
        let name = a.labels.get(i).cloned().unwrap_or_else(|| folder_name(run));
        series.push(Series::line(name, read_test_loss(run)?));
    }
    let plot = LinePlot {
        title: a.title,
        x_label: "epoch".into(),
        y_label: "masked-patch loss (1.0 = patch mean)".into(),
        series,
        log_x: false,
    };
    plot.write_png(&a.out, (a.width, a.height))?;
    super::print_result(a.json, &json!({ "plot": a.out, "runs": a.runs.len() }));
    Ok(())
}
