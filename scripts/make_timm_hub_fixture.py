"""Writes model folders exactly as timm's hub export writes them, for sweet's reader tests:

    python scripts/make_timm_hub_fixture.py  # -> crates/vit/tests/fixtures/timm_hub/

- `token/`, `avg/`: tiny ViTs (class-token pooling; `global_pool='avg'` with fc_norm), every
  parameter perturbed off its init, written by `timm.models._hub.save_for_hf` (model.safetensors
  + config.json), plus `io.safetensors` with an input batch and timm's logits for it.
- `configs/<name>.json`: config.json only, as `save_config_for_hf` writes it for registered
  architectures at their default size (`pretrained=False`, so no download); `<name>.legacy.json`
  is the same file without `model_args`, as timm before its exports recorded them (and the hub's
  published configs) has it.
- `resolved.json`: what timm built for each config: embed_dim, depth, num_heads, patch_size,
  img_size, in_chans, num_classes, global_pool, fc_norm presence and the state-dict keys with
  shapes.

Seeded and deterministic (CPU, float32). Needs torch, timm, safetensors.
"""
import argparse
import json
import os
import shutil

import timm
import torch
from safetensors.torch import save_file
from timm.models._hub import save_config_for_hf, save_for_hf

TINY = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0)
CLASSES, BATCH = 5, 3
# (folder, entrypoint with tag, extra create_model arguments)
TINY_MODELS = [
    ("token", "vit_tiny_patch16_224.augreg_in21k_ft_in1k", dict(global_pool="token")),
    ("avg", "vit_base_patch16_224.mae", dict(global_pool="avg")),
]
# Registered architectures at default size: config.json only.
CONFIG_ONLY = [
    "vit_tiny_patch16_224.augreg_in21k_ft_in1k",
    "vit_small_patch16_384.augreg_in21k_ft_in1k",
    "vit_base_patch16_224.mae",
    "vit_large_patch16_224.augreg_in21k",
]


def describe(model):
    """timm's resolved architecture, read off the built module."""
    pe = model.patch_embed
    return dict(
        embed_dim=model.embed_dim,
        depth=len(model.blocks),
        num_heads=model.blocks[0].attn.num_heads,
        patch_size=list(pe.patch_size)[0],
        img_size=list(pe.img_size)[0],
        in_chans=model.in_chans,
        num_classes=model.num_classes,
        global_pool=model.global_pool,
        fc_norm=not isinstance(model.fc_norm, torch.nn.Identity),
        norm=not isinstance(model.norm, torch.nn.Identity),
        keys=[[k, list(v.shape)] for k, v in model.state_dict().items()],
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "crates", "vit",
                                                  "tests", "fixtures", "timm_hub"))
    out = ap.parse_args().out
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "configs"))
    torch.manual_seed(0)
    torch.set_num_threads(1)
    resolved = {}
    for folder, name, extra in TINY_MODELS:
        model = timm.create_model(name, pretrained=False, num_classes=CLASSES, **TINY, **extra)
        # Perturb every parameter (biases, norms) so a swapped or missing one shows.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        model.eval()
        d = os.path.join(out, folder)
        # timm records the create_model arguments itself; passing them too makes the export
        # independent of that (older timm wrote model_args only when given).
        save_for_hf(model, d, model_args=dict(TINY, **extra), safe_serialization=True)
        x = torch.randn(BATCH, TINY["in_chans"], TINY["img_size"], TINY["img_size"])
        with torch.no_grad():
            logits = model(x)
        save_file({"input": x, "logits": logits}, os.path.join(d, "io.safetensors"),
                  metadata={"torch": torch.__version__, "timm": timm.__version__})
        resolved[folder] = describe(model)
    for name in CONFIG_ONLY:
        model = timm.create_model(name, pretrained=False)
        path = os.path.join(out, "configs", f"{name}.json")
        save_config_for_hf(model, path)
        with open(path) as f:
            cfg = json.load(f)
        cfg.pop("model_args", None)
        with open(os.path.join(out, "configs", f"{name}.legacy.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        resolved[name] = describe(model)
    with open(os.path.join(out, "resolved.json"), "w") as f:
        json.dump({"timm": timm.__version__, "torch": torch.__version__, "models": resolved}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: {total} bytes")


if __name__ == "__main__":
    main()
