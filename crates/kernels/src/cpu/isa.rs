//! Compile a kernel for the best instruction set the running CPU has.
//!
//! The binary targets baseline x86-64 (SSE2), so loops written to auto-vectorize only get 4-lane
//! vectors. [`multiversion!`] compiles the same body three times (AVX-512, AVX2+FMA, baseline)
//! and picks one at run time, once per call.

/// Defines `pub fn $name(args) -> R` that runs `$body` compiled for AVX-512, AVX2+FMA or the
/// baseline, whichever the CPU supports.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        // Kernels take their slices one by one; bundling them into structs would hide the
        // data flow the vectorizer sees.
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v4($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn v3($($arg: $ty),*) $(-> $ret)? { imp($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features `v4` was compiled for.
                    return unsafe { v4($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above, for `v3`.
                    return unsafe { v3($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Rows handed to one rayon task: fixed (not derived from the thread count), so every reduction
/// over rows adds in the same order whatever the number of threads.
pub const ROWS_PER_TASK: usize = 32;

/// Sum of `xs` with 16 independent accumulators (vectorizes; f32 order is fixed by the length).
#[inline(always)]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            acc[i] += c[i];
        }
    }
    let mut s = 0.0;
    for r in rest {
        s += r;
    }
    acc.iter().sum::<f32>() + s
}

/// `sum_i a_i * b_i`, 16 accumulators.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    acc.iter().sum::<f32>() + s
}

/// `e^x` for f32 without a libm call, branch-free so loops over it vectorize (Cephes' `expf`
/// polynomial; relative error about 1e-7 over the clamped range [-87, 88]).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    // `as i32` saturates lane by lane in scalar code; n is a finite integer in [-126, 127] here.
    // SAFETY: n is finite and within i32's range (x was clamped above).
    let n = unsafe { n.to_int_unchecked::<i32>() };
    y * f32::from_bits(((n + 127) as u32) << 23)
}

/// `erf(z)` for `z >= 0` and `e^{-z^2}` (Abramowitz & Stegun 7.1.26: absolute error <= 1.5e-7 in
/// exact arithmetic, 5.4e-7 measured in f32 over [0, 6]).
#[inline(always)]
pub fn erf_nonneg(z: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let t = 1.0 / (1.0 + P * z);
    let poly = ((((A[4] * t + A[3]) * t + A[2]) * t + A[1]) * t + A[0]) * t;
    let e = exp(-(z * z));
    (1.0 - poly * e, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst: f32 = 0.0;
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 3e-7, "max relative error {worst}");
    }

    #[test]
    fn erf_matches_libm_within_as_bound() {
        let mut worst: f64 = 0.0;
        for i in 0..=6000 {
            let z = i as f64 * 1e-3;
            let (e, g) = erf_nonneg(z as f32);
            worst = worst.max((e as f64 - libm_erf(z)).abs());
            assert!((g as f64 - (-z * z).exp()).abs() < 1e-7 * (1.0 + (-z * z).exp()));
        }
        assert!(worst < 6e-7, "max absolute error {worst}");
    }

    /// erf by its Maclaurin series (|z| <= 3) and continued fraction (beyond), in f64.
    fn libm_erf(z: f64) -> f64 {
        if z < 3.0 {
            let (mut term, mut sum, mut k) = (z, z, 0.0);
            while term.abs() > 1e-17 {
                k += 1.0;
                term *= -z * z / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(z) = e^{-z^2}/sqrt(pi) * 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
            let mut f = z;
            for k in (1..60).rev() {
                f = z + (k as f64 / 2.0) / f;
            }
            1.0 - (-z * z).exp() / std::f64::consts::PI.sqrt() / f
        }
    }
}
