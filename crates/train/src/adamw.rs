//! AdamW with timm's parameter groups and PyTorch's global-norm gradient clipping.
//!
//! burn's AdamW decays every parameter and clips per tensor (FRAMEWORK.md trap 4); this one
//! follows PyTorch exactly: `clip_grad_norm_` over all gradients at once, decay only for
//! parameters where [`decays`] holds, and the update
//! `p <- p * (1 - lr * wd) - lr * (m / bc1) / (sqrt(v / bc2) + eps)`.
//! The update runs as one fused loop per parameter on host memory; the moments live there too,
//! which also makes them trivial to checkpoint.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::Gradients;
use serde::{Deserialize, Serialize};
use sweet_vit::names::{decays, map_params, HostTensor, NamedMap};

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
pub struct AdamW {
    pub cfg: AdamWConfig,
    pub step: u64,
    pub exp_avg: BTreeMap<String, Vec<f32>>,
    pub exp_avg_sq: BTreeMap<String, Vec<f32>>,
}

/// What one step saw.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

struct CollectGrads<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    out: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = param.val().grad(self.grads) {
            self.out
                .insert(self.path.join("."), HostTensor::from_tensor(&g).values);
        }
    }
}

impl AdamW {
    pub fn new(cfg: AdamWConfig) -> Self {
        AdamW {
            cfg,
            step: 0,
            exp_avg: BTreeMap::new(),
            exp_avg_sq: BTreeMap::new(),
        }
    }

    /// One update of every parameter that has a gradient in `grads`; parameters without one
    /// (frozen) are left as they are.
    pub fn step<M: Module>(&mut self, module: M, grads: &Gradients, lr: f64) -> (M, StepStats) {
        let mut collect = CollectGrads {
            grads,
            path: Vec::new(),
            out: BTreeMap::new(),
        };
        module.visit(&mut collect);
        let mut grads = collect.out;
        let sq: f64 = grads
            .values()
            .flat_map(|g| g.iter())
            .map(|&x| (x as f64) * (x as f64))
            .sum();
        let grad_norm = sq.sqrt();
        if let Some(max) = self.cfg.grad_clip {
            // torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), applied when < 1.
            let coef = max / (grad_norm + 1e-6);
            if coef < 1.0 {
                grads
                    .values_mut()
                    .flat_map(|g| g.iter_mut())
                    .for_each(|x| *x *= coef as f32);
            }
        }
        self.step += 1;
        let mut update = Update {
            opt: self,
            grads: &grads,
            lr,
        };
        let module = map_params(module, &mut update);
        (module, StepStats { grad_norm })
    }
}

struct Update<'a> {
    opt: &'a mut AdamW,
    grads: &'a BTreeMap<String, Vec<f32>>,
    lr: f64,
}

impl NamedMap for Update<'_> {
    fn map<const D: usize>(&mut self, key: &str, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(g) = self.grads.get(key) else {
            return param;
        };
        let c = &self.opt.cfg;
        let t = self.opt.step as i32;
        let (b1, b2) = (c.beta1, c.beta2);
        let bc1 = 1.0 - b1.powi(t);
        let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
        let step_size = (self.lr / bc1) as f32;
        let eps = c.eps as f32;
        let (b1, b2) = (b1 as f32, b2 as f32);
        let m = self
            .opt
            .exp_avg
            .entry(key.to_string())
            .or_insert_with(|| vec![0.0; g.len()]);
        let v = self
            .opt
            .exp_avg_sq
            .entry(key.to_string())
            .or_insert_with(|| vec![0.0; g.len()]);
        param.map(|p| {
            let device = p.device();
            let mut host = HostTensor::from_tensor(&p);
            let decay = if decays(key, &host.shape) {
                1.0 - (self.lr * c.weight_decay) as f32
            } else {
                1.0
            };
            let inv_bc2 = (1.0 / bc2_sqrt) as f32;
            for i in 0..g.len() {
                let gi = g[i];
                m[i] = b1 * m[i] + (1.0 - b1) * gi;
                v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                let denom = v[i].sqrt() * inv_bc2 + eps;
                host.values[i] = host.values[i] * decay - step_size * m[i] / denom;
            }
            host.to_tensor::<D>(&device).require_grad()
        })
    }
}
