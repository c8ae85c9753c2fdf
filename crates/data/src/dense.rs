//! Data for dense tasks (detection, semantic segmentation): images with their objects and,
//! optionally, a semantic map per image.
//!
//! The pixels are an ordinary [`ImageSet`] (labels unused: every image has label 0 of one
//! class), so the seeded [`crate::Loader`] batches them; a task looks up each batch image's
//! objects and map through the batch's `indices`.

use std::sync::Arc;

use crate::dataset::ImageSet;
use crate::image_folder::{GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD};

/// One object of an image: its class and its box.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// 0-based object class: an index into [`DenseSet::classes`].
    pub class: usize,
    /// COCO's box `[x, y, w, h]` in pixels: the top-left corner, then width and height
    /// (`w, h > 0`; a mask's tight bounds are `[x0, y0, x1 - x0 + 1, y1 - y0 + 1]`).
    pub bbox: [f32; 4],
    /// Area in pixels (COCO's `area`: the mask's pixel count where there is a mask, else
    /// `w * h`); decides COCO's small / medium / large ranges.
    pub area: f32,
}

/// Value of a semantic-map pixel that no metric or loss counts (mmseg's and COCO-stuff's 255).
pub const IGNORE: u8 = 255;

/// A dense-task split in memory.
///
/// Invariants (kept by this crate's readers): `ids`, `file_names` and `objects` have
/// `images.len` entries; every object's class is `< classes.len()`; `semantic`, when present,
/// has `images.len * images.height * images.width` values, each `0` (background), `k + 1`
/// (object class `k`) or [`IGNORE`].
#[derive(Clone, Debug)]
pub struct DenseSet {
    /// The pixels `[N, C, H, W]` with their normalization (labels all 0, one class).
    pub images: Arc<ImageSet>,
    /// COCO image ids, one per image.
    pub ids: Vec<u64>,
    /// Image file names (relative to the split's image folder), one per image.
    pub file_names: Vec<String>,
    /// The objects of each image.
    pub objects: Vec<Vec<Object>>,
    /// Object class names; class `k` is COCO category `category_ids[k]`.
    pub classes: Vec<String>,
    pub category_ids: Vec<u64>,
    /// Semantic maps `[N, H, W]` (0 background, `k + 1` class `k`, [`IGNORE`]), when the data
    /// has them.
    pub semantic: Option<Vec<u8>>,
}

impl DenseSet {
    /// Images in the set.
    pub fn len(&self) -> usize {
        self.images.len
    }

    pub fn is_empty(&self) -> bool {
        self.images.len == 0
    }

    /// Classes of the semantic maps: the object classes plus background (class 0).
    pub fn semantic_classes(&self) -> usize {
        self.classes.len() + 1
    }

    /// The semantic map `[H, W]` of image `i`, when the set has maps.
    pub fn semantic_map(&self, i: usize) -> Option<&[u8]> {
        let n = self.images.height * self.images.width;
        self.semantic.as_ref().map(|m| &m[i * n..(i + 1) * n])
    }

    /// The first `n` images (all of them when `n >= len`), for per-epoch evaluation.
    pub fn take(&self, n: usize) -> DenseSet {
        let n = n.min(self.len());
        let plane = self.images.height * self.images.width;
        DenseSet {
            images: Arc::new(self.images.take(n)),
            ids: self.ids[..n].to_vec(),
            file_names: self.file_names[..n].to_vec(),
            objects: self.objects[..n].to_vec(),
            classes: self.classes.clone(),
            category_ids: self.category_ids.clone(),
            semantic: self.semantic.as_ref().map(|m| m[..n * plane].to_vec()),
        }
    }
}

/// The [`ImageSet`] of a dense split: `pixels` `[len, channels, height, width]`, every label 0 of
/// one class `image`, and the normalization [`crate::image_folder`] uses (0.5 / 0.5 for gray,
/// ImageNet's for RGB).
pub(crate) fn unlabelled_images(
    pixels: Vec<u8>,
    len: usize,
    channels: usize,
    height: usize,
    width: usize,
) -> ImageSet {
    let (mean, std) = if channels == 3 {
        (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec())
    } else {
        (vec![GRAY_MEAN], vec![GRAY_STD])
    };
    ImageSet {
        pixels,
        labels: vec![0; len],
        len,
        channels,
        height,
        width,
        num_classes: 1,
        class_names: vec!["image".into()],
        mean,
        std,
    }
}
