//! `sweet`: make Vision Transformers of any size from one self-supervised pre-training.
//!
//! A thin entry point: parse, run the command, print the whole error chain, exit non-zero.

mod commands;
mod data_args;
mod loop_args;
mod progress;
mod run_folder;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

// burn allocates a fresh buffer for nearly every op; glibc's malloc returns large ones to the
// OS and page-faults them back in on the next step (FRAMEWORK.md trap 2). mimalloc reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (index 15 in both its v2 and v3 option enums).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never hand freed pages back to the OS: a training step frees and re-allocates the same
/// buffers every iteration, and purged pages come back as page faults that zero whole huge
/// pages (`sweet bench mae-step`: 46k page faults and 7.6 s CPU per 9 steps with the default
/// 10 ms purge delay, 0.5k and 5.6 s without purging).
fn keep_freed_memory() {
    // SAFETY: sets a process-wide allocator option; mimalloc reads it on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// sweet: timm-compatible Vision Transformers in Rust.
///
/// Every model sweet writes is a folder (`model.safetensors` with timm's keys + timm's
/// `config.json`) that loads into PyTorch with
/// `timm.create_model(cfg["architecture"], num_classes=cfg["num_classes"], **cfg["model_args"])`
/// and `load_state_dict(..., strict=True)`.
#[derive(Parser)]
#[command(name = "sweet", version, propagate_version = true)]
struct Cli {
    /// Where to compute: cpu (burn's pure-Rust backend), cuda or cuda:N (a `--features cuda`
    /// build). Default: BURN_DEVICE if set, else the build's first backend.
    #[arg(long, global = true, value_name = "cpu|cuda[:N]", value_parser = commands::parse_device)]
    device: Option<commands::DeviceChoice>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Train, Pretrain, Eval and Predict take their help (summary, details, example) from the
    // doc comment of their Args struct; a doc comment here would replace it.
    Train(commands::train::Args),
    Finetune(commands::finetune::Args),
    Pretrain(commands::pretrain::Args),
    Eval(commands::eval::Args),
    Predict(commands::predict::Args),
    Study(commands::study::Args),
    /// Write a freshly initialized model folder.
    #[command(subcommand)]
    Init(commands::init::Init),
    /// Speed benchmarks that print medians (not tests).
    #[command(subcommand)]
    Bench(commands::bench::Bench),
    /// Object detection on any backbone: train, eval, predict.
    #[command(subcommand)]
    Detect(commands::dense::Dense),
    /// Semantic segmentation on any backbone: train, eval, predict.
    #[command(subcommand)]
    Segment(commands::dense::Dense),
    /// Class-conditional generation (diffusion) on any encoder: train, sample, eval.
    #[command(subcommand)]
    Generate(commands::generate::Generate),
    /// PNG figures from run folders.
    #[command(subcommand)]
    Plot(commands::plot::Plot),
    /// Make data sets for the dense tasks (MNIST-canvas).
    #[command(subcommand)]
    Data(commands::data::Data),
}

fn main() {
    keep_freed_memory();
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // flags typed on the command line: --resume refuses those its run file overrides
    let given = commands::flags_given(&command, &matches);
    let replicas = given.iter().any(|f| f == "--devices");
    let result = commands::select_device(cli.device, replicas).and_then(|()| match cli.command {
        Command::Train(a) => commands::train::run(a, &given),
        Command::Finetune(a) => commands::finetune::run(a, &given),
        Command::Pretrain(a) => commands::pretrain::run(a, &given),
        Command::Eval(a) => commands::eval::run(a),
        Command::Predict(a) => commands::predict::run(a),
        Command::Study(a) => commands::study::run(a),
        Command::Init(a) => commands::init::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Plot(a) => commands::plot::run(a),
        Command::Detect(a) => commands::dense::run(sweet_dense::DenseTask::Detect, a, &given),
        Command::Segment(a) => commands::dense::run(sweet_dense::DenseTask::Segment, a, &given),
        Command::Data(a) => commands::data::run(a),
        Command::Generate(a) => commands::generate::run(a, &given),
    });
    if let Err(err) = result {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
