//! A patch embedding for another patch size, against timm: a committed fixture written by
//! `scripts/make_patch_resample_fixture.py` holds random conv kernels and timm's
//! `resample_patch_embed` (bicubic, antialias) of each for several patch changes (up by 2 and
//! by a non-integer factor, down by 2, an odd patch, a strong shrink). Also: the defining
//! property of up-sampling (the token of a bicubic up-sampled patch is the original token), a
//! model taken to another patch and size saved and reloaded, and the errors for a patch that
//! does not tile the image.

use std::path::PathBuf;

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_vit::checkpoint::{self, CheckpointError};
use sweet_vit::names::{map_params, HostTensor, NamedMap};
use sweet_vit::patch_resample::resample_patch_embed;
use sweet_vit::pos_embed::{resample_learned, sincos_2d};
use sweet_vit::{tensor_file, ConfigError, ImgSize, Vit, VitConfig};

/// Max abs difference allowed against timm's float32 output (timm builds the resize matrix and
/// its pseudo-inverse in float32: measured 1.6e-7).
const TIMM_TOL: f32 = 1e-6;
/// Max abs difference allowed against timm's steps in float64 (one f32 rounding each side of
/// kernels up to ~1).
const TIMM_F64_TOL: f32 = 2e-7;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn vals<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    HostTensor::from_tensor(t).values
}

/// Catches any departure from timm's `resample_patch_embed`: the kernel merely resized
/// (`B w` for `pinv(B^T) w`), the rows and columns of the patch swapped in the resize matrix,
/// the kernel's `a`, the support not widened when shrinking, channels mixed. Sabotages that
/// failed it: `row[c * from + a]` for `row[a * from + c]` in `resize_matrix` (off by 0.20),
/// `A = -0.75` in the cubic (off by 0.016), the `1/s` of the pseudo-inverse replaced by `s`,
/// which is `B` itself (off by 0.15).
#[test]
fn patch_kernels_resample_as_timm() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resample_patch_embed.safetensors");
    let f = tensor_file::read(&path).expect("fixture readable").tensors;
    let device = Device::default();
    let cases: Vec<&str> = f.keys().filter_map(|k| k.strip_suffix(".input")).collect();
    assert_eq!(cases.len(), 5, "{cases:?}");
    let (mut worst, mut worst64) = (0f32, 0f32);
    for case in cases {
        let new: usize = case.rsplit_once("to").unwrap().1.parse().unwrap();
        let input: Tensor<4> = f[&format!("{case}.input")].to_tensor(&device);
        let want = &f[&format!("{case}.output")];
        let got = resample_patch_embed(&input, new);
        assert_eq!(got.dims().to_vec(), want.shape, "{case}");
        let got = vals(&got);
        let d = max_diff(&got, &want.values);
        let d64 = max_diff(&got, &f[&format!("{case}.output_f64")].values);
        println!("{case}: max |sweet - timm| {d:.2e}, vs timm in f64 {d64:.2e}");
        assert!(d < TIMM_TOL, "{case}: {d}");
        assert!(d64 < TIMM_F64_TOL, "{case}: {d64}");
        worst = worst.max(d);
        worst64 = worst64.max(d64);
    }
    println!(
        "resample_patch_embed vs timm.layers.resample_patch_embed: max |diff| {worst:.2e} \
         (vs timm's steps in f64: {worst64:.2e})"
    );
}

fn cfg(img: ImgSize, patch: usize) -> VitConfig {
    VitConfig {
        img_size: img,
        patch_size: patch,
        in_chans: 2,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 3,
        global_pool: Default::default(),
    }
}

/// Every parameter of `model` replaced by U(-0.5, 0.5) draws (so zero biases and unit norms
/// cannot hide a wrong index).
fn perturb<M: burn::module::Module>(model: M, seed: u64) -> M {
    struct P(ChaCha8Rng);
    impl NamedMap for P {
        fn map<const D: usize>(&mut self, _: &str, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let rng = &mut self.0;
            p.map(|t| {
                let shape = t.shape();
                let v: Vec<f32> = (0..shape.num_elements())
                    .map(|_| rng.random::<f32>() - 0.5)
                    .collect();
                Tensor::from_data(TensorData::new(v, shape), &t.device())
            })
        }
    }
    map_params(model, &mut P(ChaCha8Rng::seed_from_u64(seed)))
}

