//! A model file's `format_version` is checked on load: only for files sweet wrote (format
//! `sweet.vit`); timm's own files (no format, or `pt`) carry none and still load.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use sweet_vit::checkpoint::{self, WEIGHTS_FILE};
use sweet_vit::tensor_file::{self, FORMAT_KEY, VERSION_KEY};
use sweet_vit::{Vit, VitConfig};

fn tiny() -> VitConfig {
    VitConfig {
        img_size: 8.into(),
        patch_size: 4,
        in_chans: 1,
        embed_dim: 8,
        depth: 1,
        num_heads: 2,
        mlp_ratio: 2.0,
        num_classes: 2,
        global_pool: Default::default(),
    }
}

/// Rewrites the metadata of `path` with `edit`, keeping the tensors.
fn edit_metadata(path: &Path, edit: impl FnOnce(&mut BTreeMap<String, String>)) {
    let file = tensor_file::read(path).unwrap();
    let mut meta = file.metadata.clone();
    edit(&mut meta);
    let tensors: Vec<_> = file.tensors.into_iter().collect();
    tensor_file::write(path, &tensors, &meta).unwrap();
}

fn saved(dir: &Path) {
    let device = Device::default();
    let model = Vit::new(&tiny(), 0, &device);
    checkpoint::save_model(&model, &tiny(), vec![0.5], vec![0.5], dir).unwrap();
}

#[test]
fn an_unknown_model_format_version_is_an_error_naming_file_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    edit_metadata(&path, |m| {
        m.insert(VERSION_KEY.into(), "7".into());
    });
    let Err(err) = checkpoint::load_model(dir.path(), &Device::default()) else {
        panic!("version 7 is refused");
    };
    let err = err.to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("format_version 7"), "{err}");
    assert!(err.contains("reads format_version 1"), "{err}");

    edit_metadata(&path, |m| {
        m.remove(VERSION_KEY);
    });
    let Err(err) = checkpoint::load_model(dir.path(), &Device::default()) else {
        panic!("a sweet.vit file without a version is refused");
    };
    let err = err.to_string();
    assert!(err.contains("format_version (none)"), "{err}");
}

#[test]
fn timm_files_without_sweet_metadata_still_load() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path());
    let path = dir.path().join(WEIGHTS_FILE);
    // safetensors written by timm's save_for_hf carry `format: pt` and no version
    edit_metadata(&path, |m| {
        m.clear();
        m.insert(FORMAT_KEY.into(), "pt".into());
    });
    checkpoint::load_model(dir.path(), &Device::default()).expect("format pt loads");
    edit_metadata(&path, |m| m.clear());
    checkpoint::load_model(dir.path(), &Device::default()).expect("no metadata loads");
}

#[test]
fn the_current_version_loads() {
    let dir = tempfile::tempdir().unwrap();
    saved(dir.path());
    checkpoint::load_model(dir.path(), &Device::default()).expect("version 1 loads");
}
