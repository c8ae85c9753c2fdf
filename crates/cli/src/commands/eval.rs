//! `sweet eval`: top-1 accuracy of a model folder on a dataset's test split.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::json;
use sweet_data::Split;
use sweet_vit::checkpoint;

use crate::data_args::DataArgs;

/// Evaluate a model folder (model.safetensors + config.json) on the test split.
///
/// Images are normalized with config.json's mean/std (the model's, as predict does), not the
/// dataset's.
///
/// Example: sweet eval --model runs/mnist/model --data mnist --data-dir data/mnist
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model folder written by sweet (or any timm ViT saved with its config.json).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 256, value_parser = super::at_least_one)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Print the result as one JSON line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let device = super::device();
    let (model, cfg) = checkpoint::load_model(&a.model, &device)?;
    let [c, h, w] = cfg.pretrained_cfg.input_size;
    let p = &cfg.pretrained_cfg;
    let mut test = a.data.open(Split::Test)?;
    if (test.channels, test.height, test.width) != (c, h, w) {
        bail!(
            "{} takes {c}x{h}x{w} images but the data is {}x{}x{}",
            a.model.display(),
            test.channels,
            test.height,
            test.width
        );
    }
    if test.num_classes > cfg.num_classes {
        bail!(
            "the data has {} classes but the model only {}",
            test.num_classes,
            cfg.num_classes
        );
    }
    // The model was trained on inputs normalized with its own statistics.
    let set = std::sync::Arc::get_mut(&mut test).expect("the test set is not shared yet");
    set.mean = p.mean.clone();
    set.std = p.std.clone();
    let (loss, acc) =
        sweet_train::classify::evaluate(&model, &test, a.batch_size, a.workers, &device);
    super::print_result(
        a.json,
        &json!({ "model": a.model, "images": test.len, "top1": acc, "loss": loss }),
    );
    Ok(())
}
