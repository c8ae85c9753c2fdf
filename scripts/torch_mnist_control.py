"""Control experiment for the MNIST figure: the same ViT and recipe as `sweet train`, in PyTorch.

timm's VisionTransformer (depth 6, width 128, 4 heads, patch 4, 28x28x1, 10 classes), timm's
init, AdamW (no decay on biases, norms, cls token, pos embed), linear warm-up then half-cycle
cosine per iteration, label smoothing, no augmentation, MNIST normalized by its mean/std. Prints
test accuracy after every epoch, so a sweet run can be compared with PyTorch's on equal terms.

  python3 scripts/torch_mnist_control.py --data data/mnist --epochs 5 --batch 128 --lr 1e-3
Needs torch + timm. A study script, not a test.
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import timm
import torch
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise FileNotFoundError(os.path.join(d, stem))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup-epochs", type=float, default=0.5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    mean, std = 0.1307, 0.3081
    def load(prefix):
        x = read_idx(find(a.data, f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
        y = read_idx(find(a.data, f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
        return torch.from_numpy((x - mean) / std).unsqueeze(1), torch.from_numpy(y)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=10, img_size=28,
                              patch_size=4, in_chans=1, embed_dim=128, depth=6, num_heads=4, mlp_ratio=4.0)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or n in ("cls_token", "pos_embed") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    steps_per_epoch = len(xtr) // a.batch
    total, warm = a.epochs * steps_per_epoch, round(a.warmup_epochs * steps_per_epoch)
    def lr_at(s):
        if s < warm:
            return a.lr * s / warm
        t = (s - warm) / max(1, total - warm)
        return a.min_lr + (a.lr - a.min_lr) * 0.5 * (1 + math.cos(math.pi * t))
    step = 0
    for epoch in range(a.epochs):
        start = time.time()
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx], label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if a.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
            opt.step()
            step += 1
        model.eval()
        right = 0
        with torch.inference_mode():
            for i in range(0, len(xte), 1000):
                right += (model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
        print(f"epoch {epoch + 1} test_acc {right / len(xte):.4f} seconds {time.time() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
