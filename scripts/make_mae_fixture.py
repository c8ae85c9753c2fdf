"""Writes the MAE parity fixture: a tiny timm ViT encoder and a decoder built as MAE's official
`models_mae.py` (timm Blocks, decoder_embed / mask_token / decoder_pos_embed / decoder_norm /
decoder_pred), one masked forward with saved noise, the norm-pix loss, the prediction and the
gradient of every parameter; plus MAE's numpy 2-D sin-cos tables for a few sizes.

    python3 scripts/make_mae_fixture.py  # -> crates/mae/tests/fixtures/mae_tiny.safetensors

Seeded and deterministic (CPU, float32). Needs torch, timm, numpy, safetensors.
"""
import argparse
import os
from functools import partial

import numpy as np
import timm
import torch
import torch.nn as nn
from safetensors.torch import save_file
from timm.models.vision_transformer import Block, VisionTransformer

ENC = dict(img_size=16, patch_size=4, in_chans=3, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0)
DEC = dict(width=16, depth=2, heads=2, mlp_ratio=4.0)
BATCH, MASK_RATIO = 3, 0.75
# (dim, grid) of the sin-cos tables to check: encoder, decoder, and MNIST-sized ones.
SINCOS = [(32, 4), (16, 4), (8, 3), (128, 7), (48, 8)]


# --- MAE's util/pos_embed.py, verbatim apart from np.float -> np.float64 -----------------------
def get_2d_sincos_pos_embed(embed_dim, grid_size, cls_token=False):
    grid_h = np.arange(grid_size, dtype=np.float32)
    grid_w = np.arange(grid_size, dtype=np.float32)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0)
    grid = grid.reshape([2, 1, grid_size, grid_size])
    pos_embed = get_2d_sincos_pos_embed_from_grid(embed_dim, grid)
    if cls_token:
        pos_embed = np.concatenate([np.zeros([1, embed_dim]), pos_embed], axis=0)
    return pos_embed


def get_2d_sincos_pos_embed_from_grid(embed_dim, grid):
    assert embed_dim % 2 == 0
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])  # (H*W, D/2)
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])  # (H*W, D/2)
    return np.concatenate([emb_h, emb_w], axis=1)  # (H*W, D)


def get_1d_sincos_pos_embed_from_grid(embed_dim, pos):
    assert embed_dim % 2 == 0
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.
    omega = 1. / 10000**omega  # (D/2,)
    pos = pos.reshape(-1)  # (M,)
    out = np.einsum('m,d->md', pos, omega)  # (M, D/2), outer product
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)  # (M, D)


# --- MAE's models_mae.py, the parts that matter, around a timm encoder ------------------------
class Decoder(nn.Module):
    def __init__(self, enc_dim, num_patches, patch, chans, width, depth, heads, mlp_ratio):
        super().__init__()
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_embed = nn.Linear(enc_dim, width, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, width), requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(width, heads, mlp_ratio, qkv_bias=True, norm_layer=norm_layer) for _ in range(depth)])
        self.decoder_norm = norm_layer(width)
        self.decoder_pred = nn.Linear(width, patch ** 2 * chans, bias=True)
        table = get_2d_sincos_pos_embed(width, int(num_patches ** .5), cls_token=True)
        self.decoder_pos_embed.data.copy_(torch.from_numpy(table).float().unsqueeze(0))

    def forward(self, x, ids_restore):
        x = self.decoder_embed(x)
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # no cls token
        x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))  # unshuffle
        x = torch.cat([x[:, :1, :], x_], dim=1)  # append cls token
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        x = self.decoder_pred(x)
        return x[:, 1:, :]


def patchify(imgs, p):
    c = imgs.shape[1]
    h = w = imgs.shape[2] // p
    x = imgs.reshape(shape=(imgs.shape[0], c, h, p, w, p))
    x = torch.einsum('nchpwq->nhwpqc', x)
    return x.reshape(shape=(imgs.shape[0], h * w, p ** 2 * c))


