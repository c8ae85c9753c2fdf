"""Checks a canvas set written by `sweet data canvas` with pycocotools (not part of cargo test).

    python3 scripts/check_canvas_coco.py data/mnist-canvas [--seed 0] [--sample 500]

For each split, on a seeded sample of annotations: pycocotools loads annotations.json; each RLE
decodes to a mask whose pixel count is `area` and whose tight bounds (`maskUtils.toBbox`) are
`bbox`; each image's semantic PNG is `category_id` on the union of its masks and 0 elsewhere;
and COCOeval scores the ground truth against itself (score 1) at AP 1.0 for bbox and segm.
Exits non-zero on the first mismatch. Needs pycocotools, numpy and Pillow.
"""
import argparse
import contextlib
import io
import os
import random
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def fail(msg):
    print(f"check_canvas_coco: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check_split(root, split, rng, sample):
    d = os.path.join(root, split)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.path.join(d, "annotations.json"))
    img_ids = sorted(coco.getImgIds())
    picked = rng.sample(img_ids, min(sample, len(img_ids)))
    checked = 0
    for img_id in picked:
        info = coco.loadImgs(img_id)[0]
        h, w = info["height"], info["width"]
        expected = np.zeros((h, w), np.uint8)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
            rle = ann["segmentation"]
            m = mask_utils.decode(rle)
            if int(m.sum()) != ann["area"] or int(mask_utils.area(rle)) != ann["area"]:
                fail(f"{split} annotation {ann['id']}: mask has {m.sum()} pixels, area {ann['area']}")
            if list(mask_utils.toBbox(rle)) != ann["bbox"]:
                fail(f"{split} annotation {ann['id']}: toBbox {mask_utils.toBbox(rle)} != bbox {ann['bbox']}")
            ys, xs = np.nonzero(m)
            tight = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            if [float(v) for v in tight] != ann["bbox"]:
                fail(f"{split} annotation {ann['id']}: tight bounds {tight} != bbox {ann['bbox']}")
            if (expected[m == 1] != 0).any():
                fail(f"{split} annotation {ann['id']}: overlaps another mask")
            expected[m == 1] = ann["category_id"]
            checked += 1
        sem = np.array(Image.open(os.path.join(d, "semantic", info["file_name"])))
        if sem.shape != (h, w) or (sem != expected).any():
            fail(f"{split} image {img_id}: semantic map differs from the instance masks")
    # ground truth scored against itself must give AP 1.0
    dets = [dict(a, score=1.0) for a in coco.dataset["annotations"]]
    aps = {}
    for iou_type in ("bbox", "segm"):
        with contextlib.redirect_stdout(io.StringIO()):
            dt = coco.loadRes([{k: v for k, v in a.items() if k != "id"} for a in dets])
            ev = COCOeval(coco, dt, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        aps[iou_type] = ev.stats[0]
        if abs(ev.stats[0] - 1.0) > 1e-9:
            fail(f"{split}: {iou_type} AP of the ground truth against itself is {ev.stats[0]}")
    n = len(coco.dataset["annotations"])
    print(f"{split}: {len(img_ids)} images, {n} annotations; {checked} annotations of "
          f"{len(picked)} images checked; self AP bbox {aps['bbox']:.3f} segm {aps['segm']:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=500, help="images checked per split")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    for split in ("train", "test"):
        check_split(a.dir, split, rng, a.sample)
    print("check_canvas_coco: OK")


if __name__ == "__main__":
    main()
