#!/usr/bin/env python3
"""Plots the masked-patch test loss per epoch of `sweet pretrain` runs (their metrics.jsonl).

    python scripts/plot_pretrain_curves.py --out docs/pretrain-curves.png \
        nested=runs/fmnist-nested-20 dense=runs/fmnist-dense-20 off=runs/fmnist-off ...

Each argument is LABEL=RUN_FOLDER. Needs matplotlib (not a test dependency).
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(run: Path):
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (is {run} a `sweet pretrain` run folder?)")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{path}: no finished epoch yet")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN")
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    ap.add_argument("--title", default="MAE pre-training, masked-patch loss on test images")
    args = ap.parse_args()

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for spec in args.runs:
        label, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"{spec!r}: expected LABEL=RUN_FOLDER")
        rows = read_metrics(Path(folder))
        ax.plot([r["epoch"] for r in rows], [r["test_loss"] for r in rows], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked-patch loss (1.0 = patch mean)")
    ax.set_title(args.title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=args.out.parent)
    os.close(fd)
    fig.savefig(tmp)
    os.replace(tmp, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
