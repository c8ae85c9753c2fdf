//! AdamW with parameter groups ([`ParamGroups`]: per-key lr scale and weight-decay rule) and
//! PyTorch's global-norm gradient clipping.
//!
//! burn's AdamW decays every parameter and clips per tensor (FRAMEWORK.md trap 4); this one
//! follows `torch.optim.AdamW` with one param group per (lr scale, decay) pair, preceded by
//! `torch.nn.utils.clip_grad_norm_` over all gradients at once. With `lr_k = lr * scale(key)`:
//!
//! ```text
//! norm = || (||g_1||, ..., ||g_n||) ||            coef = min(max_norm / (norm + 1e-6), 1)
//! g    = g * coef                                  (only with clipping)
//! m    = m + (1 - b1) * (g - m)                    v = b2 * v + (1 - b2) * g * g
//! p    = p * (1 - lr_k * wd) - (lr_k / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
//! ```
//!
//! (`wd` only where [`ParamGroups::decays`] holds; `bc1 = 1 - b1^t`, `bc2 = 1 - b2^t`). The whole
//! step, norm and clipping coefficient included, runs as tensor ops on the parameters' device:
//! nothing is read back to the host, so nothing waits for the device. The moments live there
//! too, flattened per parameter; checkpoints copy them to the host ([`crate::run_state`]).
//! `tests/adamw.rs` checks ten steps against PyTorch.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use serde::{Deserialize, Serialize};
use sweet_vit::names::{map_params, visit_params, NamedMap, NamedVisit};

pub use crate::param_groups::ParamGroups;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Max global L2 norm of all gradients together; `None` = no clipping.
    pub grad_clip: Option<f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.05,
            grad_clip: None,
        }
    }
}

/// Optimizer state: step count and per-parameter moments keyed like the parameters.
#[derive(Clone, Debug)]
pub struct AdamW {
    pub cfg: AdamWConfig,
    /// Per-key lr scale and decay rule (timm's rule, scale 1.0, unless set).
    pub groups: ParamGroups,
    /// Steps taken (the `t` of the bias corrections).
    pub step: u64,
    /// First moment of each parameter, flattened `[numel]`, on the parameter's device without
    /// autodiff. Created at the parameter's first step.
    pub exp_avg: BTreeMap<String, Tensor<1>>,
    /// Second moment of each parameter, flattened `[numel]`, like [`Self::exp_avg`].
    pub exp_avg_sq: BTreeMap<String, Tensor<1>>,
}

/// What one step saw. Holds device tensors: reading a value waits for the device.
#[derive(Clone, Debug)]
pub struct StepStats {
    /// Global gradient norm before clipping, `[1]`; `None` when no parameter had a gradient.
    pub grad_norm: Option<Tensor<1>>,
}

impl StepStats {
    /// The global gradient norm before clipping (0 when no parameter had a gradient); reads
    /// it from the device.
    pub fn grad_norm(&self) -> f64 {
        self.grad_norm
            .as_ref()
            .map_or(0.0, |n| n.clone().into_scalar::<f32>() as f64)
    }
}

/// Every gradient in `grads` of a parameter of the visited module, flattened `[numel]`, by
/// key (the same keys as [`map_params`] hands the update, and as checkpoints use).
struct CollectGrads<'a> {
    grads: &'a Gradients,
    out: BTreeMap<String, Tensor<1>>,
}

impl NamedVisit for CollectGrads<'_> {
    fn visit<const D: usize>(&mut self, key: &str, param: &Param<Tensor<D>>) {
        if let Some(g) = param.val().grad(self.grads) {
            let n = g.shape().num_elements();
            self.out.insert(key.to_string(), g.reshape([n]));
        }
    }
}

/// The gradient in `grads` of every parameter of `module` that has one, flattened `[numel]`,
/// by key (what [`AdamW::step_by_key`] consumes).
pub fn gradients_by_key<M: Module>(module: &M, grads: &Gradients) -> BTreeMap<String, Tensor<1>> {
    let mut collect = CollectGrads {
        grads,
        out: BTreeMap::new(),
    };
    visit_params(module, &mut collect);
    collect.out
}

impl AdamW {
    /// Fresh state with timm's parameter groups.
    pub fn new(cfg: AdamWConfig) -> Self {
        AdamW {
            cfg,
            groups: ParamGroups::default(),
            step: 0,
            exp_avg: BTreeMap::new(),
            exp_avg_sq: BTreeMap::new(),
        }
    }

    /// The same optimizer with other parameter groups.
    pub fn with_groups(mut self, groups: ParamGroups) -> Self {
        self.groups = groups;
        self
    }

