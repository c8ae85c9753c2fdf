//! One module per subcommand.

pub mod baselines;
pub mod bench;
pub mod data;
pub mod dense;
pub mod eval;
pub mod finetune;
pub mod generate;
pub mod init;
pub mod plot;
pub mod predict;
pub mod pretrain;
pub mod study;
pub mod train;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use burn::prelude::*;

/// The device `--device` (or the first of `--devices`) chose, set once by [`select_device`]
/// or [`select_replicas`].
static CHOSEN: OnceLock<Device> = OnceLock::new();

/// The compute device: the one `--device` names, else the first enabled backend (CUDA/libtorch
/// when built with those features, else burn's pure-Rust CPU backend) or the one
/// `BURN_DEVICE` names; `main` checks the choice with [`select_device`] first, since burn
/// panics on a value it cannot serve.
pub fn device() -> Device {
    CHOSEN.get().cloned().unwrap_or_default()
}

/// What `--device` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// CUDA device N (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Parses `--device`: `cpu`, `cuda` or `cuda:N`.
pub fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    match s {
        "cpu" => Ok(DeviceChoice::Cpu),
        "cuda" => Ok(DeviceChoice::Cuda(0)),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
            _ => Err(format!(
                "{s:?}: the device is cpu, cuda or cuda:N (N = 0, 1, ...)"
            )),
        },
    }
}

/// Sets the device of this invocation: `--device` when given (checked: a CUDA device must
/// start), else `BURN_DEVICE` or the build's default ([`check_device`]); with `replicas`
/// (`--devices` typed) and no `--device`, nothing here: the run folder takes the first of
/// `--devices` ([`select_replicas`]), so a CPU run of a CUDA build does not probe the GPU.
pub fn select_device(choice: Option<DeviceChoice>, replicas: bool) -> anyhow::Result<()> {
    let device = match choice {
        None if replicas => return Ok(()),
        None => return check_device(),
        Some(choice) => device_of(choice)?,
    };
    CHOSEN
        .set(device)
        .map_err(|_| anyhow::anyhow!("the device was chosen twice"))
}

/// The autodiff devices of a data-parallel run's replicas from `--devices` (none when not
/// given), each checked as `--device` is; the first becomes the command's device
/// ([`device`]), so it must agree with `--device` when both are given.
pub fn select_replicas(choices: &[DeviceChoice]) -> anyhow::Result<Vec<Device>> {
    let Some(first) = choices.first() else {
        return Ok(Vec::new());
    };
    let devices = choices
        .iter()
        .map(|&c| device_of(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    match CHOSEN.get() {
        Some(chosen) if *chosen != devices[0] => anyhow::bail!(
            "--device and --devices disagree: the first of --devices ({first}) is the run's \
             device; drop --device"
        ),
        Some(_) => {}
        None => {
            let _ = CHOSEN.set(devices[0].clone());
        }
    }
    Ok(devices.into_iter().map(Device::autodiff).collect())
}

/// The device `choice` names, a CUDA one checked to start.
fn device_of(choice: DeviceChoice) -> anyhow::Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::flex()),
        DeviceChoice::Cuda(n) => cuda_device(n),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(n: usize) -> anyhow::Result<Device> {
    let device = Device::cuda(n);
    probe_cuda(&device, &format!("cuda:{n}"))?;
    Ok(device)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(n: usize) -> anyhow::Result<Device> {
    anyhow::bail!(
        "--device cuda:{n}: this sweet was built without CUDA (rebuild with `--features cuda`, \
         scripts/build-cuda.sh), or use --device cpu"
    )
}

/// The `BURN_DEVICE` values burn accepts for the backends this binary is built with.
fn device_names() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "tch") {
        names.push("tch");
    }
    names.push("flex");
    names
}

