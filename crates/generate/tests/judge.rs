//! The judge on a tiny random classifier saved as a model folder: opening it (and refusing
//! folders that are missing or have no head), the input path (clamping, 8-bit quantization,
//! the judge's normalization; real images reach it as `image_f32` makes them), features and
//! predictions against the model's own forward, a set's distance to its own statistics, and
//! the class accuracy against the judge's own predictions.

use std::path::Path;

use burn::prelude::*;
use sweet_data::synthetic::synthetic;
use sweet_data::ImageSet;
use sweet_generate::frechet::FeatureStats;
use sweet_generate::judge::{real_images, reference_stats, score, Judge, JudgeError};
use sweet_vit::checkpoint::{load_model, save_model};
use sweet_vit::init::Init;
use sweet_vit::{Vit, VitConfig};

const MEAN: f32 = 0.25;
const STD: f32 = 0.5;
const CLASSES: usize = 3;

fn device() -> Device {
    Device::default()
}

fn cfg(classes: usize) -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 8,
        depth: 1,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes: classes,
        global_pool: Default::default(),
    }
}

/// A random classifier of `classes` classes saved in `dir`.
fn save_judge(dir: &Path, classes: usize) {
    let c = cfg(classes);
    save_model(&Vit::new(&c, 5, &device()), &c, vec![MEAN], vec![STD], dir).unwrap();
}

fn judge(dir: &Path) -> Judge {
    save_judge(dir, CLASSES);
    Judge::open(dir, &device()).unwrap()
}

/// 40 images of the judge's shape.
fn images() -> ImageSet {
    synthetic(40, 1, 8, 8, CLASSES, 11)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The set in batches of `batch` images in [-1, 1], each with `label(i, predicted)`.
fn batches(
    judge: &Judge,
    set: &ImageSet,
    batch: usize,
    label: impl Fn(usize, usize) -> usize,
) -> Vec<(Tensor<4>, Vec<usize>)> {
    let indices: Vec<usize> = (0..set.len).collect();
    indices
        .chunks(batch)
        .map(|chunk| {
            let x = real_images(set, chunk, &device()).unwrap();
            let (_, predicted) = judge.score_batch(x.clone()).unwrap();
            let labels = chunk
                .iter()
                .zip(predicted)
                .map(|(&i, p)| label(i, p))
                .collect();
            (x, labels)
        })
        .collect()
}

#[test]
fn open_reads_a_classifier_folder() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    assert_eq!(judge.classes(), CLASSES);
    assert_eq!(judge.feature_dim(), 8);
    assert_eq!(judge.input_shape(), [1, 8, 8]);
    assert_eq!(judge.normalization(), (&[MEAN][..], &[STD][..]));
    assert_eq!(judge.dir(), dir.path());
}

