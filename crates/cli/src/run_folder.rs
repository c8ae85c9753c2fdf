//! The flags of a training run's folder and of one invocation, shared by every command that
//! trains (`train`, `finetune`, `pretrain`, `detect|segment train`, `generate train`), and the
//! one way such a command starts or resumes its run.

use std::path::PathBuf;

use clap::Args;
use serde::de::DeserializeOwned;

#[derive(Args, Clone, Debug)]
pub struct RunFolderArgs {
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Run folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (every setting but --workers and
    /// --json comes from the run file in --out).
    #[arg(long)]
    pub resume: bool,
    /// Print the final result as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Train data-parallel on these devices, one model replica each (comma-separated, e.g.
    /// cuda:0,cuda:1; cpu,cpu runs two replicas on the CPU, for testing): --batch-size is the
    /// global batch, split evenly; the first device's replica is evaluated, logged and
    /// checkpointed. Instead of --device; allowed with --resume.
    #[arg(long, value_delimiter = ',', value_name = "DEVICE,...", value_parser = crate::commands::parse_device)]
    pub devices: Vec<crate::commands::DeviceChoice>,
    /// Stop after this many epochs of this invocation, as if killed (for testing --resume).
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

impl RunFolderArgs {
    /// The settings of this invocation's run: with `--resume` read from the run file `file`
    /// of `--out` (refusing flags it would ignore: `given` names those typed), else made by
    /// `fresh` once `--out` is known to hold no run; then this invocation's `--stop-after` and
    /// (when typed) `--workers` applied to the loop settings `loop_of` points at, and the
    /// `--devices` of a data-parallel run (their first becomes the device of the command).
    pub fn open<T: DeserializeOwned>(
        &self,
        file: &str,
        given: &[String],
        fresh: impl FnOnce() -> anyhow::Result<T>,
        loop_of: impl FnOnce(&mut T) -> &mut sweet_train::LoopConfig,
    ) -> anyhow::Result<T> {
        let mut run = if self.resume {
            crate::commands::refuse_flags_ignored_on_resume(given, &self.out.join(file))?;
            let run = crate::commands::read_run(&self.out, file)?;
            eprintln!(
                "resuming {} (settings from {})",
                self.out.display(),
                self.out.join(file).display()
            );
            run
        } else {
            sweet_train::run::refuse_existing_run(&self.out)?;
            fresh()?
        };
        let replicas = crate::commands::select_replicas(&self.devices)?;
        let cfg = loop_of(&mut run);
        cfg.stop_after = self.stop_after;
        if replicas.len() > 1 && cfg.batch_size.is_multiple_of(replicas.len()) {
            let names: Vec<String> = self.devices.iter().map(ToString::to_string).collect();
            eprintln!(
                "data-parallel: {} replicas on {}, {} images each per step",
                replicas.len(),
                names.join(", "),
                cfg.batch_size / replicas.len()
            );
        }
        cfg.replicas = replicas;
        if given.iter().any(|f| f == "--workers") {
            cfg.workers = self.workers;
        }
        Ok(run)
    }
}
