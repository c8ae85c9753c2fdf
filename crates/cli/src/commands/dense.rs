//! `sweet detect` and `sweet segment`: train, score and run a dense model on any backbone.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use burn::prelude::*;
use serde_json::json;
use sweet_data::Split;
use sweet_dense::folder;
use sweet_dense::infer::{detect, evaluate, segment};
use sweet_dense::run::{run_dense, DenseData, DenseRun};
use sweet_dense::train::DenseTrainConfig;
use sweet_dense::DenseTask;
use sweet_vit::checkpoint::encoder_config;
use sweet_vit::checkpoint::read_config;
use sweet_vit::{ImgSize, VitConfig};

use crate::loop_args::LoopArgs;
use crate::progress::Bars;
use crate::run_folder::RunFolderArgs;

#[derive(clap::Subcommand, Debug)]
pub enum Dense {
    Train(TrainArgs),
    Eval(EvalArgs),
    Predict(PredictArgs),
}

/// Train a dense model (a ViT backbone from any model folder, or random, with a light head on
/// its token grid) and write RUN/{run.json, metrics.jsonl, checkpoint.safetensors,
/// final.json, model/}.
///
/// detect: CenterNet boxes (a centre heatmap per class + box size and offset on a stride-4
/// map), COCO AP@[.5:.95] / AP50 / AP75 (pycocotools' protocol) every epoch. segment: per-pixel
/// classes with background, mIoU and pixel accuracy.
///
/// --model takes any model folder (a `sweet init`, `pretrain`, `train` or timm folder, e.g. at
/// 28x28 with patch 4): its classifier head is dropped, its patch embedding resampled to
/// --patch (timm's resample_patch_embed) and its position table to the data's image size. The
/// transformer blocks are used as they are. Without --model the backbone is a random init of
/// --depth / --width / --heads. RUN/model holds the backbone as a timm folder (num_classes 0)
/// with head.safetensors and dense.json.
///
/// On the canvases `sweet data canvas --out data/canvas --train 5000 --test 1000` writes:
///
/// Example, a detector from a `sweet init` folder:
///   sweet detect train --model runs/init-8x128 --data-dir data/canvas --epochs 20 --layer-decay 0.75 --out runs/detect
///
/// Example, a segmenter from a random (4, 64) ViT:
///   sweet segment train --data-dir data/canvas --depth 4 --width 64 --heads 2 --epochs 20 --out runs/segment
///
/// A killed run continues with `--resume --out RUN`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The data: DIR/{train,test}/annotations.json (COCO) with images/ and semantic/ (the
    /// layout `sweet data canvas` writes).
    #[arg(long, required_unless_present = "resume")]
    pub data_dir: Option<PathBuf>,
    /// segment only: read DIR/{train,test}/{images,masks}/ (mask PNGs of class indices, 0
    /// background, 255 ignored) instead of COCO.
    #[arg(long)]
    pub masks: bool,
    /// Start the backbone from this model folder (default: random init).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Backbone patch side for the data (the folder's patch embedding is resampled to it).
    #[arg(long, default_value_t = 8, value_parser = super::at_least_one)]
    pub patch: usize,
    /// Random backbone: blocks.
    #[arg(long, default_value_t = 8)]
    pub depth: usize,
    /// Random backbone: token width.
    #[arg(long, default_value_t = 128)]
    pub width: usize,
    /// Random backbone: attention heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Hidden width of the head's MLP (default: the backbone's width).
    #[arg(long)]
    pub head_hidden: Option<usize>,
    #[command(flatten)]
    pub loop_args: LoopArgs,
    /// Layer-wise lr decay of the backbone in (0, 1] (0.75 for pre-trained backbones); the
    /// head learns at the full lr. Default: off.
    #[arg(long)]
    pub layer_decay: Option<f64>,
    /// Stochastic depth rate of the backbone's last block.
    #[arg(long, default_value_t = 0.0)]
    pub drop_path: f64,
    /// Score only the first N test images every epoch; the whole test set at the end.
    #[arg(long, value_parser = super::at_least_one)]
    pub eval_images: Option<usize>,
    /// Stop after this many optimizer steps in all (the lr schedule spans them).
    #[arg(long, value_parser = super::at_least_one)]
    pub max_steps: Option<usize>,
    #[command(flatten)]
    pub folder: RunFolderArgs,
}

