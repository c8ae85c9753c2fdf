"""Writes a small, learnable image folder for smoke runs on machines without data or network.

    python3 scripts/make_toy_imagefolder.py OUT [--size 32] [--channels 3] [--classes 10] \
        [--train 1000] [--test 200] [--seed 0]

Layout as `sweet train --data imagefolder` reads it: OUT/train/<class>/NNNNN.png and
OUT/test/<class>/NNNNN.png. Class k is a bright square in cell k of a ceil(sqrt(classes))
grid on a dark background, plus seeded uniform noise (the pattern of crates/data's `synthetic`),
so a small ViT learns it within an epoch. Standard library only (zlib PNG writer): no PIL or
numpy needed.
"""
import argparse
import math
import os
import random
import struct
import zlib

BACKGROUND, FOREGROUND, NOISE = 20, 220, 30


def png(path, rows, width, height, channels):
    """Writes 8-bit gray (channels 1) or RGB (channels 3) rows (bytes of width * channels)."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    color = 0 if channels == 1 else 2
    raw = b"".join(b"\x00" + r for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def square(k, classes, side):
    g = math.ceil(math.sqrt(classes))
    cell = max(side // g, 1)
    top = min((k // g) * cell, side - cell)
    left = min((k % g) * cell, side - cell)
    m = 1 if cell >= 3 else 0
    return top + m, left + m, cell - 2 * m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, choices=[1, 3], default=3)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    s, c = a.size, a.channels
    for split, n in (("train", a.train), ("test", a.test)):
        for k in range(a.classes):
            os.makedirs(os.path.join(a.out, split, f"class{k:02d}"), exist_ok=True)
        for i in range(n):
            k = i % a.classes
            top, left, side = square(k, a.classes, s)
            noise = rng.randbytes(s * s * c)  # byte b -> noise b % 61 - 30, in -NOISE..=NOISE
            rows = []
            for y in range(s):
                row = bytearray(s * c)
                for j in range(s * c):
                    x = j // c
                    base = FOREGROUND if top <= y < top + side and left <= x < left + side else BACKGROUND
                    row[j] = min(max(base + noise[y * s * c + j] % (2 * NOISE + 1) - NOISE, 0), 255)
                rows.append(bytes(row))
            png(os.path.join(a.out, split, f"class{k:02d}", f"{i:05d}.png"), rows, s, s, c)
    print(f"toy imagefolder: {a.out} ({a.train} train, {a.test} test, {a.classes} classes, "
          f"{s}x{s}x{c})")


if __name__ == "__main__":
    main()
