"""Writes the COCO AP fixture of `crates/dense/tests/coco_ap_fixture.rs`: 8 images of 128x128,
3 classes, 0-5 objects each (small, medium and large by COCO's area ranges), and detections that
are jittered copies of them with scores, some duplicates, misses, false positives and wrong
classes; `expected.json` is pycocotools' 12 `COCOeval.stats` numbers (bbox, standard params).

    /work/venv/bin/python scripts/make_coco_ap_fixture.py
    # -> crates/dense/tests/fixtures/coco_ap/{gt,dets,expected}.json

Seeded and deterministic (numpy default_rng(13)). Needs numpy and pycocotools (2.0.11 used).

Every coordinate is a multiple of 1/4, every area an integer and every score a multiple of
1/4096, so they are exact in f32 and the Rust side evaluates the very same boxes. Scores are
distinct, so no ranking depends on how ties are broken.

File formats (classes 0-based; image i gets COCO id i + 1, class k category id k + 1):
- gt.json: {"image_size": [h, w], "num_classes": K, "objects": [[[class, x, y, w, h, area], ...]
  per image]}; `area` plays a mask's pixel count (0.5-1.0 of w * h, 0.85-1.0 for large
  boxes), so the area ranges are decided by it and not by the box (the first medium box has
  area 1000, small).
- dets.json: {"detections": [[[class, x, y, w, h, score], ...] per image]}.
- expected.json: {"stats": [12 numbers]} in pycocotools' order.

Afterwards it checks, against pycocotools, the hand-computed values of
`crates/dense/tests/eval_detection.rs` (IoU exactly 0.6, a duplicate, a miss, a wrong class).
"""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

H = W = 128
NUM_CLASSES = 3
NUM_IMAGES = 8
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "dense", "tests", "fixtures", "coco_ap")


def quarter(v):
    """Round to a multiple of 1/4 (exact in f32)."""
    return float(np.round(np.asarray(v) * 4.0) / 4.0)


def coco_stats(objects, detections, image_size=(H, W), num_classes=NUM_CLASSES):
    """pycocotools' 12 bbox stats for per-image lists [class, x, y, w, h, area] and
    [class, x, y, w, h, score], built in memory as the Rust side does."""
    h, w = image_size
    gt = {
        "images": [{"id": i + 1, "height": h, "width": w} for i in range(len(objects))],
        "categories": [{"id": k + 1, "name": f"class_{k}"} for k in range(num_classes)],
        "annotations": [],
    }
    for i, objs in enumerate(objects):
        for c, x, y, bw, bh, area in objs:
            gt["annotations"].append({
                "id": len(gt["annotations"]) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                "bbox": [x, y, bw, bh], "area": area, "iscrowd": 0,
            })
    res = [
        {"image_id": i + 1, "category_id": int(c) + 1, "bbox": [x, y, bw, bh], "score": s}
        for i, dets in enumerate(detections) for c, x, y, bw, bh, s in dets
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(res)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats]


def random_box(rng, kind):
    """A box [x, y, w, h] inside the image whose w * h falls in the range `kind`."""
    lo, hi = {"small": (4, 30), "medium": (34, 90), "large": (110, 127)}[kind]
    bw, bh = quarter(rng.uniform(lo, hi)), quarter(rng.uniform(lo, hi))
    x, y = quarter(rng.uniform(0, W - bw)), quarter(rng.uniform(0, H - bh))
    return [x, y, bw, bh]


def jitter(rng, box, scale):
    """The box moved and resized by up to `scale` of its size, kept in the image."""
    x, y, bw, bh = box
    nw = quarter(max(1.0, bw * (1 + rng.uniform(-scale, scale))))
    nh = quarter(max(1.0, bh * (1 + rng.uniform(-scale, scale))))
    nx = quarter(np.clip(x + bw * rng.uniform(-scale, scale), 0, W - nw))
    ny = quarter(np.clip(y + bh * rng.uniform(-scale, scale), 0, H - nh))
    return [nx, ny, nw, nh]


