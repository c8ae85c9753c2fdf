"""Loads a sweet model folder into timm (strict, no conversion) and compares its logits with
`sweet predict` on the same random input.

    python3 scripts/check_timm.py runs/mnist/model [--sweet target/release/sweet] [--device cuda]

timm runs on the CPU; `--device` is passed to `sweet predict` (default: sweet's own, BURN_DEVICE
or the build's first backend). Prints the max |logit difference| and exits non-zero above --tol
(1e-4). Needs torch, timm, safetensors.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import timm
import torch
from safetensors.torch import load_file, save_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--sweet", default="target/release/sweet")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", help="sweet's --device for predict: cpu, cuda or cuda:N")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    model = timm.create_model(cfg["architecture"], pretrained=False, num_classes=cfg["num_classes"],
                              **cfg["model_args"])
    missing = model.load_state_dict(load_file(os.path.join(a.model, "model.safetensors")), strict=True)
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(a.batch, *cfg["pretrained_cfg"]["input_size"])
    with torch.no_grad():
        ref = model(x)
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "x.safetensors"), os.path.join(d, "y.safetensors")
        save_file({"images": x.contiguous()}, inp)
        device = ["--device", a.device] if a.device else []
        subprocess.run([a.sweet, *device, "predict", "--model", a.model, "--input", inp, "--output", out,
                        "--json"], check=True, stdout=subprocess.DEVNULL)
        got = load_file(out)["logits"]
    diff = (got - ref).abs().max().item()
    where = f" (sweet on {a.device})" if a.device else ""
    print(f"timm strict load: {missing}; logits {tuple(ref.shape)}; max |sweet - timm| = {diff:.3e}{where}")
    sys.exit(0 if diff < a.tol else 1)


if __name__ == "__main__":
    main()