/// Checks `BURN_DEVICE` before burn reads it (burn panics on an unknown name or a backend that
/// is not compiled in), and that a CUDA device actually starts.
pub fn check_device() -> anyhow::Result<()> {
    let names = device_names();
    let value = match std::env::var("BURN_DEVICE") {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!(
                "BURN_DEVICE is not valid UTF-8; set it to one of: {}",
                names.join(", ")
            )
        }
    };
    if let Some(v) = &value {
        // burn compares the lowercased value
        let lower = v.to_lowercase();
        if !names.contains(&lower.as_str()) {
            let known = [
                "cuda", "rocm", "metal", "vulkan", "webgpu", "wgpu", "cpu", "tch", "remote",
                "flex", "ndarray",
            ];
            let why = if known.contains(&lower.as_str()) {
                format!(
                    "this sweet was built without the {lower} backend{}",
                    match lower.as_str() {
                        "cuda" | "tch" => format!(" (rebuild with `--features {lower}`)"),
                        _ => String::new(),
                    }
                )
            } else {
                "not a burn device name".to_string()
            };
            anyhow::bail!(
                "BURN_DEVICE={v:?}: {why}; valid values for this build: {} (or unset it for the default)",
                names.join(", ")
            );
        }
    }
    #[cfg(feature = "cuda")]
    {
        // CUDA is the default backend of a cuda build; probe it when it is the one selected.
        let selected = value.as_deref().map(str::to_lowercase);
        if selected.as_deref().is_none_or(|v| v == "cuda") {
            probe_cuda(&Device::default(), "the default CUDA device")?;
        }
    }
    Ok(())
}

/// Starts the CUDA device with one tiny op: without a GPU or driver cubecl panics on its device
/// thread and the caller sees only `RecvError`; this turns that into an error saying so.
#[cfg(feature = "cuda")]
fn probe_cuda(device: &Device, name: &str) -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};
    let first_panic: Arc<Mutex<Option<String>>> = Arc::default();
    let hook = std::panic::take_hook();
    let seen = first_panic.clone();
    std::panic::set_hook(Box::new(move |info| {
        let mut slot = seen.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            *slot = Some(msg);
        }
    }));
    // the device is only read; a panic leaves nothing half-updated behind
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Tensor::<1>::zeros([1], device).into_data();
    }));
    std::panic::set_hook(hook);
    if result.is_err() {
        let cause = first_panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        anyhow::bail!(
            "{name} did not start (no NVIDIA GPU or driver found, or no device of that \
             number?): {cause}; use --device cpu to run on the CPU"
        );
    }
    Ok(())
}

/// Parses a count that must be at least 1 (batch sizes, steps, classes).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The flags of the (innermost) subcommand in `matches` that were typed on the command line,
/// as `--name`.
pub fn flags_given(cli: &clap::Command, matches: &clap::ArgMatches) -> Vec<String> {
    let Some((name, sub)) = matches.subcommand() else {
        return Vec::new();
    };
    let Some(cmd) = cli.find_subcommand(name) else {
        return Vec::new();
    };
    // `sweet detect train ...`: the flags are the innermost subcommand's.
    if sub.subcommand().is_some() {
        return flags_given(cmd, sub);
    }
    cmd.get_arguments()
        .filter(|arg| {
            sub.try_contains_id(arg.get_id().as_str()).unwrap_or(false)
                && sub.value_source(arg.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
        })
        .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())))
        .collect()
}

/// Flags that still apply with `--resume` (every other setting comes from the run file).
const RESUME_FLAGS: [&str; 7] = [
    "--out",
    "--resume",
    "--json",
    "--workers",
    "--stop-after",
    "--device",
    "--devices",
];

/// With `--resume`, refuses flags that the run file overrides instead of ignoring them.
pub fn refuse_flags_ignored_on_resume(given: &[String], run_file: &Path) -> anyhow::Result<()> {
    let ignored: Vec<&str> = given
        .iter()
        .map(String::as_str)
        .filter(|f| !RESUME_FLAGS.contains(f))
        .collect();
    if !ignored.is_empty() {
        anyhow::bail!(
            "--resume takes every setting from {} and would ignore {}: drop {} (only {} apply to a resumed run), or start a new run with another --out",
            run_file.display(),
            ignored.join(", "),
            if ignored.len() == 1 { "it" } else { "them" },
            RESUME_FLAGS
                .iter()
                .filter(|f| **f != "--resume")
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
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
