//! One module per subcommand.

pub mod bench;
pub mod eval;
pub mod init;
pub mod predict;
pub mod pretrain;
pub mod train;

use std::path::Path;

use anyhow::Context;
use burn::prelude::*;

/// The compute device: the first enabled backend (CUDA/libtorch when built with those features,
/// else burn's pure-Rust CPU backend). `BURN_DEVICE` can name one explicitly.
pub fn device() -> Device {
    Device::default()
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    sweet_vit::tensor_file::atomic_write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads the settings file `name` of the run folder `out`, for `--resume`.
pub fn read_run<T: serde::de::DeserializeOwned>(out: &Path, name: &str) -> anyhow::Result<T> {
    let path = out.join(name);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "--resume needs {} (was the run started with this --out?)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Prints the final result: one JSON line on stdout with `--json`, else `key: value` lines.
pub fn print_result(json: bool, value: &serde_json::Value) {
    if json {
        println!("{value}");
    } else if let Some(map) = value.as_object() {
        for (k, v) in map {
            println!("{k}: {v}");
        }
    }
}
