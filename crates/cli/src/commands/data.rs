//! `sweet data`: make data sets for the dense tasks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use sweet_data::{write_canvas, CanvasConfig, DataError, DatasetKind, ImageSet, Split};

use crate::progress::count_bar;

#[derive(clap::Subcommand, Debug)]
pub enum Data {
    /// MNIST-canvas: a detection / segmentation set made of MNIST digits.
    ///
    /// Each SIZE x SIZE black canvas gets 1-4 digits, each scaled to 16-40 px at a random spot
    /// inside it (pixel-wise max where they overlap; a paste covering more than 20% of an
    /// earlier digit's mask is re-placed, then dropped). Train canvases use MNIST train digits,
    /// test canvases MNIST test digits. The same --seed gives byte-identical files.
    ///
    /// Writes, for each split (train, test):
    ///   OUT/<split>/images/000000.png ...    8-bit gray canvases
    ///   OUT/<split>/annotations.json         COCO: boxes, areas, RLE masks, categories "0".."9"
    ///   OUT/<split>/semantic/000000.png ...  0 background, digit + 1 on its mask
    /// and OUT/canvas.json (the settings). OUT must not exist or be empty; it is written into a
    /// temporary folder beside it and renamed at the end, so it is never half-written.
    ///
    /// Example (needs MNIST: scripts/fetch-data.sh writes data/mnist):
    ///   sweet data canvas --out data/mnist-canvas --size 64 --train 10000 --test 2000 --seed 0
    #[command(verbatim_doc_comment)]
    Canvas(CanvasArgs),
}

#[derive(clap::Args, Debug)]
pub struct CanvasArgs {
    /// The folder to write (must not exist, or be empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Canvas side in pixels (at least 40, the largest digit).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(40..=4096))]
    pub size: u32,
    /// Train canvases.
    #[arg(long, default_value_t = 10_000, value_parser = super::at_least_one)]
    pub train: usize,
    /// Test canvases.
    #[arg(long, default_value_t = 2_000, value_parser = super::at_least_one)]
    pub test: usize,
    /// Seed of every random choice (digits, sizes, positions).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MNIST folder: {train,t10k}-{images-idx3,labels-idx1}-ubyte, raw or .gz.
    #[arg(long, default_value = "data/mnist")]
    pub mnist_dir: PathBuf,
    /// Print the result as one JSON line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: Data) -> anyhow::Result<()> {
    match cmd {
        Data::Canvas(a) => canvas(a),
    }
}

/// One MNIST split; a missing file says how to fetch the set.
fn mnist(dir: &Path, split: Split) -> anyhow::Result<ImageSet> {
    match sweet_data::open(DatasetKind::Mnist, dir, split, &Default::default()) {
        Ok(set) => Ok(set),
        Err(e @ DataError::Missing { .. }) => Err(anyhow::Error::new(e).context(format!(
            "MNIST {split} digits not found in {}: run scripts/fetch-data.sh (it writes data/mnist), or point --mnist-dir at the folder holding the IDX files",
            dir.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn canvas(a: CanvasArgs) -> anyhow::Result<()> {
    let config = CanvasConfig {
        size: a.size as usize,
        train: a.train,
        test: a.test,
        seed: a.seed,
        ..CanvasConfig::default()
    };
    let train = mnist(&a.mnist_dir, Split::Train)?;
    let test = mnist(&a.mnist_dir, Split::Test)?;
    let start = Instant::now();
    let bar = count_bar((a.train + a.test) as u64, "canvases");
    let info = write_canvas(&a.out, &config, &train, &test, &mut |split, done, _| {
        let before = if split == Split::Test { a.train } else { 0 };
        bar.set_message(split.to_string());
        bar.set_position((before + done) as u64);
    })
    .with_context(|| format!("writing the canvas set {}", a.out.display()))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    if a.json {
        let counts =
            |c: sweet_data::coco::SplitCounts| json!({"images": c.images, "objects": c.objects});
        let result = json!({
            "out": a.out,
            "size": a.size,
            "seed": a.seed,
            "train": counts(info.train),
            "test": counts(info.test),
            "seconds": seconds,
        });
        println!("{result}");
    } else {
        println!(
            "wrote {} ({}x{} canvases, seed {}) in {seconds:.1} s",
            a.out.display(),
            a.size,
            a.size,
            a.seed
        );
        for (split, c) in [("train", info.train), ("test", info.test)] {
            println!("  {split}: {} images, {} objects", c.images, c.objects);
        }
    }
    Ok(())
}
