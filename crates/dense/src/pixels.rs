//! Semantic segmentation's per-pixel loss and prediction: the head map holds one logit per
//! class at every pixel.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use sweet_data::dense::IGNORE;

/// Mean cross-entropy over the pixels whose label is not [`IGNORE`] (PyTorch's
/// `F.cross_entropy(logits, labels, ignore_index=255)`): `logits` `[B, K, H, W]`, `labels` the
/// `B` maps `[H, W]` flattened (`0..K` or 255). Returns `[1]` (0 when every pixel is ignored).
pub fn cross_entropy(logits: Tensor<4>, labels: &[u8]) -> Tensor<1> {
    let [b, k, h, w] = logits.dims();
    assert_eq!(labels.len(), b * h * w, "one label per pixel");
    let device = logits.device();
    let n = b * h * w;
    let valid: Vec<f32> = labels.iter().map(|&l| (l != IGNORE) as u8 as f32).collect();
    let count = valid.iter().sum::<f32>().max(1.0) as f64;
    let index: Vec<i64> = labels
        .iter()
        .map(|&l| if l == IGNORE { 0 } else { l as i64 })
        .collect();
    let logp = log_softmax(logits.permute([0, 2, 3, 1]).reshape([n, k]), 1);
    let index = Tensor::<2, Int>::from_data(TensorData::new(index, [n, 1]), &device);
    let valid = Tensor::<2>::from_data(TensorData::new(valid, [n, 1]), &device);
    (logp.gather(1, index) * valid).sum().neg() / count
}

/// The arg-max class of every pixel: `[B, K, H, W]` -> the `B` maps `[H, W]` flattened.
pub fn predict(logits: Tensor<4>) -> Vec<u8> {
    let [b, _, h, w] = logits.dims();
    logits
        .argmax(1)
        .reshape([b * h * w])
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .expect("int data")
        .into_iter()
        .map(|c| c as u8)
        .collect()
}
