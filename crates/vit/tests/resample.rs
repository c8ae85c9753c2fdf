//! Position tables for other grids, against PyTorch: a committed fixture written by
//! `scripts/make_resample_fixture.py` holds random learned tables and timm's
//! `resample_abs_pos_embed` (bicubic, antialias, one prefix token) of each for several grid
//! changes (up, down, non-square both ways, a strong shrink). Also: a sin-cos model follows a
//! grid by recomputing its table, and a saved model loaded, resampled to a non-square grid, is
//! exactly a model made for that grid with the resampled table.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Param;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sweet_vit::names::{load_named, map_params, named_tensors, HostTensor, NamedMap};
use sweet_vit::pos_embed::{resample_learned, sincos_2d};
use sweet_vit::{checkpoint, tensor_file, ImgSize, PosEmbedKind, Vit, VitConfig};

/// Max abs difference allowed against timm's float32 output (torch's f32 kernel rounds its
/// weights and sums: a few ulps of tables up to ~4).
const TORCH_TOL: f32 = 2e-6;
/// Max abs difference allowed against the same interpolation in float64 (one f32 rounding each
/// side of tables up to ~4).
const TORCH_F64_TOL: f32 = 5e-7;

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

/// "4x4" -> [4, 4].
fn grid(s: &str) -> [usize; 2] {
    let (r, c) = s.split_once('x').expect("RxC");
    [r.parse().unwrap(), c.parse().unwrap()]
}

/// Catches any departure from PyTorch's antialiased bicubic (`_compute_indices_weights_aa`):
/// the kernel's `a` (-0.75 is PyTorch's non-antialiased value), the support not widened when
/// shrinking, border replication instead of renormalizing, rows and columns swapped on
/// non-square grids, the class row resampled. Sabotages that failed it: `A = -0.75` in
/// `cubic` (off by 0.12), support 2 when shrinking (off by 0.33), no renormalization at the
/// borders (off by 1.2), `wr`/`wc` swapped (panics on an index).
#[test]
fn learned_tables_resample_as_timm() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resample_pos_embed.safetensors");
    let f = tensor_file::read(&path).expect("fixture readable").tensors;
    let device = Device::default();
    let cases: Vec<&str> = f.keys().filter_map(|k| k.strip_suffix(".input")).collect();
    assert_eq!(cases.len(), 5, "{cases:?}");
    let (mut worst, mut worst64) = (0f32, 0f32);
    for case in cases {
        let (from, to) = case.split_once('_').unwrap();
        let (from, to) = (grid(from), grid(to));
        let input: Tensor<3> = f[&format!("{case}.input")].to_tensor(&device);
        let want = &f[&format!("{case}.output")];
        let got = resample_learned(&input, 1, from, to);
        assert_eq!(got.dims().to_vec(), want.shape, "{case}");
        let got = vals(&got);
        let d = max_diff(&got, &want.values);
        let d64 = max_diff(&got, &f[&format!("{case}.output_f64")].values);
        println!("{case}: max |sweet - timm| {d:.2e}, vs torch in f64 {d64:.2e}");
        let dims = input.dims()[2];
        assert_eq!(got[..dims], want.values[..dims], "{case}: class row kept");
        assert!(d < TORCH_TOL, "{case}: {d}");
        assert!(d64 < TORCH_F64_TOL, "{case}: {d64}");
        worst = worst.max(d);
        worst64 = worst64.max(d64);
    }
    println!(
        "resample_learned vs timm.layers.resample_abs_pos_embed: max |diff| {worst:.2e} \
         (vs torch's interpolation in f64: {worst64:.2e})"
    );
}

fn cfg(img: ImgSize) -> VitConfig {
    VitConfig {
        img_size: img,
        patch_size: 4,
        in_chans: 3,
        embed_dim: 16,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 3,
        global_pool: Default::default(),
    }
}