    /// A copy of this state with its moments on `device` (a non-autodiff device), for another
    /// replica of a data-parallel run.
    pub fn forked(&self, device: &Device) -> AdamW {
        let moved = |m: &BTreeMap<String, Tensor<1>>| {
            m.iter()
                .map(|(k, t)| (k.clone(), t.clone().to_device(device)))
                .collect()
        };
        AdamW {
            cfg: self.cfg.clone(),
            groups: self.groups.clone(),
            step: self.step,
            exp_avg: moved(&self.exp_avg),
            exp_avg_sq: moved(&self.exp_avg_sq),
        }
    }

    /// One update of every parameter that has a gradient in `grads`; parameters without one
    /// (frozen) are left as they are. `lr` is the base learning rate, scaled per key by
    /// [`ParamGroups::lr_scale`].
    pub fn step<M: Module>(&mut self, module: M, grads: &Gradients, lr: f64) -> (M, StepStats) {
        let grads = gradients_by_key(&module, grads);
        self.step_by_key(module, grads, lr)
    }

    /// [`Self::step`] with the gradients already gathered by [`gradients_by_key`] (and, in a
    /// data-parallel run, averaged over the replicas: clipping then sees the reduced ones).
    pub fn step_by_key<M: Module>(
        &mut self,
        module: M,
        mut grads: BTreeMap<String, Tensor<1>>,
        lr: f64,
    ) -> (M, StepStats) {
        self.step += 1;
        if grads.is_empty() {
            return (module, StepStats { grad_norm: None });
        }
        // As clip_grad_norm_: the norm of the per-tensor norms, `[1]`.
        let norms: Vec<Tensor<1>> = grads
            .values()
            .map(|g| g.clone().square().sum().sqrt())
            .collect();
        let grad_norm = Tensor::cat(norms, 0).square().sum().sqrt();
        if let Some(max) = self.cfg.grad_clip {
            // torch: clip_coef = max_norm / (norm + 1e-6), clamped to 1 and multiplied in
            // unconditionally (a multiply by 1 changes nothing), so no host read is needed.
            let coef = grad_norm
                .clone()
                .add_scalar(1e-6)
                .recip()
                .mul_scalar(max)
                .clamp_max(1.0);
            for g in grads.values_mut() {
                *g = g.clone().mul(coef.clone());
            }
        }
        let mut update = Update {
            opt: self,
            grads: &grads,
            lr,
        };
        let module = map_params(module, &mut update);
        let stats = StepStats {
            grad_norm: Some(grad_norm),
        };
        (module, stats)
    }
}

struct Update<'a> {
    opt: &'a mut AdamW,
    grads: &'a BTreeMap<String, Tensor<1>>,
    lr: f64,
}

impl NamedMap for Update<'_> {
    fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(g) = self.grads.get(key) else {
            return param;
        };
        let c = &self.opt.cfg;
        let t = self.opt.step as i32;
        let lr = self.lr * self.opt.groups.lr_scale(key);
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        let (b1, b2) = (c.beta1, c.beta2);
        let m = match self.opt.exp_avg.remove(key) {
            Some(m) => m.clone().add(g.clone().sub(m).mul_scalar(1.0 - b1)),
            None => g.clone().mul_scalar(1.0 - b1),
        };
        let g2 = g.clone().mul_scalar(1.0 - b2).mul(g.clone());
        let v = match self.opt.exp_avg_sq.remove(key) {
            Some(v) => v.mul_scalar(b2).add(g2),
            None => g2,
        };
        let denom = v.clone().sqrt().div_scalar(bc2_sqrt).add_scalar(c.eps);
        let step = m.clone().div(denom).mul_scalar(lr / bc1);
        let wd = c.weight_decay;
        let groups = &self.opt.groups;
        let param = param.map(|p| {
            let shape = p.shape();
            let decay = groups.decays(key, shape.as_slice());
            let require_grad = p.is_require_grad();
            let strategy = p.gradient_checkpointing_strategy();
            let n = shape.num_elements();
            let mut flat = p.inner().reshape([n]);
            if decay {
                flat = flat.mul_scalar(1.0 - lr * wd);
            }
            // Lifted back onto autodiff as a fresh leaf, like burn's own optimizers do.
            let mut new = flat.sub(step).reshape(shape);
            if let Some(strategy) = strategy {
                new = Tensor::from_inner(new).with_gradient_checkpointing_strategy(strategy);
            }
            if require_grad {
                new = new.require_grad();
            }
            new
        });
        self.opt.exp_avg.insert(key.to_string(), m);
        self.opt.exp_avg_sq.insert(key.to_string(), v);
        param
    }
}
