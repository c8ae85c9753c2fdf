//! The token head's pixel shuffle and the per-pixel loss, against direct computations.

use burn::prelude::*;
use burn::tensor::activation::gelu;
use sweet_dense::head::{HeadConfig, TokenHead};
use sweet_dense::pixels::{cross_entropy, predict};
use sweet_vit::init::Init;

fn device() -> Device {
    Device::default()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Output `(dy * s + dx) * c + ch` of token `(gy, gx)` lands at pixel
/// `(gy * s + dy, gx * s + dx)` of channel `ch`.
#[test]
fn the_head_puts_each_tokens_outputs_on_its_own_block_of_pixels() {
    let cfg = HeadConfig {
        width: 6,
        hidden: 5,
        sub: 2,
        channels: 3,
    };
    let head = TokenHead::new(&cfg, &mut Init::new(1, &device()));
    let (b, gh, gw) = (2, 2, 3);
    let tokens = Init::new(2, &device()).normal([b, gh * gw, 6], 1.0);
    let map = head.forward(tokens.clone(), [gh, gw]);
    assert_eq!(map.dims(), [b, 3, gh * 2, gw * 2]);
    let flat = values(
        head.fc2
            .forward(gelu(head.fc1.forward(head.norm.forward(tokens)))),
    );
    let map = values(map);
    for bi in 0..b {
        for gy in 0..gh {
            for gx in 0..gw {
                for dy in 0..2 {
                    for dx in 0..2 {
                        for ch in 0..3 {
                            let want =
                                flat[(bi * gh * gw + gy * gw + gx) * 12 + (dy * 2 + dx) * 3 + ch];
                            let (y, x) = (gy * 2 + dy, gx * 2 + dx);
                            let got = map[((bi * 3 + ch) * gh * 2 + y) * gw * 2 + x];
                            assert_eq!(got, want);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_channel_bias_reaches_every_sub_pixel_of_that_channel_only() {
    let cfg = HeadConfig {
        width: 4,
        hidden: 4,
        sub: 2,
        channels: 3,
    };
    let autodiff = device().autodiff();
    let head = TokenHead::new(&cfg, &mut Init::new(1, &autodiff)).set_channel_bias(1, -2.19);
    let bias = values(head.fc2.bias.val());
    for (j, v) in bias.iter().enumerate() {
        assert_eq!(*v, if j % 3 == 1 { -2.19 } else { 0.0 }, "output {j}");
    }
    assert!(head.fc2.bias.is_require_grad());
}

/// The mean over non-ignored pixels of -log softmax at the label: the classification loss on
/// those pixels' logit rows.
#[test]
fn pixel_cross_entropy_skips_ignored_pixels() {
    let (b, k, h, w) = (2, 3, 2, 2);
    let logits = Init::new(3, &device()).normal([b, k, h, w], 2.0);
    let labels = [0u8, 2, 255, 1, 1, 255, 0, 2];
    let got = cross_entropy(logits.clone(), &labels).into_scalar::<f32>();
    let rows = values(logits.clone().permute([0, 2, 3, 1]).reshape([b * h * w, k]));
    let mut sum = 0f64;
    let mut n = 0;
    for (p, &l) in labels.iter().enumerate() {
        if l == 255 {
            continue;
        }
        let r = &rows[p * k..(p + 1) * k];
        let lse = r.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
        sum += lse - r[l as usize] as f64;
        n += 1;
    }
    assert!(
        (got as f64 - sum / n as f64).abs() < 1e-5,
        "{got} vs {}",
        sum / n as f64
    );
    let all_ignored = cross_entropy(logits.clone(), &[255u8; 8]).into_scalar::<f32>();
    assert_eq!(all_ignored, 0.0);
    let pred = predict(logits);
    for (p, &c) in pred.iter().enumerate() {
        let r = &rows[p * k..(p + 1) * k];
        assert!(r.iter().all(|&v| v <= r[c as usize]), "pixel {p}");
    }
}
