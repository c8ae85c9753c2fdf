"""Writes the position-table resampling fixture: timm's `resample_abs_pos_embed` (bicubic,
antialias=True, one prefix token) on random learned tables, for several grid changes.

    python3 scripts/make_resample_fixture.py  # -> crates/vit/tests/fixtures/resample_pos_embed.safetensors

Tensors (float32), for each case `<r>x<c>_<r'>x<c'>` (from grid rows x columns to grid):
`<case>.input` [1, 1 + r*c, D], `<case>.output` [1, 1 + r'*c', D] and `<case>.output_f64`
(the same computed in float64, rounded to float32). Seeded and deterministic
(CPU). Needs torch, timm, safetensors.
"""
import argparse
import os

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.layers import resample_abs_pos_embed

D = 3
# (from grid, to grid): up, down (the kernel widens), non-square both ways, a strong shrink.
CASES = [((4, 4), (6, 6)), ((6, 6), (3, 3)), ((4, 4), (3, 5)), ((2, 4), (4, 2)),
         ((7, 5), (2, 3))]


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(
        here, "..", "crates", "vit", "tests", "fixtures", "resample_pos_embed.safetensors"))
    args = ap.parse_args()

    torch.manual_seed(0)
    tensors = {}
    for src, dst in CASES:
        name = f"{src[0]}x{src[1]}_{dst[0]}x{dst[1]}"
        table = torch.randn(1, 1 + src[0] * src[1], D)
        out = resample_abs_pos_embed(table, new_size=list(dst), old_size=list(src),
                                     num_prefix_tokens=1, interpolation="bicubic",
                                     antialias=True)
        assert out.shape == (1, 1 + dst[0] * dst[1], D), out.shape
        # The same interpolation in float64 (timm casts to float32, whose kernel rounds its
        # weights and sums): what sweet's f64 computation should match to one f32 rounding.
        grid = table[:, 1:].double().reshape(1, src[0], src[1], D).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=list(dst), mode="bicubic", antialias=True)
        out64 = torch.cat([table[:, :1].double(), grid.permute(0, 2, 3, 1).reshape(1, -1, D)], 1)
        tensors[f"{name}.input"] = table.contiguous()
        tensors[f"{name}.output"] = out.contiguous()
        tensors[f"{name}.output_f64"] = out64.float().contiguous()
    meta = dict(torch=torch.__version__, timm=timm.__version__)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    print(f"wrote {args.out}: " + ", ".join(k[:-6] for k in tensors if k.endswith(".input")))


if __name__ == "__main__":
    main()
