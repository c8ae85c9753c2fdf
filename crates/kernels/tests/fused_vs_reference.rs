//! Every fused kernel against the same operation composed from stock burn ops: outputs without
//! autodiff, outputs under autodiff, and the gradient of every input (through a random linear
//! functional of the output, so every output element carries a different weight).

use burn::prelude::*;
use burn::tensor::Distribution;
use sweet_kernels::{attention, gelu, layer_norm, reference};

fn max_abs_diff<const R: usize>(a: Tensor<R>, b: Tensor<R>) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b).abs().max().into_scalar::<f32>()
}

fn max_abs<const R: usize>(a: Tensor<R>) -> f32 {
    a.abs().max().into_scalar::<f32>()
}

fn rand<const R: usize>(shape: [usize; R], device: &Device) -> Tensor<R> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Asserts `got` matches `want` to `tol` relative to the largest magnitude in `want`.
fn assert_close<const R: usize>(what: &str, got: Tensor<R>, want: Tensor<R>, tol: f32) {
    let scale = max_abs(want.clone()).max(1.0);
    let diff = max_abs_diff(got, want);
    println!("{what}: max |diff| {diff:.3e} (scale {scale:.2})");
    assert!(
        diff <= tol * scale,
        "{what}: max |diff| {diff:e} > {tol:e} x {scale}"
    );
}

#[test]
fn layer_norm_matches_reference() {
    let device = Device::default();
    // Width 20 (not a multiple of the 16-lane accumulators), 3 x 37 rows (not a multiple of the
    // rows per task); beta and gamma off their init.
    for (shape, d) in [([3usize, 37, 20], 20usize), ([2, 65, 192], 192)] {
        let x = rand(shape, &device) * 3.0 + 0.5;
        let gamma = rand([d], &device);
        let beta = rand([d], &device);
        assert_close(
            "layer_norm forward",
            layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-6),
            reference::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-6),
            1e-5,
        );

        let ad = device.clone().autodiff();
        let w = rand(shape, &ad);
        let grads = |fused: bool| {
            let (x, g, b) = (
                Tensor::from_data(x.to_data(), &ad).require_grad(),
                Tensor::from_data(gamma.to_data(), &ad).require_grad(),
                Tensor::from_data(beta.to_data(), &ad).require_grad(),
            );
            let y = if fused {
                layer_norm(x.clone(), g.clone(), b.clone(), 1e-6)
            } else {
                reference::layer_norm(x.clone(), g.clone(), b.clone(), 1e-6)
            };
            let loss = (y.clone() * w.clone()).sum();
            let gr = loss.backward();
            (
                y.inner(),
                x.grad(&gr).unwrap(),
                g.grad(&gr).unwrap(),
                b.grad(&gr).unwrap(),
            )
        };
        let (y1, dx1, dg1, db1) = grads(true);
        let (y0, dx0, dg0, db0) = grads(false);
        assert_close("layer_norm forward (autodiff)", y1, y0, 1e-5);
        assert_close("layer_norm dx", dx1, dx0, 1e-5);
        assert_close("layer_norm dgamma", dg1, dg0, 1e-5);
        assert_close("layer_norm dbeta", db1, db0, 1e-5);
    }
}

#[test]
fn layer_norm_of_a_strided_view() {
    let device = Device::default();
    let x = rand([24, 5, 3], &device).swap_dims(0, 2); // [3, 5, 24], not contiguous
    let (g, b) = (rand([24], &device), rand([24], &device));
    assert_close(
        "layer_norm strided",
        layer_norm(x.clone(), g.clone(), b.clone(), 1e-6),
        reference::layer_norm(x, g, b, 1e-6),
        1e-5,
    );
}

#[test]
fn gelu_matches_reference() {
    let device = Device::default();
    // Wide range, including the tails where erf saturates; length not a multiple of any chunk.
    let x = rand([5, 7, 1001], &device) * 4.0;
    assert_close(
        "gelu forward",
        gelu(x.clone()),
        reference::gelu(x.clone()),
        1e-6,
    );

    let ad = device.clone().autodiff();
    let w = rand([5, 7, 1001], &ad);
    let grad = |fused: bool| {
        let xa = Tensor::<3>::from_data(x.to_data(), &ad).require_grad();
        let y = if fused {
            gelu(xa.clone())
        } else {
            reference::gelu(xa.clone())
        };
        let g = (y * w.clone()).sum().backward();
        xa.grad(&g).unwrap()
    };
    assert_close("gelu dx", grad(true), grad(false), 1e-6);
}

