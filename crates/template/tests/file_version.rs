//! A template file's `format_version` is checked on load.

use std::collections::BTreeMap;

use burn::prelude::*;
use sweet_template::{file, TemplateConfig};
use sweet_vit::tensor_file::{self, VERSION_KEY};
use sweet_vit::VitConfig;

#[test]
fn an_unknown_template_format_version_is_an_error_naming_file_and_versions() {
    let device = Device::default();
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
    let model = sweet_template::templated_vit(&cfg, 0, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::TEMPLATE_FILE);
    file::save(&path, &model, &cfg).unwrap();
    file::load(&path, &device).expect("version 1 loads");

    let f = tensor_file::read(&path).unwrap();
    let mut meta: BTreeMap<String, String> = f.metadata.clone();
    meta.insert(VERSION_KEY.into(), "2".into());
    let tensors: Vec<_> = f.tensors.into_iter().collect();
    tensor_file::write(&path, &tensors, &meta).unwrap();
    let Err(err) = file::load(&path, &device) else {
        panic!("version 2 is refused");
    };
    let err = err.to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("sweet.template"), "{err}");
    assert!(err.contains("format_version 2"), "{err}");
    assert!(err.contains("reads format_version 1"), "{err}");
}
