//! The kernels themselves, on plain f32 slices (no burn types): easy to test in isolation.

pub mod attention;
pub mod gelu;
pub(crate) mod isa;
pub mod layer_norm;
pub mod linear;

/// A `Vec<f32>` of length `n` whose every element `fill` writes (and reads none first).
///
/// Not zero-filled: a zeroed allocation of activation size comes back from the allocator as
/// fresh OS pages that the kernel zeroes on first touch, every step (a fifth of the step time
/// before this). An ordinary allocation reuses the memory freed by the previous step.
pub fn filled(n: usize, fill: impl FnOnce(&mut [f32])) -> Vec<f32> {
    // SAFETY: every caller's `fill` writes all n elements before reading any of them.
    let mut v = unsafe { uninit_vec(n) };
    fill(&mut v);
    v
}

/// A `Vec<f32>` of length `n` with unspecified contents (see [`filled`] for why).
///
/// # Safety
/// The caller must write every element before reading it.
// Deliberate: zero-filling every activation buffer cost a page fault per page per step (see
// `filled`); every caller writes the whole buffer before reading it.
#[allow(clippy::uninit_vec)]
pub unsafe fn uninit_vec(n: usize) -> Vec<f32> {
    let mut v = Vec::<f32>::with_capacity(n);
    // SAFETY: capacity is n and f32 has no invalid bit patterns; the caller writes before reading.
    unsafe { v.set_len(n) };
    v
}
