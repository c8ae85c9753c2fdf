"""PyTorch reference for `sweet bench predict`: forward-only throughput of the same ViT.

Imports the model from ../shared/bench/torch_vit_step.py (path given by --ref) so both
benchmarks time the same architecture. Prints one line like torch_vit_step.py:
  RESULT task=predict torch=... median_ms=... min_ms=... max_ms=... img_per_s=...
"""
import argparse
import importlib.util
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="../shared/bench/torch_vit_step.py")
    for k, v in dict(depth=6, width=192, heads=3, img=32, patch=4, chans=3, batch=256, threads=2,
                     warmup=3, steps=20).items():
        ap.add_argument(f"--{k}", type=int, default=v)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("torch_vit_step", a.ref)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ref.Vit(a).eval()
    x = torch.randn(a.batch, a.chans, a.img, a.img)
    times = []
    with torch.inference_mode():
        for i in range(a.warmup + a.steps):
            t = time.perf_counter()
            model(x).sum().item()
            if i >= a.warmup:
                times.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(times)
    print(f"RESULT task=predict torch={torch.__version__} threads={a.threads} median_ms={med:.1f} "
          f"min_ms={min(times):.1f} max_ms={max(times):.1f} img_per_s={a.batch * 1e3 / med:.1f}")


if __name__ == "__main__":
    main()
