"""Writes the set that proves the real-size export (tools/model/README.md, "Verify an export"):

  /usr/bin/python3 tools/model/make_verify_set.py --out work/byom [--noise 12] [--checkpoints]

  <out>/images/*.png       synthetic shapes images (tools/model/shapes.py) at COCO-like sizes (HxW):
                           480x640, 427x640, 640x512, 375x500, 612x612, 1200x1600; --noise A adds
                           seeded uniform noise in [-A, A] to every pixel (a texture, as photos have:
                           flat colour fields give thousands of exactly equal RPN scores)
  <out>/annotations.json   COCO instances (uncompressed RLE masks, category ids 1..3)
  <out>/classes.txt        square, circle, triangle (one a line, background excluded)
  with --checkpoints: <out>/r50_v1.pth, <out>/r50_v2.pth: seeded random-init state_dicts of
  torchvision's maskrcnn_resnet50_fpn / _v2 with num_classes 4 (nothing downloaded), ~170 MB each.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import rle_uncompressed  # noqa: E402
from shapes import CLASSES, make_image  # noqa: E402

SEED = 7000
SIZES = [(480, 640), (427, 640), (640, 512), (375, 500), (612, 612), (1200, 1600)]  # (H, W)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="work/byom")
    ap.add_argument("--checkpoints", action="store_true")
    ap.add_argument("--noise", type=int, default=0, help="uniform pixel noise amplitude (0: flat colours)")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]}
    ann_id = 1
    for img_id, (h, w) in enumerate(SIZES, start=1):
        for idx in range(1000):
            img, objs = make_image(SEED + img_id, idx, min_objects=2, max_objects=4, width=w, height=h)
            if len(objs) >= 2:
                break
        if a.noise:
            rng = np.random.default_rng([SEED, img_id, 1])
            img = np.clip(img.astype(np.int16) + rng.integers(-a.noise, a.noise + 1, size=img.shape), 0, 255).astype(np.uint8)
        name = f"s{h}x{w}.png"
        Image.fromarray(img).save(os.path.join(a.out, "images", name))
        coco["images"].append({"id": img_id, "file_name": name, "height": h, "width": w})
        for o in objs:
            coco["annotations"].append({"id": ann_id, "image_id": img_id, "category_id": o["category_id"],
                                        "bbox": o["bbox"], "area": int(o["mask"].sum()), "iscrowd": 0,
                                        "segmentation": rle_uncompressed(o["mask"])})
            ann_id += 1
        print(name, len(objs), "objects")
    with open(os.path.join(a.out, "annotations.json"), "w") as f:
        json.dump(coco, f)
    with open(os.path.join(a.out, "classes.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    if a.checkpoints:
        import torch
        import torchvision
        for arch, seed, fname in (("maskrcnn_resnet50_fpn", 1, "r50_v1.pth"), ("maskrcnn_resnet50_fpn_v2", 2, "r50_v2.pth")):
            torch.manual_seed(seed)
            model = getattr(torchvision.models.detection, arch)(weights=None, weights_backbone=None,
                                                               num_classes=len(CLASSES) + 1)
            torch.save(model.state_dict(), os.path.join(a.out, fname))
            print(fname, f"{os.path.getsize(os.path.join(a.out, fname)) / 1e6:.0f} MB")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
