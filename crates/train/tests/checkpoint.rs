//! Checkpoints of model and optimizer: an exact round trip of the device moments, and clear
//! errors for moments that do not fit the model and for unknown format versions.

use std::path::Path;

use burn::module::{Module, Param};
use burn::prelude::*;
use sweet_train::adamw::{AdamW, AdamWConfig};
use sweet_train::run_state::{self, CheckpointError, Progress};
use sweet_vit::names::{named_tensors, HostTensor};
use sweet_vit::tensor_file;

#[derive(Module, Debug)]
struct Tiny {
    /// `[3, 2]`, decays.
    weight: Param<Tensor<2>>,
    /// `[3]`.
    bias: Param<Tensor<1>>,
}

fn tiny(device: &Device) -> Tiny {
    let t = |v: Vec<f32>, shape: Vec<usize>| HostTensor { shape, values: v };
    Tiny {
        weight: Param::from_tensor(
            t(vec![0.5, -1.0, 0.25, 2.0, -0.75, 1.5], vec![3, 2]).to_tensor(device),
        )
        .set_require_grad(true),
        bias: Param::from_tensor(t(vec![0.1, -0.2, 0.3], vec![3]).to_tensor(device))
            .set_require_grad(true),
    }
}

/// One step on `loss = sum(weight * c) + sum(bias^2)`, `c` changing with `i`.
fn train_step(model: Tiny, opt: &mut AdamW, i: usize, device: &Device) -> Tiny {
    let c = Tensor::<2>::from_data(
        TensorData::new((0..6).map(|j| ((i * 6 + j) as f32).sin()).collect(), [3, 2]),
        device,
    );
    let loss = model.weight.val().mul(c).sum() + model.bias.val().square().sum();
    let grads = loss.backward();
    opt.step(model, &grads, 1e-2).0
}

fn opt() -> AdamW {
    AdamW::new(AdamWConfig {
        grad_clip: Some(1.0),
        ..AdamWConfig::default()
    })
}

fn host(opt: &AdamW) -> Vec<(String, Vec<f32>, Vec<f32>)> {
    opt.exp_avg
        .iter()
        .map(|(k, m)| {
            let v = &opt.exp_avg_sq[k];
            (
                k.clone(),
                HostTensor::from_tensor(m).values,
                HostTensor::from_tensor(v).values,
            )
        })
        .collect()
}

/// A saved checkpoint after two steps, in `dir`.
fn saved(dir: &Path, device: &Device) -> std::path::PathBuf {
    let mut o = opt();
    let mut model = tiny(device);
    for i in 0..2 {
        model = train_step(model, &mut o, i, device);
    }
    let path = dir.join("checkpoint.safetensors");
    run_state::save(&path, &model, &o, Progress { epoch: 1, step: 2 }).unwrap();
    path
}

/// Rewrites the checkpoint at `path` through `edit` (tensors by key, metadata).
fn rewrite(
    path: &Path,
    edit: impl FnOnce(
        &mut std::collections::BTreeMap<String, HostTensor>,
        &mut std::collections::BTreeMap<String, String>,
    ),
) {
    let mut f = tensor_file::read(path).unwrap();
    edit(&mut f.tensors, &mut f.metadata);
    let tensors: Vec<(String, HostTensor)> = f.tensors.into_iter().collect();
    tensor_file::write(path, &tensors, &f.metadata).unwrap();
}

fn load_error(path: &Path, device: &Device) -> String {
    let mut o = opt();
    match run_state::load(path, tiny(device), &mut o) {
        Err(e @ CheckpointError::Invalid(..)) => e.to_string(),
        Err(e) => panic!("expected an Invalid error, got {e}"),
        Ok(_) => panic!("load should fail"),
    }
}

#[test]
fn moments_round_trip_and_training_resumes_exactly() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let mut o = opt();
    let mut model = tiny(&device);
    for i in 0..2 {
        model = train_step(model, &mut o, i, &device);
    }
    let path = dir.path().join("checkpoint.safetensors");
    run_state::save(&path, &model, &o, Progress { epoch: 1, step: 2 }).unwrap();

    let mut resumed_opt = opt();
    let (resumed, progress) = run_state::load(&path, tiny(&device), &mut resumed_opt).unwrap();
    assert_eq!(progress, Progress { epoch: 1, step: 2 });
    assert_eq!(resumed_opt.step, 2);
    assert_eq!(host(&resumed_opt), host(&o));
    assert_eq!(host(&o).len(), 2);
    for (k, m) in &resumed_opt.exp_avg {
        assert!(!m.is_autodiff(), "{k}: moments live without autodiff");
    }

    let model = train_step(model, &mut o, 2, &device);
    let resumed = train_step(resumed, &mut resumed_opt, 2, &device);
    assert_eq!(named_tensors(&model), named_tensors(&resumed));
    assert_eq!(host(&resumed_opt), host(&o));
}

#[test]
fn a_moment_of_the_wrong_length_names_the_key_and_both_lengths() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), &device);
    rewrite(&path, |t, _| {
        t.insert(
            "optim.exp_avg_sq.weight".into(),
            HostTensor {
                shape: vec![4],
                values: vec![0.0; 4],
            },
        );
    });
    let e = load_error(&path, &device);
    assert!(e.contains("optim.exp_avg_sq.weight"), "{e}");
    assert!(e.contains("4 values") && e.contains("6 elements"), "{e}");
}

#[test]
fn a_moment_of_a_key_the_model_lacks_is_an_error() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), &device);
    rewrite(&path, |t, _| {
        t.insert(
            "optim.exp_avg.ghost.weight".into(),
            HostTensor {
                shape: vec![2],
                values: vec![0.0; 2],
            },
        );
    });
    let e = load_error(&path, &device);
    assert!(
        e.contains("optim.exp_avg.ghost.weight") && e.contains("no parameter ghost.weight"),
        "{e}"
    );
}

#[test]
fn a_first_moment_without_its_second_is_an_error() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), &device);
    rewrite(&path, |t, _| {
        t.remove("optim.exp_avg_sq.bias");
    });
    let e = load_error(&path, &device);
    assert!(
        e.contains("optim.exp_avg.bias has no optim.exp_avg_sq.bias"),
        "{e}"
    );
}

#[test]
fn an_unknown_format_version_is_an_error_listing_the_known_ones() {
    let device = Device::default().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path(), &device);
    rewrite(&path, |_, m| {
        m.insert(tensor_file::VERSION_KEY.into(), "2".into());
    });
    let mut o = opt();
    let e = match run_state::load(&path, tiny(&device), &mut o) {
        Err(e @ CheckpointError::File(tensor_file::TensorFileError::Version { .. })) => {
            e.to_string()
        }
        Err(e) => panic!("expected a format version error, got {e}"),
        Ok(_) => panic!("load should fail"),
    };
    assert!(e.contains("format_version 2"), "{e}");
    assert!(e.contains("reads format_version 1"), "{e}");
}
