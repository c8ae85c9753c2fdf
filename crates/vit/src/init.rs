//! Seeded initializers reproducing timm's defaults, independent of the backend's RNG.
//!
//! All draws come from one ChaCha stream so a seed fixes the whole model on every backend.

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// The random stream a model is initialized from.
pub struct Init {
    rng: ChaCha8Rng,
    device: Device,
}

impl Init {
    pub fn new(seed: u64, device: &Device) -> Self {
        Init {
            rng: ChaCha8Rng::seed_from_u64(seed),
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    fn tensor<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    /// timm's `trunc_normal_(std)`: normal(0, std) redrawn outside the absolute bounds [-2, 2].
    pub fn trunc_normal<const D: usize>(&mut self, shape: [usize; D], std: f32) -> Tensor<D> {
        let n = Normal::new(0.0f32, std).expect("std is finite and positive");
        let values = (0..shape.iter().product::<usize>())
            .map(|_| loop {
                let v = n.sample(&mut self.rng);
                if (-2.0..=2.0).contains(&v) {
                    break v;
                }
            })
            .collect();
        self.tensor(values, shape)
    }

    /// normal(0, std) without truncation (timm's class token: std 1e-6).
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], std: f32) -> Tensor<D> {
        let n = Normal::new(0.0f32, std).expect("std is finite and positive");
        let values = (0..shape.iter().product::<usize>())
            .map(|_| n.sample(&mut self.rng))
            .collect();
        self.tensor(values, shape)
    }

    /// U(-bound, bound): PyTorch's default Conv2d init (kaiming_uniform with a = sqrt(5) gives
    /// bound = 1/sqrt(fan_in), same bound for the bias), which timm keeps for `patch_embed.proj`.
    pub fn uniform<const D: usize>(&mut self, shape: [usize; D], bound: f32) -> Tensor<D> {
        let u = Uniform::new_inclusive(-bound, bound).expect("bound is finite");
        let values = (0..shape.iter().product::<usize>())
            .map(|_| u.sample(&mut self.rng))
            .collect();
        self.tensor(values, shape)
    }

    pub fn zeros<const D: usize>(&self, shape: [usize; D]) -> Tensor<D> {
        Tensor::zeros(shape, &self.device)
    }

    pub fn ones<const D: usize>(&self, shape: [usize; D]) -> Tensor<D> {
        Tensor::ones(shape, &self.device)
    }

    /// A fresh u64 from the stream, to seed something else deterministically.
    pub fn next_seed(&mut self) -> u64 {
        self.rng.random()
    }
}
