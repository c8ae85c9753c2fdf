"""Writes the ViT parity fixture: a tiny timm ViT, an input batch, its logits, losses and the
gradient of every parameter, so the Rust tests can check sweet's ViT against timm without Python.

    python3 scripts/make_vit_fixture.py  # -> crates/vit/tests/fixtures/vit_tiny.safetensors

Seeded and deterministic (CPU, float32). Needs torch, timm, safetensors.
"""
import argparse
import os

import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ARGS = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0)
CLASSES, BATCH, SMOOTHING = 5, 3, 0.1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "crates", "vit",
                                                  "tests", "fixtures", "vit_tiny.safetensors"))
    out = ap.parse_args().out
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES, **ARGS)
    # timm's init leaves biases at 0 and LayerNorms at 1/0, which would hide a swapped
    # weight/bias or a missing bias; perturb every parameter so each one matters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    x = torch.randn(BATCH, ARGS["in_chans"], ARGS["img_size"], ARGS["img_size"])
    y = torch.tensor([0, 3, 4])
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss_ls = F.cross_entropy(logits, y, label_smoothing=SMOOTHING)
    loss.backward()
    t = {"input": x, "labels": y.float(), "logits": logits.detach(), "loss": loss.detach().reshape(1),
         "loss_smoothed": loss_ls.detach().reshape(1)}
    for k, v in model.state_dict().items():
        t[f"param.{k}"] = v.contiguous()
    for k, p in model.named_parameters():
        t[f"grad.{k}"] = p.grad.contiguous()
    meta = {"torch": torch.__version__, "timm": timm.__version__, "label_smoothing": str(SMOOTHING),
            "model_args": str(ARGS), "num_classes": str(CLASSES)}
    save_file(t, out, metadata=meta)
    # The golden key list: timm's state_dict keys and shapes, in timm's order.
    keys = os.path.splitext(out)[0] + "_keys.txt"
    with open(keys, "w") as f:
        for k, v in model.state_dict().items():
            f.write(f"{k} {list(v.shape)}\n".replace(" [", " ").replace("]", "").replace(",", ""))
    print(f"wrote {out}: {len(t)} tensors, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
