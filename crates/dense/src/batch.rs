//! A loader batch of a [`DenseSet`]'s images with what its tasks need from the set: the
//! objects and semantic maps of the batch's images (looked up through `batch.indices`).

use burn::prelude::*;
use sweet_data::{Batch, DenseSet, Object};

/// The batch's images on `device`: `[B, C, H, W]`.
pub fn images(batch: &Batch, device: &Device) -> Tensor<4> {
    let shape = [batch.batch_size, batch.channels, batch.height, batch.width];
    Tensor::from_data(TensorData::new(batch.images.clone(), shape), device)
}

/// The objects of each batch image.
pub fn objects<'a>(set: &'a DenseSet, indices: &[usize]) -> Vec<&'a [Object]> {
    indices.iter().map(|&i| set.objects[i].as_slice()).collect()
}

/// The semantic maps of the batch images, `[B, H, W]` flattened.
///
/// # Panics
/// If the set has no semantic maps (the run checks that before training).
pub fn semantic(set: &DenseSet, indices: &[usize]) -> Vec<u8> {
    indices
        .iter()
        .flat_map(|&i| {
            set.semantic_map(i)
                .expect("segmentation needs semantic maps")
                .iter()
                .copied()
        })
        .collect()
}