#[test]
fn a_model_without_a_head_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    save_judge(dir.path(), 0);
    let err = Judge::open(dir.path(), &device()).unwrap_err();
    assert!(matches!(err, JudgeError::NotAClassifier { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains("num_classes 0"), "{msg}");
}

#[test]
fn a_missing_or_empty_folder_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-judge");
    let err = Judge::open(&missing, &device()).unwrap_err();
    assert!(matches!(err, JudgeError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("no-judge"), "{err}");
    let err = Judge::open(dir.path(), &device()).unwrap_err();
    assert!(matches!(err, JudgeError::Model { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

/// After undoing the normalization every value is one of the 256 levels k / 255: the nearest
/// to (clamp(x, -1, 1) + 1) / 2.
#[test]
fn the_judge_input_is_clamped_quantized_and_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let x = Init::new(3, &device()).normal([4, 1, 8, 8], 0.8);
    let raw = values(x.clone());
    assert!(raw.iter().any(|v| v.abs() > 1.0), "some values to clamp");
    let out = values(judge.to_judge_input(x));
    for (&o, &v) in out.iter().zip(&raw) {
        let p = o * STD + MEAN;
        let level = (p * 255.0).round();
        assert!((p * 255.0 - level).abs() < 1e-4, "{p} is not a level");
        let want = ((v.clamp(-1.0, 1.0) + 1.0) / 2.0 * 255.0).round();
        assert_eq!(level, want, "input {v}");
    }
    let extremes = Tensor::<4>::from_data(
        TensorData::new(
            vec![-3.0f32, -1.0, 0.0, 1.0, 7.5, 2.0 / 255.0 - 1.0],
            [1, 1, 1, 6],
        ),
        &device(),
    );
    let p: Vec<f32> = values(judge.to_judge_input(extremes))
        .iter()
        .map(|o| o * STD + MEAN)
        .collect();
    let want = [0.0, 0.0, 128.0 / 255.0, 1.0, 1.0, 1.0 / 255.0];
    for (got, want) in p.iter().zip(want) {
        assert!((got - want).abs() < 1e-6, "{p:?}");
    }
}

/// Real images reach the judge with the values the classifier was trained on.
#[test]
fn real_images_reach_the_judge_as_image_f32_makes_them() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let mut set = images();
    (set.mean, set.std) = (vec![MEAN], vec![STD]);
    let indices = [3, 0, 17];
    let x = real_images(&set, &indices, &device()).unwrap();
    assert_eq!(x.dims(), [3, 1, 8, 8]);
    let got = values(judge.to_judge_input(x));
    let mut want = vec![0.0f32; 64];
    for (k, &i) in indices.iter().enumerate() {
        set.image_f32(i, &mut want);
        for (g, w) in got[k * 64..(k + 1) * 64].iter().zip(&want) {
            assert!((g - w).abs() < 1e-6, "image {i}: {g} vs {w}");
        }
    }
    let err = real_images(&set, &[1, 40], &device()).unwrap_err();
    assert!(
        matches!(err, JudgeError::Index { index: 40, len: 40 }),
        "{err}"
    );
}

/// The features are the model's pooled features (its forward without the head), the classes
/// the arg-max of its forward.
#[test]
fn a_batch_scores_as_the_models_own_forward() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let (model, _) = load_model(dir.path(), &device()).unwrap();
    let x = real_images(&images(), &[0, 1, 2, 3, 4, 5], &device()).unwrap();
    let input = judge.to_judge_input(x.clone());
    let pooled = values(model.pool(model.features(input.clone())));
    let logits = values(model.forward(input));
    let (features, classes) = judge.score_batch(x).unwrap();
    assert_eq!(features.len(), 6 * 8);
    for (f, p) in features.iter().zip(&pooled) {
        assert_eq!(*f, f64::from(*p));
    }
    for (b, row) in logits.chunks_exact(CLASSES).enumerate() {
        let best = (0..CLASSES)
            .max_by(|&i, &j| row[i].total_cmp(&row[j]))
            .unwrap();
        assert_eq!(classes[b], best, "image {b}: logits {row:?}");
    }
}

#[test]
fn images_of_another_shape_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let x = Tensor::<4>::zeros([2, 3, 8, 8], &device());
    let err = judge.score_batch(x).unwrap_err();
    assert_eq!(
        err.to_string(),
        "images of shape [2, 3, 8, 8], but the judge takes [B, 1, 8, 8]"
    );
    let (f, c) = judge
        .score_batch(Tensor::<4>::zeros([0, 1, 8, 8], &device()))
        .unwrap();
    assert!(f.is_empty() && c.is_empty());
}

/// Scoring the reference images themselves (in other batches) gives distance ≈ 0.
#[test]
fn a_set_scored_against_its_own_statistics_is_at_distance_zero() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let set = images();
    let reference = reference_stats(&judge, &set, set.len, 16).unwrap();
    assert_eq!((reference.count, reference.dim), (40, 8));
    let trace: f64 = (0..8).map(|i| reference.cov[i * 8 + i]).sum();
    let scores = score(&judge, batches(&judge, &set, 7, |_, p| p), &reference).unwrap();
    println!(
        "own statistics: d² = {:e} (tr Σ = {trace:e})",
        scores.frechet
    );
    assert_eq!(scores.samples, 40);
    assert!(scores.frechet <= 1e-6 * trace, "{}", scores.frechet);

    let fewer = reference_stats(&judge, &set, 20, 16).unwrap();
    let other = score(&judge, batches(&judge, &set, 7, |_, p| p), &fewer).unwrap();
    assert!(other.frechet > scores.frechet, "{other:?}");
}

/// Labelled with the judge's own predictions: accuracy 1; with another class: 0; with the
/// prediction on even images only: the even images' share.
#[test]
fn class_accuracy_is_the_share_of_images_classified_as_their_label() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let set = images();
    let reference = reference_stats(&judge, &set, 30, 8).unwrap();
    let accuracy = |label: &dyn Fn(usize, usize) -> usize| {
        score(&judge, batches(&judge, &set, 6, label), &reference)
            .unwrap()
            .class_accuracy
    };
    assert_eq!(accuracy(&|_, p| p), 1.0);
    assert_eq!(accuracy(&|_, p| (p + 1) % CLASSES), 0.0);
    let half = |i: usize, p: usize| {
        if i.is_multiple_of(2) {
            p
        } else {
            (p + 2) % CLASSES
        }
    };
    assert_eq!(accuracy(&half), 0.5);
}

#[test]
fn bad_batches_and_references_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(dir.path());
    let set = images();
    let reference = reference_stats(&judge, &set, 10, 4).unwrap();
    let x = || real_images(&set, &[0, 1, 2], &device()).unwrap();
    let err = score(&judge, [(x(), vec![0, 1])], &reference).unwrap_err();
    assert_eq!(err.to_string(), "a batch of 3 images comes with 2 labels");
    let err = score(&judge, [(x(), vec![0, 1, 3])], &reference).unwrap_err();
    assert_eq!(
        err.to_string(),
        "label 3 is not one of the judge's 3 classes"
    );
    let one = real_images(&set, &[0], &device()).unwrap();
    let err = score(&judge, [(one, vec![0])], &reference).unwrap_err();
    assert!(err.to_string().contains("at least 2 samples"), "{err}");
    let wide = FeatureStats::from_features(&[0.0; 18], 9).unwrap();
    let err = score(&judge, [(x(), vec![0, 1, 2])], &wide).unwrap_err();
    assert_eq!(err.to_string(), "feature dimensions differ: 8 and 9");

    let err = reference_stats(&judge, &set, 41, 8).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the reference statistics need 41 images, the set has 40"
    );
    assert!(matches!(
        reference_stats(&judge, &set, 10, 0),
        Err(JudgeError::ZeroBatch)
    ));
}
