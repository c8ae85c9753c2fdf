"""Writes crates/generate/tests/fixtures/schedule.json: DDPM noise schedules computed the way
improved-diffusion (openai/improved-diffusion, gaussian_diffusion.py: get_named_beta_schedule,
betas_for_alpha_bar) computes them, in float64 with numpy, at T = 1000 and T = 100, and DDIM's
uniform timesteps (range(0, T, T // S)).

    /work/venv/bin/python scripts/make_schedule_fixture.py
"""
import json
import math

import numpy as np


def linear(T):
    scale = 1000 / T
    return np.linspace(scale * 0.0001, scale * 0.02, T, dtype=np.float64)


def cosine(T):
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    return np.array([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)], dtype=np.float64)


out = {"schedules": []}
for name, fn in [("linear", linear), ("cosine", cosine)]:
    for T in [1000, 100]:
        betas = fn(T)
        ab = np.cumprod(1.0 - betas)
        idx = sorted({0, 1, 2, T // 4, T // 2, T - 2, T - 1})
        out["schedules"].append({
            "kind": name,
            "timesteps": T,
            "indices": idx,
            "betas": [float(betas[i]) for i in idx],
            "alphas_cumprod": [float(ab[i]) for i in idx],
        })
out["ddim"] = [{"timesteps": T, "steps": S, "visited": list(range(0, T, T // S))[:S]}
               for T, S in [(1000, 50), (1000, 1), (1000, 3), (100, 100), (1000, 7)]]
path = "crates/generate/tests/fixtures/schedule.json"
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
