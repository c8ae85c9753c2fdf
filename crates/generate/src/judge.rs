//! The judge: a fixed classifier (an MNIST ViT shipped as a model folder) whose pooled
//! features and predictions score generated images.
//!
//! - [`Judge::score_batch`] gives a batch's pooled features `[B, D]` and arg-max classes;
//! - [`reference_stats`] the moments of the features of real images ([`FeatureStats`]);
//! - [`score`] the Fréchet distance of generated images to those moments (the judge's "FID",
//!   squared, see [`crate::frechet`]) and their class accuracy: the fraction the judge
//!   classifies as the class they were conditioned on.
//!
//! # One path for real and generated images
//!
//! Generated images are `[B, C, H, W]` f32 in **[-1, 1]** (x = 2 · pixel − 1, the diffusion
//! convention); [`real_images`] puts the `u8` pixels of an [`ImageSet`] into the same range.
//! Both then go through [`Judge::to_judge_input`]: clamped to [-1, 1], mapped to [0, 1],
//! quantized to the 256 levels of an 8-bit image (round(p · 255) / 255, what saving a PNG
//! and reading it back does) and normalized with the judge's own mean and std, (p − mean) /
//! std per channel, as the judge saw its training images. A generated image is thus scored
//! exactly as its PNG would be, and a real image reaches the judge with the values it was
//! trained on ([`ImageSet::image_f32`] with the judge's mean and std). The judge's
//! normalization is the one in its `config.json` (`pretrained_cfg`), whatever the data set
//! says.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use sweet_data::ImageSet;
use sweet_vit::checkpoint::{self, CheckpointError};
use sweet_vit::layers::Linear;
use sweet_vit::Vit;

use crate::frechet::{frechet_distance, FeatureStats, FrechetError};

/// What can go wrong while opening the judge or scoring with it, each naming what to look at.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("the judge folder {} does not exist: it must be a classifier's model folder (model.safetensors + config.json)", dir.display())]
    Missing { dir: PathBuf },
    /// A folder that is not a readable model folder.
    #[error("reading the judge {}: {source}", dir.display())]
    Model {
        dir: PathBuf,
        source: Box<CheckpointError>,
    },
    /// A model without a head: no predictions, so no class accuracy.
    #[error("{}: the judge must be a classifier, but its config.json has num_classes 0 (a model without a head)", dir.display())]
    NotAClassifier { dir: PathBuf },
    /// A `pretrained_cfg` mean / std the images cannot be normalized with.
    #[error("{}: {reason}", dir.display())]
    Normalization { dir: PathBuf, reason: String },
    /// Images of another shape than the judge takes.
    #[error("images of shape {got:?}, but the judge takes [B, {}, {}, {}]", want[0], want[1], want[2])]
    Images { got: [usize; 4], want: [usize; 3] },
    #[error("a batch of {images} images comes with {labels} labels")]
    Labels { images: usize, labels: usize },
    #[error("label {label} is not one of the judge's {classes} classes")]
    Label { label: usize, classes: usize },
    #[error("image {index} is out of range for a set of {len}")]
    Index { index: usize, len: usize },
    #[error("the reference statistics need {want} images, the set has {have}")]
    TooFewImages { want: usize, have: usize },
    #[error("the batch size must be positive")]
    ZeroBatch,
    #[error(transparent)]
    Frechet(#[from] FrechetError),
}

/// The fixed classifier, on the device it was opened on.
#[derive(Debug)]
pub struct Judge {
    /// The classifier's encoder (its head taken out into `head`).
    model: Vit,
    /// `[K, D]`.
    head: Linear,
    /// Per-channel normalization, `[C]`.
    mean: Vec<f32>,
    std: Vec<f32>,
    /// `[C, H, W]` of the images it takes.
    input: [usize; 3],
    classes: usize,
    dir: PathBuf,
}

