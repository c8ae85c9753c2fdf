//! `sweet predict`: logits for images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burn::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors};
use serde_json::json;
use sweet_vit::checkpoint;
use sweet_vit::names::HostTensor;

/// Compute logits with a model folder.
///
/// --input is one image (PNG/JPEG), a folder of images (sorted by name; converted to the model's
/// channels, resized to its input size and normalized with config.json's mean/std), or a
/// .safetensors file with a float32 tensor `images` [B, C, H, W] already normalized.
/// --output gets a safetensors file with `logits` [B, classes] (and the image names in its
/// metadata).
///
/// Example: sweet predict --model runs/mnist/model --input digit.png --output logits.safetensors
#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 256, value_parser = super::at_least_one)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
}

/// Normalized images `[B, C, H, W]` as f32 values, and their names.
pub(super) fn read_input(
    path: &Path,
    c: usize,
    h: usize,
    w: usize,
    mean: &[f32],
    std: &[f32],
) -> anyhow::Result<(Vec<f32>, usize, Vec<String>)> {
    if path.extension().is_some_and(|e| e == "safetensors") {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{}: not a safetensors file", path.display()))?;
        let t = st
            .tensor("images")
            .with_context(|| format!("{}: no tensor named `images`", path.display()))?;
        if t.dtype() != Dtype::F32 {
            bail!(
                "{}: `images` is {:?}, expected F32",
                path.display(),
                t.dtype()
            );
        }
        let s = t.shape();
        if s.len() != 4 || s[1..] != [c, h, w] {
            bail!(
                "{}: `images` has shape {s:?}, the model takes [B, {c}, {h}, {w}]",
                path.display()
            );
        }
        let v = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        return Ok((v, s[0], (0..s[0]).map(|i| format!("images[{i}]")).collect()));
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        f.sort();
        if f.is_empty() {
            bail!(
                "{}: no .png/.jpg/.jpeg images in this folder",
                path.display()
            );
        }
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut values = Vec::with_capacity(files.len() * c * h * w);
    for f in &files {
        let px = sweet_data::image_folder::load_chw(f, c, w as u32, h as u32)?;
        for (i, p) in px.iter().enumerate() {
            let ch = i / (h * w);
            values.push((*p as f32 / 255.0 - mean[ch]) / std[ch]);
        }
    }
    let names = files.iter().map(|f| f.display().to_string()).collect();
    Ok((values, files.len(), names))
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let device = super::device();
    let (model, cfg) = checkpoint::load_model(&a.model, &device)?;
    let [c, h, w] = cfg.pretrained_cfg.input_size;
    let p = &cfg.pretrained_cfg;
    let (values, n, names) = read_input(&a.input, c, h, w, &p.mean, &p.std)?;
    let k = cfg.num_classes.max(1);
    let mut logits = Vec::with_capacity(n * k);
    let per = c * h * w;
    for start in (0..n).step_by(a.batch_size.max(1)) {
        let b = a.batch_size.min(n - start);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                values[start * per..(start + b) * per].to_vec(),
                [b, c, h, w],
            ),
            &device,
        );
        logits.extend(
            model
                .forward(x)
                .into_data()
                .try_into_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    let k = logits.len() / n.max(1);
    let meta = BTreeMap::from([
        ("inputs".to_string(), serde_json::to_string(&names)?),
        ("format".to_string(), "sweet.logits".to_string()),
    ]);
    let tensor = HostTensor {
        shape: vec![n, k],
        values: logits.clone(),
    };
    sweet_vit::tensor_file::write(&a.output, &[("logits".to_string(), tensor)], &meta)?;
    let top1: Vec<usize> = logits
        .chunks(k)
        .map(|r| {
            r.iter()
                .enumerate()
                .max_by(|x, y| x.1.total_cmp(y.1))
                .map(|(i, _)| i)
                .unwrap_or(0)
        })
        .collect();
    super::print_result(
        a.json,
        &json!({ "output": a.output, "images": n, "classes": k, "top1": top1 }),
    );
    Ok(())
}
