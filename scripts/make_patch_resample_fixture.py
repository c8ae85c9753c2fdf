"""Writes the patch-embedding resampling fixture: timm's `resample_patch_embed` (bicubic,
antialias=True) on random conv kernels, for several patch changes.

    python3 scripts/make_patch_resample_fixture.py  # -> crates/vit/tests/fixtures/resample_patch_embed.safetensors

Tensors (float32), for each case `d<D>_c<C>_<k>to<k'>`: `<case>.input` [D, C, k, k],
`<case>.output` [D, C, k', k'] (timm, which builds the resize matrix and its pseudo-inverse in
float32) and `<case>.output_f64` (the same steps in float64, rounded to float32). Seeded and
deterministic (CPU). Needs torch, timm, safetensors.
"""
import argparse
import os

import timm
import torch
from safetensors.torch import save_file
from timm.layers import resample_patch_embed
from timm.layers.patch_embed import _apply_resampling, _compute_resize_matrix

# (out channels, in channels, patch, new patch): up by 2 and by a non-integer factor, down by 2
# (the antialiased kernel widens), an odd patch up, a strong non-integer shrink.
CASES = [(6, 1, 4, 8), (6, 1, 4, 2), (4, 3, 4, 6), (3, 2, 3, 5), (3, 2, 8, 3)]


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(
        here, "..", "crates", "vit", "tests", "fixtures", "resample_patch_embed.safetensors"))
    args = ap.parse_args()

    torch.manual_seed(0)
    tensors = {}
    for d, c, k, new in CASES:
        name = f"d{d}_c{c}_{k}to{new}"
        # Conv2d's default init scale, as a patch embedding starts.
        w = (torch.rand(d, c, k, k) * 2 - 1) / (c * k * k) ** 0.5
        out = resample_patch_embed(w, [new, new], interpolation="bicubic", antialias=True)
        assert out.shape == (d, c, new, new), out.shape
        # timm's own steps in float64: what sweet's f64 computation should match closely.
        mat = _compute_resize_matrix((k, k), (new, new), "bicubic", True, torch.device("cpu"),
                                     torch.float64)
        out64 = _apply_resampling(w.double(), torch.linalg.pinv(mat), (new, new), torch.float64,
                                  torch.float64)
        tensors[f"{name}.input"] = w.contiguous()
        tensors[f"{name}.output"] = out.contiguous()
        tensors[f"{name}.output_f64"] = out64.float().contiguous()
        print(f"{name}: max |f32 - f64| {(out - out64).abs().max().item():.2e}")
    meta = dict(torch=torch.__version__, timm=timm.__version__)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    print(f"wrote {args.out}: " + ", ".join(k[:-6] for k in tensors if k.endswith(".input")))


if __name__ == "__main__":
    main()
