//! The in-memory dataset ([`ImageSet`]), the dataset kinds and [`open`].

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::DataError;
use crate::{cifar, idx, image_folder};

/// Which dataset format to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    /// MNIST digits, IDX (raw or `.gz`), 1x28x28, 10 classes.
    Mnist,
    /// Fashion-MNIST, IDX (raw or `.gz`), 1x28x28, 10 classes.
    FashionMnist,
    /// CIFAR-10 binary batches, 3x32x32, 10 classes.
    Cifar10,
    /// `dir/{train,test}/<class>/*.{png,jpg,jpeg}`.
    ImageFolder,
}

impl DatasetKind {
    /// Canonical name, as accepted by [`FromStr`] and printed by [`fmt::Display`].
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::ImageFolder => "imagefolder",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown dataset kind name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dataset kind `{0}` (expected mnist, fashion-mnist, cifar10 or imagefolder)")]
pub struct ParseKindError(pub String);

impl FromStr for DatasetKind {
    type Err = ParseKindError;

    /// Case-insensitive; `_` is read as `-`; also accepts `fashionmnist`, `cifar-10`, `image-folder`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashionmnist" => Ok(DatasetKind::FashionMnist),
            "cifar10" | "cifar-10" => Ok(DatasetKind::Cifar10),
            "imagefolder" | "image-folder" => Ok(DatasetKind::ImageFolder),
            _ => Err(ParseKindError(s.to_string())),
        }
    }
}

/// Which split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// Options for [`open`]; only [`DatasetKind::ImageFolder`] uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Resize every image to `img_size x img_size`. `None`: the size of the first train image.
    pub img_size: Option<usize>,
    /// 1 (luma) or 3 (RGB). `None`: 3.
    pub channels: Option<usize>,
}

/// Images kept as `u8` `[N, C, H, W]` (CHW per image, row-major) plus labels; normalized at
/// batch time as `(x / 255 - mean[c]) / std[c]`.
///
/// Invariants (kept by this crate's constructors): `pixels.len() == len * channels * height * width`,
/// `labels.len() == len`, every label `< num_classes`, `class_names.len() == num_classes`,
/// `mean.len() == std.len() == channels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub len: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
    pub class_names: Vec<String>,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl ImageSet {
    /// Values per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The raw `u8` CHW pixels of image `i`. Panics if `i >= len`.
    pub fn image_u8(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Writes the normalized CHW `f32` of image `i` into `out` (`out.len() == image_len()`).
    /// Panics if `i >= len` or `out` has the wrong length (caller bugs, not bad input).
    pub fn image_f32(&self, i: usize, out: &mut [f32]) {
        let src = self.image_u8(i);
        assert_eq!(out.len(), src.len(), "image_f32: out has the wrong length");
        let plane = self.height * self.width;
        for c in 0..self.channels {
            let (mean, inv_std) = (self.mean[c], 1.0 / self.std[c]);
            let range = c * plane..(c + 1) * plane;
            for (o, &p) in out[range.clone()].iter_mut().zip(&src[range]) {
                *o = (p as f32 / 255.0 - mean) * inv_std;
            }
        }
    }

    /// The normalized value of pixel 0 per channel, `-mean / std`: the zero-padding value for
    /// augmentation in normalized space. Length `channels`.
    pub fn pad_value(&self) -> Vec<f32> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(m, s)| -m / s)
            .collect()
    }

    /// Number of samples per class, length `num_classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// A new set of the images at `indices` (in that order; repeats allowed), same metadata.
    /// Panics if an index is `>= len`.
    pub fn subset(&self, indices: &[usize]) -> ImageSet {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image_u8(i));
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            len: indices.len(),
            ..self.meta_only()
        }
    }

    /// The first `min(n, len)` images.
    pub fn take(&self, n: usize) -> ImageSet {
        let n = n.min(self.len);
        ImageSet {
            pixels: self.pixels[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            len: n,
            ..self.meta_only()
        }
    }

    /// An empty set with the same shape, classes and normalization.
    fn meta_only(&self) -> ImageSet {
        ImageSet {
            pixels: Vec::new(),
            labels: Vec::new(),
            len: 0,
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }
}

/// `"0".."n-1"`.
pub(crate) fn numbered_classes(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Opens one split of a dataset from the folder `dir`. `opts` is used by
/// [`DatasetKind::ImageFolder`] only.
///
/// - mnist / fashion-mnist: `{train,t10k}-images-idx3-ubyte` + `{train,t10k}-labels-idx1-ubyte`,
///   each raw or `.gz` (raw tried first). `[N, 1, 28, 28]`; mean/std 0.1307/0.3081 (MNIST),
///   0.2860/0.3530 (Fashion-MNIST).
/// - cifar10: `data_batch_{1..5}.bin` (train) or `test_batch.bin` (test), in `dir` or
///   `dir/cifar-10-batches-bin`; `[N, 3, 32, 32]`; class names from `batches.meta.txt` if present.
/// - imagefolder: see [`crate::image_folder`].
///
/// Every problem with the files is a [`DataError`] naming the file.
pub fn open(
    kind: DatasetKind,
    dir: &Path,
    split: Split,
    opts: &OpenOptions,
) -> Result<ImageSet, DataError> {
    if !dir.is_dir() {
        return Err(DataError::missing(dir));
    }
    match kind {
        DatasetKind::Mnist => open_idx(dir, split, 0.1307, 0.3081, numbered_classes(10)),
        DatasetKind::FashionMnist => {
            let names = FASHION_CLASSES.iter().map(|s| s.to_string()).collect();
            open_idx(dir, split, 0.2860, 0.3530, names)
        }
        DatasetKind::Cifar10 => cifar::open(dir, split),
        DatasetKind::ImageFolder => image_folder::open(dir, split, opts),
    }
}

/// MNIST-style: `{train,t10k}-images-idx3-ubyte[.gz]` + `{train,t10k}-labels-idx1-ubyte[.gz]`.
fn open_idx(
    dir: &Path,
    split: Split,
    mean: f32,
    std: f32,
    class_names: Vec<String>,
) -> Result<ImageSet, DataError> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images_path = idx::resolve(&dir.join(format!("{prefix}-images-idx3-ubyte")))?;
    let labels_path = idx::resolve(&dir.join(format!("{prefix}-labels-idx1-ubyte")))?;
    let images = idx::read_images(&images_path)?;
    let labels = idx::read_labels(&labels_path)?;
    if labels.len() != images.count {
        return Err(DataError::CountMismatch {
            path: labels_path,
            labels: labels.len(),
            images_path,
            images: images.count,
        });
    }
    let num_classes = class_names.len();
    let labels = check_labels(&labels_path, labels.into_iter().map(u32::from), num_classes)?;
    Ok(ImageSet {
        pixels: images.data,
        labels,
        len: images.count,
        channels: 1,
        height: images.height,
        width: images.width,
        num_classes,
        class_names,
        mean: vec![mean],
        std: vec![std],
    })
}

/// Collects labels, failing on the first one `>= num_classes`.
pub(crate) fn check_labels(
    path: &Path,
    labels: impl Iterator<Item = u32>,
    num_classes: usize,
) -> Result<Vec<u32>, DataError> {
    labels
        .enumerate()
        .map(|(index, label)| {
            if (label as usize) < num_classes {
                Ok(label)
            } else {
                Err(DataError::LabelOutOfRange {
                    path: path.into(),
                    index,
                    label,
                    num_classes,
                })
            }
        })
        .collect()
}
