"""Writes the reference fixtures the TypeScript loss tests compare against (test/fixtures/losses/).

  /usr/bin/python3 tools/model/make_fixtures.py --config tools/model/config.json \
      --weights models/shapes/weights.pt --out test/fixtures/losses

For each case (sizes from 96x518 to 320x320, G = 0..4 objects, elongated images), writes
  images/<name>.png                    the input image (what a client uploads)
  annotations.json                     COCO instances JSON of all cases (masks as uncompressed RLE)
  index.json                           per image: torchvision's five losses computed with the
                                       deterministic recipe (sampling "all") and the exact expected
                                       value of the stock random sampler ("expected"), the element
                                       counts, and the graph's detections (eager LossCapable wrapper)
Deterministic recipe (docs/losses.md, sampling): sampler batch sizes 2**30, test-time RPN top-n for training,
a single min_size, BatchNorm in eval (the default model uses GroupNorm), pooler scales pinned.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from build import build_model, load_config, pin_pooler_scales  # noqa: E402
from export import LossCapable  # noqa: E402
from loss_recipe import LossRecipe  # noqa: E402
from shapes import CLASSES, make_image  # noqa: E402

FIXTURE_SEED = 5000
CASES = [  # (name, height, width, G)
    ("wide-96x518", 96, 518, 2), ("tall-518x96", 518, 96, 1), ("sq-320", 320, 320, 4),
    ("sq-256", 256, 256, 1), ("sq-233", 233, 233, 2), ("r-202x154", 202, 154, 3),
    ("r-116x197", 116, 197, 1), ("empty-128", 128, 128, 0), ("r-300x128", 300, 128, 3),
    ("r-160x240", 160, 240, 4), ("r-320x200", 320, 200, 2), ("r-144x288", 144, 288, 1),
    ("r-280x180", 280, 180, 3),
    # rounding edge of the resize rule: a float32 division gives one pixel more or less than
    # torchvision's reciprocal-then-multiply (158x279 -> 181x319, not 181x320)
    ("edge-158x279", 158, 279, 2), ("edge-318x139", 318, 139, 2), ("edge-142x223", 142, 223, 1),
    ("edge-160x200", 160, 200, 2),
]


# cases whose eager graph-contract tensors are also written (eager/<name>.json, base64 little-endian),
# so the loss core can be checked against torchvision without onnxruntime's numerics in between
EAGER_DUMP = {"empty-128", "r-116x197"}


def dump_tensors(out, path):
    import base64
    from export import OUTPUTS
    d = {}
    for n, t in zip(OUTPUTS, out):
        t = t.detach().contiguous()
        dt = "int64" if t.dtype == torch.int64 else "float32"
        arr = t.numpy().astype("<i8" if dt == "int64" else "<f4")
        d[n] = {"dtype": dt, "dims": list(t.shape), "b64": base64.b64encode(arr.tobytes()).decode()}
    with open(path, "w") as f:
        json.dump(d, f)


def rle_uncompressed(mask: np.ndarray):
    """COCO uncompressed RLE (column-major runs, starting with zeros)."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, prev, run = [], 0, 0
    for v in flat:
        if v != prev:
            counts.append(run); run = 0; prev = v
        run += 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def make_case(h, w, g):
    for idx in range(10000):
        img, objs = make_image(FIXTURE_SEED + g, idx, min_objects=g, max_objects=g, width=w, height=h)
        if len(objs) == g:
            return img, objs
    raise RuntimeError("no case")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "config.json"))
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", default="test/fixtures/losses")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(a.config)
    model = build_model(cfg)
    st = torch.load(a.weights, map_location="cpu")
    model.load_state_dict(st["model"] if "iter" in st else st)
    pin_pooler_scales(model)
    wrapper = LossCapable(model).eval()

    recipe = LossRecipe(model)  # deterministic recipe; expected values with the stock sampler sizes
    os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]}
    index = {"description": __doc__.strip().splitlines()[0], "weights": os.path.basename(a.weights),
             "recipe": "docs/losses.md, sampling", "cases": []}
    ann_id = 1
    for img_id, (name, h, w, g) in enumerate(CASES, start=1):
        img, objs = make_case(h, w, g)
        fname = f"{name}.png"
        Image.fromarray(img).save(os.path.join(a.out, "images", fname))
        coco["images"].append({"id": img_id, "file_name": fname, "height": h, "width": w})
        for o in objs:
            x, y, bw, bh = o["bbox"]
            coco["annotations"].append({"id": ann_id, "image_id": img_id, "category_id": o["category_id"],
                                        "bbox": [x, y, bw, bh], "area": int(o["mask"].sum()), "iscrowd": 0,
                                        "segmentation": rle_uncompressed(o["mask"])})
            ann_id += 1
        t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
        boxes = torch.tensor([[o["bbox"][0], o["bbox"][1], o["bbox"][0] + o["bbox"][2], o["bbox"][1] + o["bbox"][3]]
                              for o in objs], dtype=torch.float32).reshape(-1, 4)
        target = {"boxes": boxes, "labels": torch.tensor([o["category_id"] for o in objs], dtype=torch.int64),
                  "masks": torch.from_numpy(np.stack([o["mask"] for o in objs]).astype(np.uint8)) if objs
                  else torch.zeros((0, h, w), dtype=torch.uint8)}
        both = recipe(t, target)
        rl = recipe.cap["rpn"][2]
        lab = recipe.cap["roi"][2]
        fg = lab > 0
        model.eval()
        with torch.no_grad():
            out = wrapper(t, boxes)
        if name in EAGER_DUMP:
            os.makedirs(os.path.join(a.out, "eager"), exist_ok=True)
            dump_tensors(out, os.path.join(a.out, "eager", f"{name}.json"))
        case = {"name": name, "file_name": fname, "image_id": img_id, "height": h, "width": w, "gt_count": len(objs),
                "resized": out[4].tolist(), "padded": out[5].tolist(),
                "counts": {"anchors_pos": int((rl == 1).sum()), "anchors_neg": int((rl == 0).sum()),
                           "rois": int(lab.numel()), "rois_fg": int(fg.sum())},
                "losses": both,
                "detections": {"boxes": out[0].tolist(), "labels": out[1].tolist(), "scores": out[2].tolist()}}
        index["cases"].append(case)
        print(name, json.dumps({k: round(v, 5) for k, v in both["all"].items()}), flush=True)
    with open(os.path.join(a.out, "annotations.json"), "w") as f:
        json.dump(coco, f)
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