/// Every parameter of `model` replaced by N(0, 0.3^2) draws (so zero biases and unit norms
/// cannot hide a wrong index).
fn perturb<M: burn::module::Module>(model: M, seed: u64) -> M {
    struct P(ChaCha8Rng);
    impl NamedMap for P {
        fn map<const D: usize>(&mut self, _: &str, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let rng = &mut self.0;
            p.map(|t| {
                let shape = t.shape();
                let v: Vec<f32> = (0..shape.num_elements())
                    .map(|_| (rng.random::<f32>() - 0.5) * 1.0)
                    .collect();
                Tensor::from_data(TensorData::new(v, shape), &t.device())
            })
        }
    }
    map_params(model, &mut P(ChaCha8Rng::seed_from_u64(seed)))
}

/// Catches a sin-cos table resampled like a learned one (or sliced, or left at the old grid),
/// or rows and columns swapped for a non-square grid. Sabotage that failed it: the
/// `PosEmbedKind::SinCos` arm of `resample_grid` calling `resample_learned`.
#[test]
fn a_sincos_model_recomputes_its_table_for_another_grid() {
    let device = Device::default();
    let model = Vit::new(&cfg(16.into()), 0, &device).with_sincos_pos_embed();
    assert_eq!(model.pos_kind, PosEmbedKind::SinCos);
    for (h, w) in [(24, 24), (8, 8), (12, 20), (20, 8)] {
        let m = Vit::new(&cfg(16.into()), 0, &device)
            .with_sincos_pos_embed()
            .resample_grid(ImgSize::new(h, w));
        let g = [h / 4, w / 4];
        assert_eq!(m.grid, g);
        assert_eq!(
            vals(&m.pos_embed.val()),
            sincos_2d(16, g),
            "{h}x{w}: the table recomputed for grid {g:?}"
        );
        assert!(!m.pos_embed.val().is_require_grad(), "still frozen");
    }
}

/// Catches a resampled model whose other parameters or grid depend on the old size (the
/// patch count, the grid kept, the table not resampled): a model saved at 16x16, loaded,
/// resampled to 12x20 must equal, output for output, a model made for 12x20 holding the same
/// weights and timm's resampling of the table. Sabotage that failed it: `self.grid = to`
/// removed from `resample_grid`.
#[test]
fn a_loaded_model_resampled_runs_on_non_square_images() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let c16 = cfg(16.into());
    let model = perturb(Vit::new(&c16, 0, &device), 1);
    checkpoint::save_model(&model, &c16, vec![0.5; 3], vec![0.25; 3], dir.path()).unwrap();
    let (loaded, _) = checkpoint::load_model(dir.path(), &device).unwrap();
    let table = loaded.pos_embed.val();
    let resampled = loaded.resample_grid(ImgSize::new(12, 20));
    assert_eq!(resampled.grid, [3, 5]);
    let expect_table = resample_learned(&table, 1, [4, 4], [3, 5]);
    assert_eq!(vals(&resampled.pos_embed.val()), vals(&expect_table));
    assert!(resampled.pos_embed.val().is_require_grad(), "still learned");

    // The same weights in a model made for 12x20, its table replaced by the resampled one.
    let mut named: BTreeMap<String, HostTensor> = named_tensors(&model).into_iter().collect();
    named.insert("pos_embed".into(), HostTensor::from_tensor(&expect_table));
    let made = load_named(Vit::new(&cfg(ImgSize::new(12, 20)), 7, &device), &named).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<f32> = (0..2 * 3 * 12 * 20).map(|_| rng.random::<f32>()).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [2, 3, 12, 20]), &device);
    let (a, b) = (resampled.forward(x.clone()), made.forward(x));
    assert_eq!(a.dims(), [2, 3]);
    let d = max_diff(&vals(&a), &vals(&b));
    println!("resampled loaded model vs model made for 12x20: max |logit diff| {d:.2e}");
    assert_eq!(d, 0.0);
    assert!(vals(&a).iter().all(|v| v.is_finite()));
}
