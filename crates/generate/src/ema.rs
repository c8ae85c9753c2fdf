//! An exponential moving average of a model's weights (the post-step hook of a diffusion run;
//! samples come from it).
//!
//! After optimizer step `k` (0-based): `ema = d_k ema + (1 - d_k) theta` with
//! `d_k = min(decay, (1 + k) / (10 + k))`, the warm-up of TensorFlow's
//! `ExponentialMovingAverage(num_updates)` and timm's `ModelEmaV3(use_warmup)`: early on the
//! average follows the weights closely instead of holding the init for `1 / (1 - decay)` steps
//! (DiT's fixed 0.9999 assumes hundreds of thousands of steps; these runs take thousands).
//! Every update runs as tensor ops on the model's device.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::prelude::*;
use sweet_vit::names::{map_params, visit_params, NamedMap, NamedVisit};

/// The averaged copy of a model (inference device, no gradients).
#[derive(Clone, Debug)]
pub struct Ema<M> {
    pub model: M,
    pub decay: f64,
}

impl<M: Module> Ema<M> {
    /// An average that starts at `model`'s current weights (moved off the autodiff graph).
    pub fn new(model: &M, decay: f64) -> Self {
        Ema {
            model: model.clone().valid(),
            decay,
        }
    }

    /// The decay after optimizer step `step` (0-based): `min(decay, (1 + step) / (10 + step))`.
    pub fn decay_at(&self, step: usize) -> f64 {
        self.decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// Folds `model`'s weights after optimizer step `step` into the average.
    ///
    /// # Panics
    /// If `model` does not have the average's keys and shapes.
    pub fn update(&mut self, model: &M, step: usize) {
        let d = self.decay_at(step);
        let mut live = Flat::default();
        visit_params(&model.clone().valid(), &mut live);
        let mut fold = Fold { live: live.0, d };
        self.model = map_params(self.model.clone(), &mut fold);
    }
}

/// Every parameter flattened, by key.
#[derive(Default)]
struct Flat(BTreeMap<String, Tensor<1>>);

impl NamedVisit for Flat {
    fn visit<const D: usize>(&mut self, key: &str, param: &Param<Tensor<D>>) {
        self.0
            .insert(key.to_string(), param.val().flatten::<1>(0, D - 1));
    }
}

struct Fold {
    live: BTreeMap<String, Tensor<1>>,
    d: f64,
}

impl NamedMap for Fold {
    fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let theta = self
            .live
            .remove(key)
            .unwrap_or_else(|| panic!("the model has no parameter {key}"));
        let d = self.d;
        param.map(|avg| {
            let theta = theta.reshape(avg.dims());
            avg * d + theta * (1.0 - d)
        })
    }
}
