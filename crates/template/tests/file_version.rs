//! A template file's `format_version` is checked on load: format 1 files (no decoder, no
//! provenance) get an error saying to pre-train again, unknown versions one listing the known,
//! and a G that does not match its recorded hash one saying the file is damaged.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_template::file::{self, Provenance};
use sweet_template::TemplateConfig;
use sweet_vit::tensor_file::{self, VERSION_KEY};
use sweet_vit::VitConfig;

fn write_template(path: &Path, device: &Device) {
    let cfg = TemplateConfig::with_default_ranks(VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 8,
        depth: 2,
        num_heads: 2,
        mlp_ratio: 4.0,
        num_classes: 0,
        global_pool: Default::default(),
    });
    let model = sweet_template::templated_vit(&cfg, 0, device).unwrap();
    let provenance = Provenance {
        data: "mnist".into(),
        mean: vec![0.13],
        std: vec![0.31],
        pretraining: serde_json::Value::Null,
        pretrain_seconds: 1.0,
        pretrain_steps: 2,
    };
    file::save(path, &model, &cfg, &provenance, &[]).unwrap();
}

/// Rewrites the file at `path` with `edit` applied to its metadata and tensors.
fn rewrite(
    path: &Path,
    edit: impl FnOnce(&mut BTreeMap<String, String>, &mut Vec<(String, sweet_vit::names::HostTensor)>),
) {
    let f = tensor_file::read(path).unwrap();
    let mut meta = f.metadata.clone();
    let mut tensors: Vec<_> = f.tensors.into_iter().collect();
    edit(&mut meta, &mut tensors);
    tensor_file::write(path, &tensors, &meta).unwrap();
}

fn load_error(path: &Path, device: &Device) -> String {
    match file::load(path, device) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_unknown_template_format_version_is_an_error_naming_file_and_versions() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::TEMPLATE_FILE);
    write_template(&path, &device);
    file::load(&path, &device).expect("version 2 loads");
    rewrite(&path, |meta, _| {
        meta.insert(VERSION_KEY.into(), "3".into());
    });
    let err = load_error(&path, &device);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("sweet.template"), "{err}");
    assert!(err.contains("format_version 3"), "{err}");
    assert!(err.contains("reads format_version 2"), "{err}");
}

#[test]
fn a_format_1_template_is_an_error_saying_to_pretrain_again() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::TEMPLATE_FILE);
    write_template(&path, &device);
    rewrite(&path, |meta, _| {
        meta.insert(VERSION_KEY.into(), "1".into());
        meta.remove("provenance");
    });
    let err = load_error(&path, &device);
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("decoder"), "{err}");
    assert!(err.contains("pre-train it again"), "{err}");
}

#[test]
fn a_template_whose_g_differs_from_its_hash_is_an_error() {
    let device = Device::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::TEMPLATE_FILE);
    write_template(&path, &device);
    rewrite(&path, |_, tensors| {
        let g = tensors.iter_mut().find(|(k, _)| k == "template").unwrap();
        g.1.values[0] += 1.0;
    });
    let err = load_error(&path, &device);
    assert!(err.contains("SHA-256"), "{err}");
    assert!(err.contains("damaged"), "{err}");
}