def make_fixture(rng):
    counts = [3, 5, 0, 4, 1, 0, 5, 2]  # image 2: no objects, no detections; 5: only FPs
    large = {(1, 2), (3, 2), (6, 0)}  # (image, object) pairs that are large
    scores = iter(rng.permutation(np.arange(1, 4096))[:200] / 4096.0)
    objects, detections = [], []
    shrunk = False
    for i, n in enumerate(counts):
        objs, dets = [], []
        for j in range(n):
            c = int(rng.integers(NUM_CLASSES))
            kind = "large" if (i, j) in large else ["small", "medium"][int(rng.integers(2))]
            box = random_box(rng, kind)
            fill = rng.uniform(0.85, 1.0) if kind == "large" else rng.uniform(0.5, 1.0)
            area = float(np.floor(box[2] * box[3] * fill))
            if kind == "medium" and not shrunk:
                area, shrunk = 1000.0, True  # a medium box, a small area: ranges go by `area`
            objs.append([c, *box, area])
            u = rng.uniform()
            if u < 0.15:
                continue  # missed
            dc = (c + 1 + int(rng.integers(NUM_CLASSES - 1))) % NUM_CLASSES if u < 0.25 else c
            dets.append([dc, *jitter(rng, box, 0.08), float(next(scores))])
            if rng.uniform() < 0.3:  # a duplicate, scored higher or lower
                dets.append([dc, *jitter(rng, box, 0.2), float(next(scores))])
        n_fp = int(rng.integers(3)) if i != 2 else 0
        if i == 5:
            n_fp = 2
        for _ in range(n_fp):
            kind = ["small", "medium"][int(rng.integers(2))]
            dets.append([int(rng.integers(NUM_CLASSES)), *random_box(rng, kind), float(next(scores))])
        objects.append(objs)
        detections.append(dets)
    return objects, detections


def check_hand_cases():
    """The values tests/eval_detection.rs derives by hand, as pycocotools computes them."""
    size = (64, 64)

    def stats(objs, dets):
        return coco_stats(objs, dets, size, 3)

    def close(a, b):
        assert abs(a - b) < 1e-12, (a, b)

    # Perfect predictions.
    objs = [[[0, 4, 4, 20, 20, 400], [1, 30, 10, 30, 30, 900]], [[2, 2, 2, 40, 40, 1600]]]
    s = stats(objs, [[o[:5] + [0.9] for o in im] for im in objs])
    for v in s[:3]:
        close(v, 1.0)
    # IoU exactly 75 / 125 = 0.6: passes thresholds 0.50, 0.55 and 0.60 of ten.
    s = stats([[[0, 0, 0, 10, 10, 100]]], [[[0, 2.5, 0, 10, 10, 0.9]]])
    close(s[0], 0.3), close(s[1], 1.0), close(s[2], 0.0), close(s[8], 0.3)
    # A duplicate after the true positive: AP stays 1.
    s = stats([[[0, 0, 0, 10, 10, 100]]], [[[0, 0, 0, 10, 10, 0.9], [0, 0, 0, 10, 10, 0.8]]])
    close(s[0], 1.0)
    # The better box scored lower: IoU 90 / 110 takes the object at 7 thresholds, the exact box
    # at the other 3 with precision 1/2: (7 + 3 / 2) / 10.
    s = stats([[[0, 0, 0, 10, 10, 100]]], [[[0, 1, 0, 10, 10, 0.9], [0, 0, 0, 10, 10, 0.8]]])
    close(s[0], 0.85), close(s[1], 1.0)
    # One object of two found: 51 / 101.
    s = stats([[[0, 0, 0, 10, 10, 100], [0, 50, 50, 10, 10, 100]]], [[[0, 0, 0, 10, 10, 0.9]]])
    close(s[0], 51 / 101), close(s[8], 0.5)
    # Wrong class: class 0 AP 1, class 1 AP 0, class 2 (no ground truth) left out.
    s = stats([[[0, 0, 0, 10, 10, 100]], [[1, 0, 0, 20, 20, 400]]],
              [[[0, 0, 0, 10, 10, 0.9]], [[2, 0, 0, 20, 20, 0.9]]])
    close(s[0], 0.5)
    print("hand cases agree with pycocotools")


def main():
    rng = np.random.default_rng(13)
    objects, detections = make_fixture(rng)
    stats = coco_stats(objects, detections)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "gt.json"), "w") as f:
        json.dump({"image_size": [H, W], "num_classes": NUM_CLASSES, "objects": objects}, f)
    with open(os.path.join(OUT, "dets.json"), "w") as f:
        json.dump({"detections": detections}, f)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"stats": stats}, f, indent=1)
    n_obj = sum(map(len, objects))
    n_det = sum(map(len, detections))
    print(f"{n_obj} objects, {n_det} detections; stats {np.round(stats, 4).tolist()}")
    check_hand_cases()


if __name__ == "__main__":
    main()
