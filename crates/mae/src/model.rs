//! One MAE step's forward pass and loss, over any encoder view ([`EncoderView`]: the dense ViT,
//! or one whose block weights a template composed for this step).

use burn::prelude::*;
use sweet_vit::EncoderView;

use crate::decoder::MaeDecoder;
use crate::masking::MaskPlan;
use crate::patches::{norm_pix, patchify};

/// MAE's `forward_loss` with `norm_pix_loss=True`: the per-patch mean squared error of `pred`
/// against `norm_pix(patchify(images))`, averaged over the removed patches.
/// pred `[B, N, p*p*C]`, images `[B, C, H, W]` -> `[1]`.
///
/// With nothing removed (mask ratio 0) the average is over all patches instead of dividing by
/// zero.
pub fn mae_loss(pred: Tensor<3>, images: Tensor<4>, patch: usize, plan: &MaskPlan) -> Tensor<1> {
    let [b, n, _] = pred.dims();
    let device = pred.device();
    assert_eq!(
        (b, n),
        (plan.batch, plan.n),
        "pred [B, N] differ from the plan's"
    );
    let target = norm_pix(patchify(images, patch));
    let per_patch: Tensor<2> = (pred - target).square().mean_dim(2).reshape([b, n]);
    let removed = b * plan.masked();
    if removed == 0 {
        return per_patch.mean();
    }
    (per_patch * plan.mask_tensor(&device)).sum() / removed as f64
}

/// MAE's forward: `tokens = encoder.patch_tokens(images)` (patch embedding plus positions),
/// keep the plan's visible tokens, `latent = encoder.encode(visible)` (class token, blocks,
/// norm), decode every patch and score the removed ones.
/// images `[B, C, H, W]` -> (loss `[1]`, pred `[B, N, p*p*C]`).
pub fn mae_forward(
    encoder: &EncoderView,
    decoder: &MaeDecoder,
    images: Tensor<4>,
    plan: &MaskPlan,
) -> (Tensor<1>, Tensor<3>) {
    let tokens = encoder.patch_tokens(images.clone());
    let latent = encoder.encode(plan.gather_visible(tokens));
    let pred = decoder.forward(latent, plan);
    let loss = mae_loss(pred.clone(), images, encoder.patch_size, plan);
    (loss, pred)
}
