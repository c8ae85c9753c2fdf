//! Which path a call takes: the fused kernel on Flex (with or without autodiff), or `None`
//! for the composed reference ops (other backends, other dtypes, gradient checkpointing).

use burn::backend::{Autodiff, Flex};
use burn::prelude::*;
use burn::tensor::DType;
/// burn's autodiff tensor over Flex (its type is only reachable through this alias).
pub type AutodiffTensor<B> = burn::backend::tensor::FloatTensor<Autodiff<B>>;
use burn_flex::FlexTensor;

/// Primitives of N input tensors, all on the same path.
pub enum Routed<const N: usize> {
    /// Flex without autodiff (inference).
    Plain([FlexTensor; N]),
    /// Flex under autodiff without checkpointing (training).
    Tracked([AutodiffTensor<Flex>; N]),
}

pub struct Route;

impl Route {
    pub fn wrap<const R: usize>(t: AutodiffTensor<Flex>) -> Tensor<R> {
        Tensor::from_primitive::<Autodiff<Flex>>(t)
    }
}

fn plain<const R: usize>(t: &Tensor<R>) -> Option<FlexTensor> {
    (t.dtype() == DType::F32)
        .then(|| t.clone().try_into_primitive::<Flex>().ok())
        .flatten()
}

fn tracked<const R: usize>(t: &Tensor<R>) -> Option<AutodiffTensor<Flex>> {
    (t.dtype() == DType::F32)
        .then(|| t.clone().try_into_primitive::<Autodiff<Flex>>().ok())
        .flatten()
}

pub fn one<const R: usize>(x: &Tensor<R>) -> Option<Routed<1>> {
    if let Some(p) = plain(x) {
        return Some(Routed::Plain([p]));
    }
    tracked(x).map(|t| Routed::Tracked([t]))
}

pub fn three<const R: usize, const A: usize>(
    x: &Tensor<R>,
    a: &Tensor<A>,
    b: &Tensor<1>,
) -> Option<Routed<3>> {
    if let (Some(x), Some(a), Some(b)) = (plain(x), plain(a), plain(b)) {
        return Some(Routed::Plain([x, a, b]));
    }
    match (tracked(x), tracked(a), tracked(b)) {
        (Some(x), Some(a), Some(b)) => Some(Routed::Tracked([x, a, b])),
        _ => None,
    }
}
