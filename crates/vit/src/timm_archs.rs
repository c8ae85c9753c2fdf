//! The timm ViT entrypoints sweet knows, with the defaults each one gives `VisionTransformer`
//! when a `config.json` has no `model_args`.
//!
//! Facts from timm (`timm/models/vision_transformer.py`, checked against timm 1.0.31):
//! every entrypoint below sets only `patch_size`, `embed_dim`, `depth` and `num_heads`;
//! everything else is `VisionTransformer.__init__`'s default (`in_chans=3`, `mlp_ratio=4.`,
//! `num_classes=1000`, `global_pool='token'`, `fc_norm=None`, `class_token=True`, ...). The
//! `_384` entrypoints get their image side from their default pretrained config
//! (`input_size=(3, 384, 384)`, `fixed_input_size=True`), not from the entrypoint itself.
//! A pretrained tag (`vit_base_patch16_224.mae`, `.augreg_in21k_ft_in1k`, ...) selects weights
//! and a `pretrained_cfg`, never other entrypoint arguments.

/// One registered timm entrypoint and the architecture it builds by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimmArch {
    /// Entrypoint name without a pretrained tag, e.g. `vit_base_patch16_224`.
    pub name: &'static str,
    pub patch_size: usize,
    pub embed_dim: usize,
    pub depth: usize,
    pub num_heads: usize,
    /// Image side of the entrypoint's default pretrained config.
    pub img_size: usize,
}

const fn arch(
    name: &'static str,
    embed_dim: usize,
    depth: usize,
    num_heads: usize,
    img_size: usize,
) -> TimmArch {
    TimmArch {
        name,
        patch_size: 16,
        embed_dim,
        depth,
        num_heads,
        img_size,
    }
}

/// The registered architectures, smallest first.
pub const TIMM_ARCHS: &[TimmArch] = &[
    arch("vit_tiny_patch16_224", 192, 12, 3, 224),
    arch("vit_tiny_patch16_384", 192, 12, 3, 384),
    arch("vit_small_patch16_224", 384, 12, 6, 224),
    arch("vit_small_patch16_384", 384, 12, 6, 384),
    arch("vit_base_patch16_224", 768, 12, 12, 224),
    arch("vit_base_patch16_384", 768, 12, 12, 384),
    arch("vit_large_patch16_224", 1024, 24, 16, 224),
    arch("vit_large_patch16_384", 1024, 24, 16, 384),
];

/// `VisionTransformer.__init__` defaults that no entrypoint above overrides.
pub const DEFAULT_IN_CHANS: usize = 3;
pub const DEFAULT_MLP_RATIO: f64 = 4.0;
pub const DEFAULT_NUM_CLASSES: usize = 1000;

/// Splits `name.tag` into the entrypoint name and the pretrained tag (timm's
/// `split_model_name_tag`: the tag is everything after the first dot).
pub fn split_tag(architecture: &str) -> (&str, Option<&str>) {
    match architecture.split_once('.') {
        Some((name, tag)) => (name, Some(tag)),
        None => (architecture, None),
    }
}

/// The registered entrypoint of `architecture` (any pretrained tag is ignored).
pub fn lookup(architecture: &str) -> Option<&'static TimmArch> {
    let (name, _) = split_tag(architecture);
    TIMM_ARCHS.iter().find(|a| a.name == name)
}

/// The registered names, comma-separated (for error messages).
pub fn known_names() -> String {
    TIMM_ARCHS
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_do_not_change_the_architecture() {
        let base = lookup("vit_base_patch16_224").unwrap();
        assert_eq!(lookup("vit_base_patch16_224.mae"), Some(base));
        assert_eq!(
            lookup("vit_base_patch16_224.augreg_in21k_ft_in1k"),
            Some(base)
        );
        assert_eq!((base.embed_dim, base.depth, base.num_heads), (768, 12, 12));
        assert_eq!(lookup("vit_large_patch16_384").unwrap().img_size, 384);
        assert_eq!(lookup("deit_tiny_patch16_224"), None);
        assert_eq!(split_tag("a.b.c"), ("a", Some("b.c")));
    }
}
