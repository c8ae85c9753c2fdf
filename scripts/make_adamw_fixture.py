"""Writes the AdamW parity fixture: torch.optim.AdamW with four param groups (decay / no decay
crossed with lr scale 1.0 / 0.5, the group lr being lr * scale as timm's and MAE's layer decay
set it), torch.nn.utils.clip_grad_norm_ before every step, 10 steps with fixed gradients and a
warm-up-then-decreasing lr.

    python3 scripts/make_adamw_fixture.py  # -> crates/train/tests/fixtures/adamw_steps.safetensors

Tensors (float32): `param.<key>` [STEPS + 1, *shape] (row 0 = initial values, row t = after
step t), `grad.<key>` [STEPS, *shape] (the gradient handed to step t + 1, before clipping),
`lr` [STEPS] (the base lr of each step), `total_norm` [STEPS] (clip_grad_norm_'s return value).
Hyper-parameters are in the metadata. Seeded and deterministic (CPU). Needs torch, safetensors.
"""
import argparse
import os

import torch
from safetensors.torch import save_file

STEPS = 10
BETAS, EPS, WD, MAX_NORM = (0.9, 0.95), 1e-8, 0.05, 1.0
# key -> (shape, decays, lr scale); the keys follow sweet's (timm's) decay rule.
PARAMS = {
    "head.weight": ((4, 3), True, 1.0),
    "head.bias": ((4,), False, 1.0),
    "template": ((2, 3, 2), True, 0.5),
    "cls_token": ((1, 1, 4), False, 0.5),
    "blocks.0.norm1.weight": ((4,), False, 0.5),
}
# Per-step gradient magnitude: the global norm is above MAX_NORM on some steps, below on others.
GRAD_SCALE = [0.1, 0.6, 0.15, 0.4, 0.05, 0.3, 0.12, 0.8, 0.08, 0.2]
LR = [1e-2 * (t + 1) / 3 if t < 3 else 1e-2 * (0.8 ** (t - 2)) for t in range(STEPS)]


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(
        here, "..", "crates", "train", "tests", "fixtures", "adamw_steps.safetensors"))
    args = ap.parse_args()

    torch.manual_seed(0)
    params = {k: torch.nn.Parameter(torch.randn(shape)) for k, (shape, _, _) in PARAMS.items()}
    grads = {k: torch.randn((STEPS,) + shape) for k, (shape, _, _) in PARAMS.items()}
    for t, s in enumerate(GRAD_SCALE):
        for g in grads.values():
            g[t] *= s

    groups = []
    for decays in (True, False):
        for scale in (1.0, 0.5):
            keys = [k for k, (_, d, s) in PARAMS.items() if d == decays and s == scale]
            groups.append(dict(params=[params[k] for k in keys], scale=scale,
                               weight_decay=WD if decays else 0.0, lr=LR[0] * scale))
    opt = torch.optim.AdamW(groups, lr=LR[0], betas=BETAS, eps=EPS, weight_decay=WD,
                            foreach=False)

    history = {k: [p.detach().clone()] for k, p in params.items()}
    norms = []
    for t in range(STEPS):
        for k, p in params.items():
            p.grad = grads[k][t].clone()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), MAX_NORM, foreach=False)
        norms.append(norm.item())
        for g in opt.param_groups:
            g["lr"] = LR[t] * g["scale"]
        opt.step()
        for k, p in params.items():
            history[k].append(p.detach().clone())
    clipped = sum(n > MAX_NORM for n in norms)
    assert 0 < clipped < STEPS, f"clipping should happen on some steps only, norms {norms}"

    tensors = {f"param.{k}": torch.stack(v).contiguous() for k, v in history.items()}
    tensors.update({f"grad.{k}": g.contiguous() for k, g in grads.items()})
    tensors["lr"] = torch.tensor(LR, dtype=torch.float32)
    tensors["total_norm"] = torch.tensor(norms, dtype=torch.float32)
    meta = dict(torch=torch.__version__, beta1=str(BETAS[0]), beta2=str(BETAS[1]), eps=str(EPS),
                weight_decay=str(WD), max_norm=str(MAX_NORM),
                lr_scale={k: s for k, (_, _, s) in PARAMS.items()}.__repr__())
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    save_file(tensors, args.out, metadata=meta)
    print(f"wrote {args.out}: {STEPS} steps, clipped on {clipped}, norms "
          + ", ".join(f"{n:.3f}" for n in norms))


if __name__ == "__main__":
    main()
