//! Which parameters decay and how fast each one learns: the optimizer's parameter groups.
//!
//! PyTorch gives every param group its own `lr` and `weight_decay`; timm's and MAE's layer-wise
//! lr decay sets a group's lr to `lr * scale`, and AdamW multiplies the weight decay by that
//! group lr. [`ParamGroups`] says, per parameter key, the lr scale ([`ParamGroups::lr_scale`],
//! 1.0 unless set) and whether the parameter decays ([`ParamGroups::decays`]), so
//! [`crate::adamw::AdamW`] updates
//! `p <- p * (1 - lr * scale * wd) - lr * scale * (m / bc1) / (sqrt(v / bc2) + eps)`
//! (`wd` only where the parameter decays).
//!
//! The decay rule is timm's ([`sweet_vit::names::decays`]): matrices and higher-rank weights
//! decay; 1-D tensors (biases, norms), the tokens (`cls_token`, `mask_token`, `dist_token`) and
//! `pos_embed` do not.
//!
//! The template: `template` (the shared tensor G, `[r1, r2, r3]`) and the scalers
//! (`scalers.depth` `[12 L, r1]`, `scalers.inner` `[D, r2]`, `scalers.residual` `[D, r3]`) are
//! the factors of the model's matrices. In pre-training they follow the shape rule and decay:
//! decaying the factors is the analogue of decaying the dense matrices in MAE pre-training.
//! When new scalers are learned for a target model with the template frozen, METHOD says no
//! weight decay on the scalers: [`ParamGroups::without_decay_under`]`("scalers.")`.
//!
//! Layer-wise lr decay (MAE's `util/lr_decay.py`, fine-tuning): with `L` blocks, [`layer_id`]
//! puts the embeddings at 0, block `i` at `i + 1` and everything after the blocks at `L + 1`;
//! [`ParamGroups::layer_decay`] scales each parameter's lr by `decay^(L + 1 - id)`, crossed
//! with the decay rule (each parameter gets both).

use std::fmt;
use std::sync::Arc;

/// A per-key lr multiplier.
type LrScale = Arc<dyn Fn(&str) -> f64 + Send + Sync>;

/// The per-key lr scale and weight-decay rule the optimizer applies (see the module doc).
/// `Default` is timm's rule with lr scale 1.0 everywhere.
#[derive(Clone, Default)]
pub struct ParamGroups {
    no_decay_prefixes: Vec<String>,
    lr_scale: Option<LrScale>,
}

impl ParamGroups {
    /// timm's decay rule, lr scale 1.0 for every parameter.
    pub fn timm() -> Self {
        Self::default()
    }

    /// Exempts every key starting with `prefix` (e.g. `scalers.`) from weight decay.
    pub fn without_decay_under(mut self, prefix: impl Into<String>) -> Self {
        self.no_decay_prefixes.push(prefix.into());
        self
    }

    /// Sets the lr scale of each key (layer-wise lr decay): the parameter's lr becomes
    /// `lr * scale(key)`, its weight decay `lr * scale(key) * wd`.
    pub fn with_lr_scale(mut self, scale: impl Fn(&str) -> f64 + Send + Sync + 'static) -> Self {
        self.lr_scale = Some(Arc::new(scale));
        self
    }

    /// MAE's layer-wise lr decay for a ViT of `depth` blocks: the lr of parameter `key` is
    /// scaled by `decay^(depth + 1 - layer_id(key, depth))` (head and final norms at the full
    /// lr, block `i` at `decay^(depth - i)`, the embeddings at `decay^(depth + 1)`); timm's
    /// decay rule.
    pub fn layer_decay(decay: f64, depth: usize) -> Self {
        Self::timm().with_lr_scale(move |key| {
            decay.powi((depth + 1).saturating_sub(layer_id(key, depth)) as i32)
        })
    }

    /// The lr multiplier of the parameter `key` (1.0 unless [`Self::with_lr_scale`] set one).
    pub fn lr_scale(&self, key: &str) -> f64 {
        self.lr_scale.as_ref().map_or(1.0, |f| f(key))
    }

    /// Whether the parameter `key` of `shape` gets weight decay: timm's rule, unless its key is
    /// under a prefix given to [`Self::without_decay_under`].
    pub fn decays(&self, key: &str, shape: &[usize]) -> bool {
        !self
            .no_decay_prefixes
            .iter()
            .any(|p| key.starts_with(p.as_str()))
            && sweet_vit::names::decays(key, shape)
    }
}

/// MAE's layer id of the parameter `key` in a ViT of `depth` blocks (`get_layer_id_for_vit`):
/// 0 for `cls_token`, `pos_embed` and `patch_embed.*`; `i + 1` for `blocks.i.*`; `depth + 1`
/// for everything else (`norm`, `fc_norm`, `head`).
pub fn layer_id(key: &str, depth: usize) -> usize {
    if matches!(key, "cls_token" | "pos_embed") || key.starts_with("patch_embed.") {
        return 0;
    }
    if let Some(rest) = key.strip_prefix("blocks.") {
        if let Some(i) = rest.split('.').next().and_then(|i| i.parse::<usize>().ok()) {
            return i + 1;
        }
    }
    depth + 1
}

impl fmt::Debug for ParamGroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParamGroups")
            .field("no_decay_prefixes", &self.no_decay_prefixes)
            .field(
                "lr_scale",
                &self.lr_scale.as_ref().map(|_| "fn(key) -> f64"),
            )
            .finish()
    }
}