fn random_images(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Every `p x p` patch of `images` `[B, C, gh*p, gw*p]` resized on its own to `q x q`
/// (bicubic, antialiased: the position-table resampling, a code path apart from the resize
/// matrix, checked against torch in `tests/resample.rs`) -> `[B, C, gh*q, gw*q]`.
fn upsample_each_patch(images: &Tensor<4>, p: usize, q: usize) -> Tensor<4> {
    let [b, c, h, w] = images.dims();
    let (gh, gw) = (h / p, w / p);
    // [B, C, gh, p, gw, p] -> [B*gh*gw, p*p, C]: each patch a C-channel table, no prefix.
    let tables = images
        .clone()
        .reshape([b, c, gh, p, gw, p])
        .permute([0, 2, 4, 3, 5, 1])
        .reshape([b * gh * gw, p * p, c]);
    let up: Vec<Tensor<3>> = tables
        .split(1, 0)
        .iter()
        .map(|t| resample_learned(t, 0, [p, p], [q, q]))
        .collect();
    Tensor::cat(up, 0)
        .reshape([b, gh, gw, q, q, c])
        .permute([0, 5, 1, 3, 2, 4])
        .reshape([b, c, gh * q, gw * q])
}

/// The defining property of up-sampling: `B` has full column rank, so for every patch `x`
/// the resampled kernel gives the bicubic up-sampled patch the original token, and a model
/// adapted to a patch `q > p` with the same grid (image `q/p` times larger) gives images whose
/// every patch is up-sampled on its own the original logits, up to float error. Non-square
/// grid, 2 channels, integer and non-integer factors. Catches a kernel map that only fits in
/// the least-squares sense (e.g. `pinv(B)` for `pinv(B^T)`), a bias touched, a grid or table
/// changed when it should stay, rows and columns of the patch swapped. Sabotages that failed
/// it: `resize_matrix` for `kernel_map` in `resample_patch_embed` (the kernel resized: tokens
/// off by 6.7, logits by 0.08), `row[c * from + a]` for `row[a * from + c]` in
/// `resize_matrix` (tokens off by 4.9).
#[test]
fn up_sampled_patches_keep_their_tokens_and_logits() {
    let device = Device::default();
    let (p, grid) = (4, [2, 3]);
    let c = cfg(ImgSize::new(grid[0] * p, grid[1] * p), p);
    let model = perturb(Vit::new(&c, 0, &device), 1);
    let x = random_images([2, 2, grid[0] * p, grid[1] * p], 2, &device);
    let want = vals(&model.forward(x.clone()));
    let mut worst = 0f32;
    for q in [8, 6, 7] {
        let img = ImgSize::new(grid[0] * q, grid[1] * q);
        let adapted = perturb(Vit::new(&c, 0, &device), 1).adapt(img, q).unwrap();
        assert_eq!((adapted.grid, adapted.patch_embed.patch_size), (grid, q));
        assert_eq!(
            vals(&adapted.pos_embed.val()),
            vals(&model.pos_embed.val()),
            "same grid, same table"
        );
        assert_eq!(
            vals(&adapted.patch_embed.proj.bias.val()),
            vals(&model.patch_embed.proj.bias.val())
        );
        let up = upsample_each_patch(&x, p, q);
        assert_eq!(up.dims(), [2, 2, img.h, img.w]);
        // The patch tokens themselves (plus the same position table), then the logits.
        let tokens =
            |m: &Vit, images: Tensor<4>| vals(&m.view(&Default::default()).patch_tokens(images));
        let t = max_diff(&tokens(&adapted, up.clone()), &tokens(&model, x.clone()));
        let d = max_diff(&vals(&adapted.forward(up)), &want);
        println!("patch {p} -> {q}: max |token diff| {t:.2e}, max |logit diff| {d:.2e}");
        assert!(t < 1e-5 && d < 1e-5, "{q}: tokens {t}, logits {d}");
        worst = worst.max(d);
    }
    println!("up-sampled patches through the resampled embedding: max |logit diff| {worst:.2e}");
}

/// Catches a model whose saved folder does not describe it: a 28x28 patch-4 model (learned
/// table) taken to 64x64 patch 8 in one call, saved with `VitConfig::adapted`, reloads with
/// `load_model` to the same logits, and its `config.json` says img_size 64 and patch_size 8;
/// the table is resampled once from the 7x7 grid to 8x8; saving it with the old config fails
/// and writes nothing. Sabotage that failed it (and the two tests around it):
/// `self.patch_embed.patch_size = patch` removed from `adapt`.
#[test]
fn an_adapted_model_saves_and_reloads_with_its_new_size_and_patch() {
    let device = Device::default();
    let c28 = cfg(28.into(), 4);
    let model = perturb(Vit::new(&c28, 0, &device), 3);
    let table = model.pos_embed.val();
    let adapted = model.adapt(64.into(), 8).unwrap();
    assert_eq!(adapted.grid, [8, 8]);
    assert_eq!(adapted.img_size(), 64.into());
    assert_eq!(adapted.patch_embed.proj.weight.dims(), [16, 2, 8, 8]);
    assert_eq!(
        vals(&adapted.pos_embed.val()),
        vals(&resample_learned(&table, 1, [7, 7], [8, 8])),
        "one resampling 7x7 -> 8x8"
    );

    let dir = tempfile::tempdir().unwrap();
    match checkpoint::save_model(&adapted, &c28, vec![0.5; 2], vec![0.5; 2], dir.path()) {
        Err(e @ CheckpointError::ModelConfig { .. }) => println!("old config refused: {e}"),
        other => panic!("saving with the old config must fail, got {other:?}"),
    }
    assert!(!dir.path().join(checkpoint::CONFIG_FILE).exists());

    let c64 = c28.adapted(64.into(), 8).unwrap();
    checkpoint::save_model(&adapted, &c64, vec![0.5; 2], vec![0.5; 2], dir.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(checkpoint::CONFIG_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(json["model_args"]["img_size"], 64);
    assert_eq!(json["model_args"]["patch_size"], 8);
    assert_eq!(
        json["pretrained_cfg"]["input_size"],
        serde_json::json!([2, 64, 64])
    );

    let (back, timm) = checkpoint::load_model(dir.path(), &device).unwrap();
    assert_eq!(timm.vit(), c64);
    assert_eq!((back.grid, back.patch_embed.patch_size), ([8, 8], 8));
    let x = random_images([2, 2, 64, 64], 4, &device);
    let (a, b) = (vals(&adapted.forward(x.clone())), vals(&back.forward(x)));
    assert_eq!(a.len(), 2 * 3);
    assert_eq!(a, b, "same logits after save and load");
}

/// Catches a sin-cos model whose table is resampled like a learned one, or left at the old
/// grid, when the patch changes.
#[test]
fn a_sincos_model_recomputes_its_table_for_the_new_patch() {
    let device = Device::default();
    let m = Vit::new(&cfg(16.into(), 4), 0, &device)
        .with_sincos_pos_embed()
        .resample_patch(8)
        .unwrap();
    assert_eq!((m.grid, m.img_size()), ([2, 2], 16.into()));
    assert_eq!(vals(&m.pos_embed.val()), sincos_2d(16, [2, 2]));
    assert!(!m.pos_embed.val().is_require_grad(), "still frozen");
}

/// Catches a patch that does not tile the image accepted (a model with a grid that floors
/// the image) or a panic instead of an error.
#[test]
fn a_patch_that_does_not_tile_the_image_is_an_error() {
    let device = Device::default();
    let model = || Vit::new(&cfg(28.into(), 4), 0, &device);
    assert_eq!(model().img_size(), 28.into());
    assert_eq!(
        model().resample_patch(8).err(),
        Some(ConfigError::PatchDoesNotDivide {
            img_size: 28.into(),
            patch_size: 8
        })
    );
    assert_eq!(
        model().adapt(ImgSize::new(64, 60), 8).err(),
        Some(ConfigError::PatchDoesNotDivide {
            img_size: ImgSize::new(64, 60),
            patch_size: 8
        })
    );
    assert_eq!(
        model().resample_patch(0).err(),
        Some(ConfigError::Zero { name: "patch_size" })
    );
    // 7 divides 28: the grid becomes 4x4, the kernels 7x7.
    let m = model().resample_patch(7).unwrap();
    assert_eq!(
        (m.grid, m.patch_embed.proj.weight.dims()),
        ([4, 4], [16, 2, 7, 7])
    );
    let e = cfg(28.into(), 4)
        .adapted(28.into(), 8)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a multiple of patch_size 8"), "{e}");
}
