"""Writes a split of the shapes dataset as PNG files + COCO instances JSON.

  /usr/bin/python3 tools/model/make_dataset.py --seed 3000 --count 200 --out work/heldout

Seeds: 1000 = training (train.py), 3000 = the held-out test split of the model card, 5000 = the
loss fixtures. Masks are written as COCO uncompressed RLE.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from make_fixtures import rle_uncompressed  # noqa: E402
from shapes import CLASSES, make_image  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=3000)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    coco = {"info": {"description": f"shapes split seed {a.seed}"}, "images": [], "annotations": [],
            "categories": [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(CLASSES)]}
    aid = 1
    for i in range(a.count):
        img, objs = make_image(a.seed, i)
        name = f"{a.seed}-{i:05d}.png"
        Image.fromarray(img).save(os.path.join(a.out, "images", name))
        h, w = img.shape[:2]
        coco["images"].append({"id": i + 1, "file_name": name, "height": h, "width": w})
        for o in objs:
            coco["annotations"].append({"id": aid, "image_id": i + 1, "category_id": o["category_id"],
                                        "bbox": o["bbox"], "area": int(o["mask"].sum()), "iscrowd": 0,
                                        "segmentation": rle_uncompressed(o["mask"])})
            aid += 1
    with open(os.path.join(a.out, "annotations.json"), "w") as f:
        json.dump(coco, f)
    print(f"{a.count} images, {aid - 1} instances -> {a.out}")


if __name__ == "__main__":
    main()