impl Judge {
    /// Opens the classifier in the model folder `dir` (timm layout: `model.safetensors` +
    /// `config.json`) onto `device` (a plain one: the judge is never trained). Fails naming
    /// the folder when it is missing or unreadable, when its model has no head
    /// (`num_classes` 0), or when its `pretrained_cfg` mean / std are not one positive, finite
    /// value per channel.
    pub fn open(dir: &Path, device: &Device) -> Result<Judge, JudgeError> {
        if !dir.is_dir() {
            return Err(JudgeError::Missing { dir: dir.into() });
        }
        let (mut model, cfg) =
            checkpoint::load_model(dir, device).map_err(|e| JudgeError::Model {
                dir: dir.into(),
                source: Box::new(e),
            })?;
        let vit = cfg.vit();
        let head = match model.head.take() {
            Some(head) if vit.num_classes > 0 => head,
            _ => return Err(JudgeError::NotAClassifier { dir: dir.into() }),
        };
        let (mean, std) = (cfg.pretrained_cfg.mean, cfg.pretrained_cfg.std);
        check_normalization(&mean, &std, vit.in_chans).map_err(|reason| {
            JudgeError::Normalization {
                dir: dir.into(),
                reason,
            }
        })?;
        Ok(Judge {
            model,
            head,
            mean,
            std,
            input: [vit.in_chans, vit.img_size.h, vit.img_size.w],
            classes: vit.num_classes,
            dir: dir.into(),
        })
    }

    /// The number of classes K.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The width D of the pooled features.
    pub fn feature_dim(&self) -> usize {
        self.model.embed_dim()
    }

    /// `[C, H, W]` of the images the judge takes.
    pub fn input_shape(&self) -> [usize; 3] {
        self.input
    }

    /// The per-channel mean and std the judge normalizes with (its `pretrained_cfg`).
    pub fn normalization(&self) -> (&[f32], &[f32]) {
        (&self.mean, &self.std)
    }

    /// The folder the judge was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The device the judge's weights are on.
    pub fn device(&self) -> Device {
        self.model.cls_token.device()
    }

    /// Checks that `dims` is `[B, C, H, W]` with the judge's `[C, H, W]`.
    pub fn check_images(&self, dims: [usize; 4]) -> Result<(), JudgeError> {
        if dims[1..] != self.input {
            return Err(JudgeError::Images {
                got: dims,
                want: self.input,
            });
        }
        Ok(())
    }

    /// Images in [-1, 1] `[B, C, H, W]` -> the judge's input `[B, C, H, W]`: clamped to
    /// [-1, 1], mapped to p = (x + 1) / 2, quantized to round(p · 255) / 255 (ties to even:
    /// burn's `round`), then `(p − mean[c]) · (1 / std[c])` (as [`ImageSet::image_f32`]).
    /// `C` must be the judge's channel count ([`Self::check_images`]).
    pub fn to_judge_input(&self, images: Tensor<4>) -> Tensor<4> {
        let device = images.device();
        let c = self.mean.len();
        let channel =
            |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, c, 1, 1]), &device);
        let mean = channel(self.mean.clone());
        let inv_std = channel(self.std.iter().map(|s| 1.0 / s).collect());
        let pixels = images.clamp(-1.0, 1.0).add_scalar(1.0).mul_scalar(0.5);
        let levels = pixels.mul_scalar(255.0).round().div_scalar(255.0);
        (levels - mean) * inv_std
    }

    /// One forward of a batch of images in [-1, 1] `[B, C, H, W]` (on the judge's device):
    /// the pooled features `[B, D]` row-major (the head's input) and the arg-max class of
    /// each image (the first on ties), copied to the host once. Fails on images of another
    /// shape than the judge's.
    pub fn score_batch(&self, images: Tensor<4>) -> Result<(Vec<f64>, Vec<usize>), JudgeError> {
        let dims = images.dims();
        self.check_images(dims)?;
        let b = dims[0];
        if b == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let pooled = self
            .model
            .pool(self.model.features(self.to_judge_input(images)));
        let logits = self.head.forward(pooled.clone());
        let host: Vec<f32> = Tensor::cat(vec![pooled, logits], 1)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 features");
        let (d, k) = (self.feature_dim(), self.classes);
        let mut features = Vec::with_capacity(b * d);
        let mut classes = Vec::with_capacity(b);
        for row in host.chunks_exact(d + k) {
            features.extend(row[..d].iter().map(|&v| f64::from(v)));
            classes.push(argmax(&row[d..]));
        }
        Ok((features, classes))
    }
}

