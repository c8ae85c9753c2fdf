//! Classification loss and accuracy.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Mean cross-entropy with label smoothing `eps`, as PyTorch's
/// `F.cross_entropy(logits, y, label_smoothing=eps)`: targets `(1 - eps) * onehot + eps / K`.
///
/// logits: `[B, K]`, labels: `[B]` (Int). Returns `[1]`.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>, eps: f64) -> Tensor<1> {
    let [b, k] = logits.dims();
    let logp = log_softmax(logits, 1);
    let nll = logp.clone().gather(1, labels.reshape([b, 1])).neg().mean();
    if eps == 0.0 {
        return nll;
    }
    let uniform = logp.neg().sum_dim(1).mean() / k as f64;
    nll * (1.0 - eps) + uniform * eps
}

/// Number of rows whose arg-max equals the label. logits: `[B, K]`, labels: `[B]`.
pub fn correct(logits: Tensor<2>, labels: Tensor<1, Int>) -> usize {
    let [b, _] = logits.dims();
    let pred = logits.argmax(1).reshape([b]);
    pred.equal(labels).int().sum().into_scalar::<i64>() as usize
}
