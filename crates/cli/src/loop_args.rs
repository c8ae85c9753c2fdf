//! The loop flags that `detect|segment train` and `generate train` share (epochs, batch size,
//! lr schedule, AdamW's weight decay and clipping), and the one way they become a new run's
//! loop settings.

use clap::Args;
use sweet_train::adamw::AdamWConfig;
use sweet_train::LoopConfig;

use crate::run_folder::RunFolderArgs;

/// The loop flags of `sweet detect|segment train` and `sweet generate train`, with the defaults
/// of `detect|segment train`. `generate train` gives --batch-size, --min-lr and --weight-decay
/// (and its help) its own defaults with `mut_arg`, so the flags keep their place in `--help`.
#[derive(Args, Debug)]
pub struct LoopArgs {
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32, value_parser = crate::commands::at_least_one)]
    pub batch_size: usize,
    /// Peak learning rate (after warm-up, then half-cycle cosine to --min-lr).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 1e-6)]
    pub min_lr: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    /// Clip the global L2 norm of all gradients to this value.
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
}

impl LoopArgs {
    /// The loop settings of a new run: these flags (AdamW's other settings its defaults), at
    /// most `max_steps` optimizer steps, and the seed and loading threads of `folder`.
    pub fn loop_config(&self, max_steps: Option<usize>, folder: &RunFolderArgs) -> LoopConfig {
        LoopConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup_epochs: self.warmup_epochs,
            optimizer: AdamWConfig {
                weight_decay: self.weight_decay,
                grad_clip: Some(self.grad_clip),
                ..AdamWConfig::default()
            },
            seed: folder.seed,
            workers: folder.workers,
            max_steps,
            stop_after: None,
            replicas: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::commands::{dense::Dense, generate::Generate};
    use crate::{Cli, Command};

    fn loop_args(args: &[&str]) -> super::LoopArgs {
        match Cli::try_parse_from(args).unwrap().command {
            Command::Detect(Dense::Train(a)) | Command::Segment(Dense::Train(a)) => a.loop_args,
            Command::Generate(Generate::Train(a)) => a.loop_args,
            _ => unreachable!("not a command with loop flags"),
        }
    }

    /// `generate train`'s own defaults (set by name and as text) parse as the numbers they were.
    #[test]
    fn each_command_keeps_its_loop_defaults() {
        let of = |l: super::LoopArgs| {
            let schedule = (l.epochs, l.batch_size, l.lr, l.min_lr, l.warmup_epochs);
            (schedule, l.weight_decay, l.grad_clip)
        };
        let detect = loop_args(&["sweet", "detect", "train", "--data-dir", "d", "--out", "o"]);
        assert_eq!(of(detect), ((20, 32, 5e-4, 1e-6, 1.0), 0.05, 1.0));
        let generate = loop_args(&["sweet", "generate", "train", "--out", "o"]);
        assert_eq!(of(generate), ((20, 128, 5e-4, 1e-5, 1.0), 0.0, 1.0));
    }
}