/// One positive, finite std and one finite mean per channel.
fn check_normalization(mean: &[f32], std: &[f32], channels: usize) -> Result<(), String> {
    if mean.len() != channels || std.len() != channels {
        return Err(format!(
            "pretrained_cfg has {} mean and {} std values for a model of {channels} channels",
            mean.len(),
            std.len()
        ));
    }
    if mean.iter().any(|m| !m.is_finite()) || std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(format!(
            "pretrained_cfg mean {mean:?} / std {std:?}: every mean must be finite and every std positive and finite"
        ));
    }
    Ok(())
}

/// The index of the largest value (the first of equal ones; NaN never wins).
fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() {
            best = i;
        }
    }
    best
}

/// The images `indices` of `set` (in that order), from their `u8` pixels `p` to
/// p / 255 · 2 − 1 in [-1, 1]: `[indices.len(), C, H, W]` on `device`, the range of generated
/// images ([`Judge::to_judge_input`] takes both). Fails on an index outside the set.
pub fn real_images(
    set: &ImageSet,
    indices: &[usize],
    device: &Device,
) -> Result<Tensor<4>, JudgeError> {
    let n = set.image_len();
    let mut values = Vec::with_capacity(indices.len() * n);
    for &index in indices {
        let pixels = (index < set.len)
            .then(|| set.pixels.get(index * n..(index + 1) * n))
            .flatten()
            .ok_or(JudgeError::Index {
                index,
                len: set.len,
            })?;
        values.extend(pixels.iter().map(|&p| p as f32 / 255.0 * 2.0 - 1.0));
    }
    let shape = [indices.len(), set.channels, set.height, set.width];
    Ok(Tensor::from_data(TensorData::new(values, shape), device))
}

/// The moments of the judge's features of the first `n` images of `set` (in batches of
/// `batch`, on the judge's device): the reference [`score`] measures generated images
/// against. Fails when the set has fewer than `n` images (n >= 2 is needed for a
/// covariance), `batch` is 0, or the set's images are not of the judge's shape.
pub fn reference_stats(
    judge: &Judge,
    set: &ImageSet,
    n: usize,
    batch: usize,
) -> Result<FeatureStats, JudgeError> {
    if batch == 0 {
        return Err(JudgeError::ZeroBatch);
    }
    if n > set.len {
        return Err(JudgeError::TooFewImages {
            want: n,
            have: set.len,
        });
    }
    let device = judge.device();
    let mut features = Vec::with_capacity(n * judge.feature_dim());
    for start in (0..n).step_by(batch) {
        let indices: Vec<usize> = (start..(start + batch).min(n)).collect();
        let (f, _) = judge.score_batch(real_images(set, &indices, &device)?)?;
        features.extend(f);
    }
    Ok(FeatureStats::from_features(&features, judge.feature_dim())?)
}

/// The scores of a set of generated images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The squared Fréchet distance of the judge's features of the generated images to the
    /// reference moments ([`frechet_distance`]).
    pub frechet: f64,
    /// The fraction of generated images the judge classifies as the label they were
    /// conditioned on.
    pub class_accuracy: f64,
    /// The number of generated images scored.
    pub samples: usize,
}

/// Scores generated images against `reference` (from [`reference_stats`]): `generated`
/// yields batches of images in [-1, 1] `[B, C, H, W]` with the label each was conditioned on
/// (`B` labels, each below the judge's class count). Needs at least 2 images in all.
pub fn score(
    judge: &Judge,
    generated: impl IntoIterator<Item = (Tensor<4>, Vec<usize>)>,
    reference: &FeatureStats,
) -> Result<Scores, JudgeError> {
    let (mut features, mut right, mut samples) = (Vec::new(), 0usize, 0usize);
    for (images, labels) in generated {
        let b = images.dims()[0];
        if labels.len() != b {
            return Err(JudgeError::Labels {
                images: b,
                labels: labels.len(),
            });
        }
        if let Some(&label) = labels.iter().find(|&&l| l >= judge.classes()) {
            return Err(JudgeError::Label {
                label,
                classes: judge.classes(),
            });
        }
        let (f, predicted) = judge.score_batch(images)?;
        features.extend(f);
        right += predicted
            .iter()
            .zip(&labels)
            .filter(|(p, l)| p == l)
            .count();
        samples += b;
    }
    let stats = FeatureStats::from_features(&features, judge.feature_dim())?;
    Ok(Scores {
        frechet: frechet_distance(&stats, reference)?,
        class_accuracy: right as f64 / samples as f64,
        samples,
    })
}
