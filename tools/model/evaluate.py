"""Eager torchvision evaluation of shapes weights on a split generated on the fly, for choosing
between training candidates (the model card's numbers come from `npm run model:card`, through the
service's own pipeline; on the same weights the two agree).

  /usr/bin/python3 tools/model/evaluate.py WEIGHTS [--seed 4000] [--count 200] [--threads 2]

Seeds: 4000 = the validation split training candidates are chosen on, 3000 = the held-out split of
the model card. Prints one JSON line: precision and recall at score 0.5 (the model card's rule:
each detection in score order takes the unmatched ground truth of its class with the best box IoU
>= 0.5), the false positives by kind, and, when pycocotools can be imported (PYCOCOTOOLS_DIR or
installed), COCO box and mask AP with mask AP per IoU threshold.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from build import build_model, load_config  # noqa: E402
from shapes import make_image  # noqa: E402


def iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    i = ix * iy
    return i / (a[2] * a[3] + b[2] * b[3] - i)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "config.json"))
    ap.add_argument("--seed", type=int, default=4000)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if os.environ.get("PYCOCOTOOLS_DIR"):
        sys.path.insert(0, os.environ["PYCOCOTOOLS_DIR"])
    try:
        from pycocotools import mask as mu
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        mu = None
    model = build_model(load_config(a.config))
    state = torch.load(a.weights, map_location="cpu")
    model.load_state_dict(state["model"] if isinstance(state, dict) and "iter" in state else state)
    model.eval()

    images, anns, res = [], [], []
    tp = fp = dup = wrong = ngt = 0
    t0 = time.time()
    for i in range(a.count):
        img, objs = make_image(a.seed, i)
        h, w = img.shape[:2]
        images.append({"id": i + 1, "height": h, "width": w})
        ngt += len(objs)
        if mu:
            for o in objs:
                r = mu.encode(np.asfortranarray(o["mask"].astype(np.uint8)))
                r["counts"] = r["counts"].decode()
                anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": o["category_id"], "bbox": o["bbox"],
                             "area": int(o["mask"].sum()), "iscrowd": 0, "segmentation": r})
        with torch.no_grad():
            out = model([torch.from_numpy(img).permute(2, 0, 1).float() / 255.0])[0]
        dets = []
        for b, lab, s, mk in zip(out["boxes"].tolist(), out["labels"].tolist(), out["scores"].tolist(), out["masks"]):
            bb = [b[0], b[1], b[2] - b[0], b[3] - b[1]]
            if mu:
                r = mu.encode(np.asfortranarray((mk[0] > 0.5).numpy().astype(np.uint8)))
                r["counts"] = r["counts"].decode()
                res.append({"image_id": i + 1, "category_id": lab, "score": s, "bbox": bb, "segmentation": r})
            if s >= 0.5:
                dets.append((s, lab, bb))
        used = [False] * len(objs)
        for s, lab, bb in sorted(dets, key=lambda d: -d[0]):
            best, best_iou = -1, 0.5
            for j, o in enumerate(objs):
                v = iou(bb, o["bbox"])
                if not used[j] and o["category_id"] == lab and v >= best_iou:
                    best, best_iou = j, v
            if best >= 0:
                used[best] = True
                tp += 1
                continue
            fp += 1
            if any(o["category_id"] == lab and iou(bb, o["bbox"]) >= 0.5 for o in objs):
                dup += 1
            elif any(iou(bb, o["bbox"]) >= 0.5 for o in objs):
                wrong += 1
    rec = {"weights": a.weights, "seed": a.seed, "images": a.count, "ground_truth": ngt,
           "precision": round(tp / max(1, tp + fp), 4), "recall": round(tp / max(1, ngt), 4),
           "true_positives": tp, "false_positives": fp, "false_positive_duplicates": dup,
           "false_positive_wrong_class": wrong}
    if mu:
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": k} for k in (1, 2, 3)]}
        with contextlib.redirect_stdout(io.StringIO()):
            gt.createIndex()
        for t in ("bbox", "segm"):
            rr = [{k: v for k, v in r.items() if not (t == "segm" and k == "bbox")} for r in res]
            with contextlib.redirect_stdout(io.StringIO()):
                e = COCOeval(gt, gt.loadRes(rr), t)
                e.evaluate(); e.accumulate(); e.summarize()
            name = "box" if t == "bbox" else "mask"
            rec[f"{name}_AP"] = round(float(e.stats[0]), 4)
            pr = e.eval["precision"][:, :, :, 0, 2]
            rec[f"{name}_AP_per_iou"] = [round(float(np.mean(pr[k][pr[k] > -1])), 3) for k in range(pr.shape[0])]
    rec["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