/// Score a dense model folder (RUN/model of `sweet detect|segment train`) on a data split:
/// COCO AP (detect) or mIoU (segment).
///
/// Example, a detector: sweet detect eval --model runs/detect/model --data-dir data/canvas
///
/// Example, a segmenter: sweet segment eval --model runs/segment/model --data-dir data/canvas
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub data_dir: PathBuf,
    /// segment only: image + mask-PNG folders instead of COCO.
    #[arg(long)]
    pub masks: bool,
    /// The split to score: test or train.
    #[arg(long, default_value = "test", value_parser = parse_split)]
    pub split: Split,
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    pub batch_size: usize,
    #[arg(long)]
    pub json: bool,
}

/// Run a dense model folder on images and draw what it sees: detect writes each image with its
/// boxes (class colours, scores >= --threshold) and predictions.json (every box with class
/// name and score); segment writes each image with its colour-coded class map beside it.
///
/// --input is one PNG/JPEG or a folder of them (converted to the model's channels and size).
///
/// Example, a detector: sweet detect predict --model runs/detect/model --input data/canvas/test/images --limit 8 --out runs/detect/pictures
///
/// Example, a segmenter: sweet segment predict --model runs/segment/model --input data/canvas/test/images --limit 8 --out runs/segment/pictures
#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub input: PathBuf,
    /// Folder for the PNGs (created).
    #[arg(long)]
    pub out: PathBuf,
    /// detect: draw boxes scoring at least this.
    #[arg(long, default_value_t = 0.3)]
    pub threshold: f32,
    /// Enlarge pictures this many times.
    #[arg(long, default_value_t = 4, value_parser = super::at_least_one)]
    pub scale: usize,
    /// At most this many images of a folder (sorted by name).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

fn parse_split(s: &str) -> Result<Split, String> {
    match s {
        "train" => Ok(Split::Train),
        "test" => Ok(Split::Test),
        _ => Err(format!("{s}: the split is train or test")),
    }
}

pub fn run(task: DenseTask, cmd: Dense, given: &[String]) -> anyhow::Result<()> {
    match cmd {
        Dense::Train(a) => train(task, a, given),
        Dense::Eval(a) => eval(task, a),
        Dense::Predict(a) => predict(task, a),
    }
}

fn data(task: DenseTask, dir: PathBuf, masks: bool) -> anyhow::Result<DenseData> {
    match (masks, task) {
        (true, DenseTask::Detect) => {
            bail!("--masks reads segmentation data: detection needs COCO boxes")
        }
        (true, DenseTask::Segment) => Ok(DenseData::Masks { dir }),
        (false, _) => Ok(DenseData::Coco { dir }),
    }
}

/// The run file of a new run.
fn fresh_run(task: DenseTask, a: &TrainArgs) -> anyhow::Result<DenseRun> {
    let dir = a
        .data_dir
        .clone()
        .expect("clap requires --data-dir without --resume");
    let data = data(task, dir, a.masks)?;
    let train = data.open(Split::Train)?;
    let img = ImgSize::new(train.images.height, train.images.width);
    let chans = train.images.channels;
    let folder = match &a.model {
        Some(dir) => read_config(dir)?.vit(),
        None => VitConfig {
            img_size: img,
            patch_size: a.patch,
            in_chans: chans,
            embed_dim: a.width,
            depth: a.depth,
            num_heads: a.heads,
            mlp_ratio: 4.0,
            num_classes: 0,
            global_pool: Default::default(),
        },
    };
    if folder.in_chans != chans {
        bail!(
            "the backbone takes {} channels, the images of {} have {chans}",
            folder.in_chans,
            data.dir().display()
        );
    }
    let backbone = encoder_config(&folder, img, a.patch);
    backbone.validate().context("the backbone for this data")?;
    let head = task.head(
        backbone.embed_dim,
        a.head_hidden,
        a.patch,
        train.classes.len(),
    );
    Ok(DenseRun {
        task,
        data,
        init_from: a.model.clone(),
        backbone,
        head,
        train: DenseTrainConfig {
            run: a.loop_args.loop_config(a.max_steps, &a.folder),
            layer_decay: a.layer_decay,
            drop_path: a.drop_path,
            eval_images: a.eval_images,
        },
    })
}

