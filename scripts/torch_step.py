"""PyTorch reference for `sweet bench step` and `sweet bench mae-step`, on the CPU or a GPU.

Times one optimizer step (forward, backward, AdamW) on random data, in eager fp32 PyTorch:

  --task classify  a timm-style ViT (pre-norm blocks, LayerNorm eps 1e-6, erf GELU, fused qkv,
                   class token, learned position embedding) with cross-entropy over 10 classes;
  --task mae       a dense MAE: random 75% masking per image, the encoder on the visible 25% of
                   the patches, a decoder of depth 2, width 128, 4 heads, norm-pix MSE loss on
                   the masked patches.

  python3 scripts/torch_step.py --task classify --depth 6 --width 192 --heads 3 --img 32 \
      --patch 4 --chans 3 --batch 64 --threads 2
  python3 scripts/torch_step.py --device cuda --task mae --depth 12 --width 384 --heads 6 \
      --img 224 --patch 16 --chans 3 --batch 128

Prints one line: RESULT task=... median_ms=... min_ms=... max_ms=... img_per_s=...
(the line of ../shared/bench/torch_vit_step.py, which this mirrors with the same argument names,
plus `--device`). On CUDA the GPU is synchronized before and after every timed step, TF32 is off
unless --tf32, and --threads is ignored. Attention is written out (q k^T, softmax, v) as in the
CPU reference; --sdpa uses F.scaled_dot_product_attention instead. A benchmark, not a test.
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def attend(q, k, v, sdpa):
    if sdpa:
        return F.scaled_dot_product_attention(q, k, v)
    scale = q.shape[-1] ** -0.5
    return ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1) @ v


class Block(nn.Module):
    """timm's ViT block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim, heads, sdpa=False, mlp_ratio=4):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        h = attend(q, k, v, self.sdpa).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(h)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="none"))


class Encoder(nn.Module):
    """Patch embedding, class token, learned position embedding, blocks, final norm, head."""

    def __init__(self, depth, width, heads, img, patch, chans, classes=10, sdpa=False):
        super().__init__()
        patches = (img // patch) ** 2
        self.patch_embed = nn.Conv2d(chans, width, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(1e-6 * torch.randn(1, 1, width))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, patches + 1, width))
        self.blocks = nn.ModuleList(Block(width, heads, sdpa) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, classes)

    def patch_tokens(self, img):
        """[B, N, D] patch tokens with their position embedding (no class token yet)."""
        return self.patch_embed(img).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]

    def run(self, tokens):
        """Prepends the class token and applies the blocks and the final norm."""
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        x = torch.cat((cls, tokens), dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, img):
        return self.head(self.run(self.patch_tokens(img))[:, 0])


def Vit(a, classes=10):
    """The classifier from parsed arguments, as ../shared/bench/torch_vit_step.py's `Vit(a)`
    (scripts/torch_predict.py --ref loads either file)."""
    return Encoder(a.depth, a.width, a.heads, a.img, a.patch, a.chans, classes, getattr(a, "sdpa", False))


class Mae(nn.Module):
    def __init__(self, a, dec_width=128, dec_depth=2, dec_heads=4, mask_ratio=0.75):
        super().__init__()
        self.patch, self.mask_ratio = a.patch, mask_ratio
        patches = (a.img // a.patch) ** 2
        self.encoder = Encoder(a.depth, a.width, a.heads, a.img, a.patch, a.chans, sdpa=a.sdpa)
        self.decoder_embed = nn.Linear(a.width, dec_width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec_width))
        self.decoder_pos_embed = nn.Parameter(0.02 * torch.randn(1, patches + 1, dec_width))
        self.decoder_blocks = nn.ModuleList(Block(dec_width, dec_heads, a.sdpa) for _ in range(dec_depth))
        self.decoder_norm = nn.LayerNorm(dec_width, eps=1e-6)
        self.decoder_pred = nn.Linear(dec_width, a.patch * a.patch * a.chans)

    def targets(self, img):
        """Norm-pix targets: every patch flattened as (row, col, channel), then standardized."""
        b, c, _, _ = img.shape
        p = self.patch
        t = img.unfold(2, p, p).unfold(3, p, p)  # [B, C, H/p, W/p, p, p]
        t = t.permute(0, 2, 3, 4, 5, 1).reshape(b, -1, p * p * c)
        return (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6).sqrt()

    def forward(self, img):
        tokens = self.encoder.patch_tokens(img)
        b, n, d = tokens.shape
        keep = int(n * (1 - self.mask_ratio))
        order = torch.rand(b, n, device=img.device).argsort(dim=1)  # random shuffle per image
        restore = order.argsort(dim=1)
        visible = tokens.gather(1, order[:, :keep, None].expand(-1, -1, d))
        z = self.decoder_embed(self.encoder.run(visible))  # [B, 1 + keep, dec]
        dec = z.shape[2]
        y = torch.cat((z[:, 1:], self.mask_token.expand(b, n - keep, -1)), dim=1)
        y = y.gather(1, restore[:, :, None].expand(-1, -1, dec))  # back to patch order
        y = torch.cat((z[:, :1], y), dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            y = block(y)
        pred = self.decoder_pred(self.decoder_norm(y))[:, 1:]
        masked = torch.ones(b, n, device=img.device)
        masked[:, :keep] = 0
        masked = masked.gather(1, restore)  # 1 where the patch was hidden from the encoder
        per_patch = ((pred - self.targets(img)) ** 2).mean(dim=-1)
        return (per_patch * masked).sum() / masked.sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=["classify", "mae"], default="classify")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    for name, default in dict(depth=6, width=192, heads=3, img=32, patch=4, chans=3, batch=64,
                              threads=2, warmup=3, steps=20).items():
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--sdpa", action="store_true", help="fused attention (default: written out)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions on CUDA")
    a = ap.parse_args()
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
    else:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = (Vit(a) if a.task == "classify" else Mae(a)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    x = torch.randn(a.batch, a.chans, a.img, a.img).to(device)
    y = (torch.arange(a.batch) % 10).to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    times = []
    for i in range(a.warmup + a.steps):
        sync()
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y) if a.task == "classify" else model(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        sync()
        if i >= a.warmup:
            times.append((time.perf_counter() - start) * 1e3)
    med = statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    where = torch.cuda.get_device_name(device).replace(" ", "_") if cuda else f"cpu threads={a.threads}"
    print(f"RESULT task={a.task} torch={torch.__version__} params={params} device={where} "
          f"median_ms={med:.1f} min_ms={min(times):.1f} max_ms={max(times):.1f} "
          f"img_per_s={a.batch * 1e3 / med:.1f}")


if __name__ == "__main__":
    main()