def random_masking(x, len_keep, noise):
    n, l, d = x.shape
    ids_shuffle = torch.argsort(noise, dim=1)  # ascend: small is keep, large is remove
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    x_masked = torch.gather(x, dim=1, index=ids_keep.unsqueeze(-1).repeat(1, 1, d))
    mask = torch.ones([n, l])
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return x_masked, mask, ids_restore, ids_keep


def forward_encoder(enc, imgs, len_keep, noise):
    x = enc.patch_embed(imgs)
    x = x + enc.pos_embed[:, 1:, :]
    x, mask, ids_restore, ids_keep = random_masking(x, len_keep, noise)
    cls_token = enc.cls_token + enc.pos_embed[:, :1, :]
    x = torch.cat((cls_token.expand(x.shape[0], -1, -1), x), dim=1)
    for blk in enc.blocks:
        x = blk(x)
    return enc.norm(x), mask, ids_restore, ids_keep


def forward_loss(imgs, pred, mask, p):
    target = patchify(imgs, p)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1.e-6) ** .5
    loss = ((pred - target) ** 2).mean(dim=-1)  # [N, L], mean loss per patch
    return (loss * mask).sum() / mask.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "crates", "mae",
                                                  "tests", "fixtures", "mae_tiny.safetensors"))
    out = ap.parse_args().out
    torch.manual_seed(0)
    torch.set_num_threads(1)
    grid = ENC["img_size"] // ENC["patch_size"]
    num_patches = grid * grid
    enc = VisionTransformer(num_classes=0, **ENC)
    enc.pos_embed.data.copy_(torch.from_numpy(
        get_2d_sincos_pos_embed(ENC["embed_dim"], grid, cls_token=True)).float().unsqueeze(0))
    dec = Decoder(ENC["embed_dim"], num_patches, ENC["patch_size"], ENC["in_chans"], **DEC)
    # Perturb every trainable parameter off its init so that each one matters (a swapped
    # weight/bias or a dropped term shows); the fixed decoder_pos_embed stays the sin-cos table.
    with torch.no_grad():
        for m in (enc, dec):
            for p in m.parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.05)
    enc.eval()
    dec.eval()
    x = torch.randn(BATCH, ENC["in_chans"], ENC["img_size"], ENC["img_size"])
    noise = torch.rand(BATCH, num_patches)
    # Rust's keep_count: round((1 - ratio) * N) (MAE floors; both give 4 here).
    len_keep = int(round((1 - MASK_RATIO) * num_patches))
    latent, mask, ids_restore, ids_keep = forward_encoder(enc, x, len_keep, noise)
    pred = dec(latent, ids_restore)
    loss = forward_loss(x, pred, mask, ENC["patch_size"])
    loss.backward()

    t = {"input": x, "noise": noise, "mask": mask, "ids_restore": ids_restore.float(),
         "ids_keep": ids_keep.float(), "latent": latent.detach(), "pred": pred.detach().contiguous(),
         "loss": loss.detach().reshape(1)}
    for k, v in enc.state_dict().items():
        t[f"encoder.{k}"] = v.contiguous()
    # decoder.* holds what the Rust decoder stores; the fixed table is kept apart to compare.
    for k, v in dec.state_dict().items():
        t[k if k == "decoder_pos_embed" else f"decoder.{k}"] = v.contiguous()
    for prefix, m in (("encoder.", enc), ("decoder.", dec)):
        for k, p in m.named_parameters():
            if p.requires_grad:
                t[f"grad.{prefix}{k}"] = p.grad.contiguous()
    for dim, g in SINCOS:
        t[f"sincos.{dim}.{g}"] = torch.from_numpy(get_2d_sincos_pos_embed(dim, g, cls_token=True)).float()
    meta = {"torch": torch.__version__, "timm": timm.__version__, "numpy": np.__version__,
            "encoder_args": str(ENC), "decoder_args": str(DEC), "mask_ratio": str(MASK_RATIO),
            "len_keep": str(len_keep)}
    save_file(t, out, metadata=meta)
    size = os.path.getsize(out)
    print(f"wrote {out}: {len(t)} tensors, {size / 1024:.0f} KiB, keep {len_keep}/{num_patches}, "
          f"loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