fn train(task: DenseTask, a: TrainArgs, given: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let f = &a.folder;
    let run: DenseRun = f.open(
        DenseRun::FILE,
        given,
        || fresh_run(task, &a),
        |r| &mut r.train.run,
    )?;
    if run.task != task {
        bail!("{} is a `sweet {}` run", f.out.display(), run.task.as_str());
    }
    let mut bars = Bars::new(f.json);
    let done = run_dense(&run, &f.out, f.resume, &mut bars, &super::device())?;
    let last = done.history.last();
    let score = match &done.final_scores {
        Some(f) => Some(f.test_score),
        None => last.map(|m| m.test_score),
    };
    super::print_result(
        f.json,
        &json!({
            "run": f.out,
            "model": done.final_scores.as_ref().map(|_| f.out.join(DenseRun::MODEL_DIR)),
            "task": task.as_str(),
            "epochs_run": done.history.len(),
            "metric": task.score_name(),
            "test_score": score,
            "test": done.final_scores.as_ref().map(|f| &f.test),
            "finished": done.final_scores.is_some(),
            "seconds": started.elapsed().as_secs_f64(),
        }),
    );
    Ok(())
}

/// Reads a dense model folder and checks that it does `task`.
fn load(
    task: DenseTask,
    dir: &std::path::Path,
) -> anyhow::Result<(sweet_dense::DenseModel, folder::DenseCard, VitConfig)> {
    let loaded = folder::load(dir, &super::device())?;
    if loaded.1.task != task {
        bail!(
            "{} is a `sweet {}` model",
            dir.display(),
            loaded.1.task.as_str()
        );
    }
    Ok(loaded)
}

fn eval(task: DenseTask, a: EvalArgs) -> anyhow::Result<()> {
    let (model, card, _) = load(task, &a.model)?;
    let set = data(task, a.data_dir.clone(), a.masks)?.open(a.split)?;
    if set.classes != card.classes {
        bail!(
            "{} has the classes {:?}, the model was trained on {:?}",
            a.data_dir.display(),
            set.classes,
            card.classes
        );
    }
    let scores = evaluate(&model, task, &set, a.batch_size, 2)?;
    eprintln!("{}", scores.summary());
    super::print_result(
        a.json,
        &json!({
            "model": a.model,
            "images": set.len(),
            "metric": task.score_name(),
            "score": scores.headline(),
            "scores": scores,
        }),
    );
    Ok(())
}

fn predict(task: DenseTask, a: PredictArgs) -> anyhow::Result<()> {
    let (model, card, cfg) = load(task, &a.model)?;
    let t = sweet_vit::checkpoint::read_config(&a.model)?;
    let p = &t.pretrained_cfg;
    let (c, h, w) = (cfg.in_chans, cfg.img_size.h, cfg.img_size.w);
    let (values, n, names) = super::predict::read_input(&a.input, c, h, w, &p.mean, &p.std)?;
    let n = a.limit.map_or(n, |l| l.min(n));
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let device = super::device();
    let per = c * h * w;
    let mut listed = Vec::new();
    for i in 0..n {
        let one = values[i * per..(i + 1) * per].to_vec();
        let pixels: Vec<u8> = one
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let ch = j / (h * w);
                ((v * p.std[ch] + p.mean[ch]) * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(one, [1, c, h, w]), &device);
        let mut img = sweet_dense::draw::to_rgb(&pixels, c, h, w, a.scale);
        let stem = std::path::Path::new(&names[i])
            .file_stem()
            .map_or(format!("image{i}"), |s| s.to_string_lossy().into_owned());
        match task {
            DenseTask::Detect => {
                let dets: Vec<_> = detect(&model, x, card.classes.len())
                    .remove(0)
                    .into_iter()
                    .filter(|d| d.score >= a.threshold)
                    .collect();
                sweet_dense::draw::draw_boxes(&mut img, &dets, a.scale);
                listed.push(json!({
                    "input": names[i],
                    "boxes": dets.iter().map(|d| json!({
                        "class": card.classes[d.class], "bbox": d.bbox, "score": d.score
                    })).collect::<Vec<_>>(),
                }));
            }
            DenseTask::Segment => {
                let map = segment(&model, x);
                let colours = sweet_dense::draw::colour_map(&map, h, w, a.scale);
                let mut both = image::RgbImage::new(img.width() * 2, img.height());
                image::imageops::replace(&mut both, &img, 0, 0);
                image::imageops::replace(&mut both, &colours, img.width() as i64, 0);
                img = both;
                listed.push(json!({ "input": names[i] }));
            }
        }
        let path = a.out.join(format!("{stem}.png"));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        sweet_vit::tensor_file::atomic_write(&path, &png)?;
    }
    let list = a.out.join("predictions.json");
    let text = serde_json::to_string_pretty(&json!({ "classes": card.classes, "images": listed }))?;
    sweet_vit::tensor_file::atomic_write(&list, text.as_bytes())?;
    super::print_result(
        a.json,
        &json!({ "out": a.out, "images": n, "predictions": list }),
    );
    Ok(())
}
