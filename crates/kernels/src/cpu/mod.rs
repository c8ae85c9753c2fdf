//! The kernels themselves, on plain f32 slices (no burn types): easy to test in isolation.

pub mod attention;
pub mod gelu;
pub(crate) mod isa;
pub mod layer_norm;
