//! Loader batches as tensors.

use burn::prelude::*;
use sweet_data::Batch;

/// Converts a loader batch to tensors on `device`: images `[B, C, H, W]`, labels `[B]`.
pub fn batch_tensors(batch: &Batch, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let shape = [batch.batch_size, batch.channels, batch.height, batch.width];
    let images = Tensor::from_data(TensorData::new(batch.images.clone(), shape), device);
    let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
    let labels = Tensor::from_data(TensorData::new(labels, [batch.batch_size]), device);
    (images, labels)
}