#[test]
fn attention_matches_reference() {
    let device = Device::default();
    for (b, n, heads, hd) in [
        (3usize, 7usize, 2usize, 5usize),
        (4, 65, 3, 64),
        (2, 17, 4, 32),
    ] {
        let d = heads * hd;
        let qkv = rand([b, n, 3 * d], &device) * 2.0;
        assert_close(
            "attention forward",
            attention(qkv.clone(), heads),
            reference::attention(qkv.clone(), heads),
            1e-5,
        );

        let ad = device.clone().autodiff();
        let w = rand([b, n, d], &ad);
        let grad = |fused: bool| {
            let x = Tensor::<3>::from_data(qkv.to_data(), &ad).require_grad();
            let y = if fused {
                attention(x.clone(), heads)
            } else {
                reference::attention(x.clone(), heads)
            };
            let g = (y * w.clone()).sum().backward();
            x.grad(&g).unwrap()
        };
        assert_close("attention dqkv", grad(true), grad(false), 1e-5);
    }
}

/// The fused attention's gradient by central finite differences (f32, step 1e-2 on a smooth
/// function): catches a wrong formula even if the reference composition were wrong too.
#[test]
fn attention_gradient_matches_finite_differences() {
    let device = Device::default().autodiff();
    let (b, n, heads, hd) = (2, 5, 2, 3);
    let d = heads * hd;
    let qkv = rand([b, n, 3 * d], &device);
    let w = rand([b, n, d], &device);
    let loss = |x: Tensor<3>| (attention(x, heads) * w.clone()).sum();
    let x = qkv.clone().require_grad();
    let g = loss(x.clone()).backward();
    let analytic: Vec<f32> = x
        .grad(&g)
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let base: Vec<f32> = qkv.clone().into_data().try_into_vec::<f32>().unwrap();
    let h = 1e-2f32;
    let mut worst: f32 = 0.0;
    for i in (0..base.len()).step_by(7) {
        let at = |delta: f32| {
            let mut v = base.clone();
            v[i] += delta;
            let t = Tensor::<3>::from_data(TensorData::new(v, [b, n, 3 * d]), &device);
            loss(t).into_scalar::<f32>()
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        worst = worst.max((numeric - analytic[i]).abs() / (1.0 + analytic[i].abs()));
    }
    println!("attention finite differences: worst relative error {worst:.2e}");
    assert!(worst < 5e-3, "finite differences disagree: {worst}");
}

/// The comparisons above only mean something if the fused path actually ran.
#[test]
fn flex_tensors_take_the_fused_path() {
    let device = Device::default();
    assert!(sweet_kernels::uses_fused_kernels(&rand([2, 3], &device)));
    assert!(sweet_kernels::uses_fused_kernels(&rand(
        [2, 3],
        &device.clone().autodiff()
    )));
    assert!(!sweet_kernels::uses_fused_kernels(
        &rand([2, 3], &device).cast(burn::tensor::DType::F64)
    ));
}

#[test]
fn linear_matches_reference() {
    let device = Device::default();
    // A contiguous weight, and a transposed view (as the template composes o and fc2 blocks).
    for (rows, n_in, n_out, transposed) in [
        (37usize, 20usize, 13usize, false),
        (2 * 65, 192, 576, false),
        (3 * 11, 24, 40, true),
        (600, 8, 5, false),
    ] {
        let x = rand(
            [
                rows / (1 + (rows % 2 == 0) as usize),
                1 + (rows % 2 == 0) as usize,
                n_in,
            ],
            &device,
        );
        let w = if transposed {
            rand([n_in, n_out], &device).transpose()
        } else {
            rand([n_out, n_in], &device)
        };
        let b = rand([n_out], &device);
        assert_close(
            "linear forward",
            sweet_kernels::linear(x.clone(), w.clone(), b.clone()),
            reference::linear(x.clone(), w.clone(), b.clone()),
            1e-5,
        );

        let ad = device.clone().autodiff();
        let shape = x.dims();
        let wt = rand([shape[0], shape[1], n_out], &ad);
        let grads = |fused: bool| {
            let xa = Tensor::<3>::from_data(x.to_data(), &ad).require_grad();
            let wa = Tensor::<2>::from_data(w.to_data(), &ad).require_grad();
            let ba = Tensor::<1>::from_data(b.to_data(), &ad).require_grad();
            // The weight goes through a transpose-of-transpose under autodiff when `transposed`,
            // so the fused op sees a strided view there too.
            let wv = if transposed {
                wa.clone().transpose().transpose()
            } else {
                wa.clone()
            };
            let y = if fused {
                sweet_kernels::linear(xa.clone(), wv, ba.clone())
            } else {
                reference::linear(xa.clone(), wv, ba.clone())
            };
            let g = (y * wt.clone()).sum().backward();
            (
                xa.grad(&g).unwrap(),
                wa.grad(&g).unwrap(),
                ba.grad(&g).unwrap(),
            )
        };
        let (dx1, dw1, db1) = grads(true);
        let (dx0, dw0, db0) = grads(false);
        assert_close("linear dx", dx1, dx0, 1e-5);
        assert_close("linear dW", dw1, dw0, 1e-5);
        assert_close("linear db", db1, db0, 1e-5);
    }
}
