"""pycocotools on a COCO ground truth + results pair, for the evaluation benchmark (bench/eval-speed.ts)
and the differential test's fixtures (bench/eval-reference.ts).

    python3 bench/eval-pycocotools.py PYCOCOTOOLS_DIR GT.json DT.json IOU_TYPES REPS

PYCOCOTOOLS_DIR: a folder holding the `pycocotools` package (e.g. a `build_ext --inplace` build of its
PythonAPI), or "-" for the installed one. Each run is timed the way the service is: from the JSON
text already in memory to the 12 stats (json.loads, COCO index, loadRes, evaluate, accumulate,
summarize), once per IoU type and repetition, in wall-clock and CPU time. Prints one JSON object: per IoU type the seconds of
every repetition, the stats, per-category values (detectron2's convention, as the service reports
them) and SHA-256 digests of the accumulated precision / recall / scores arrays (C order, float64
little-endian), so that a test can compare every number without committing the arrays.
"""
import contextlib
import hashlib
import io
import json
import sys
import time

if sys.argv[1] != "-":
    sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
import pycocotools  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def run(gt_text, dt_text, iou):
    gt = COCO()
    gt.dataset = json.loads(gt_text)
    gt.createIndex()
    dt = gt.loadRes(json.loads(dt_text))
    e = COCOeval(gt, dt, iou)
    e.evaluate()
    e.accumulate()
    e.summarize()
    return gt, e


def mean_valid(a):
    v = a[a > -1]
    return None if v.size == 0 else float(np.mean(v))


def per_category(gt, e):
    p = e.eval["precision"]  # [T, R, K, A, M]
    r = e.eval["recall"]  # [T, K, A, M]
    thr = list(e.params.iouThrs)
    lbl = list(e.params.areaRngLbl)
    out = []
    for k, cid in enumerate(e.params.catIds):
        def ap(a, t=None):
            s = p[:, :, k, lbl.index(a), -1] if t is None else p[thr.index(t), :, k, lbl.index(a), -1]
            return mean_valid(s)
        out.append({
            "category_id": int(cid), "name": gt.cats[cid]["name"],
            "ap": ap("all"), "ap50": ap("all", 0.5), "ap75": ap("all", 0.75),
            "aps": ap("small"), "apm": ap("medium"), "apl": ap("large"),
            "ar100": mean_valid(r[:, k, lbl.index("all"), -1]),
        })
    return out


def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a, dtype="<f8").tobytes()).hexdigest()


def main():
    _, _, gt_path, dt_path, types, reps = sys.argv
    with open(gt_path) as f:
        gt_text = f.read()
    with open(dt_path) as f:
        dt_text = f.read()
    out = {"numpy": np.__version__, "pycocotools": getattr(pycocotools, "__version__", "?")}
    for iou in types.split(","):
        seconds, cpu = [], []
        for _ in range(int(reps)):
            with contextlib.redirect_stdout(io.StringIO()):
                t0, c0 = time.perf_counter(), time.process_time()
                gt, e = run(gt_text, dt_text, iou)
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        out[iou] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "stats": [float(x) for x in e.stats],
            "per_category": per_category(gt, e),
            "sha256": {k: digest(e.eval[k]) for k in ("precision", "recall", "scores")},
        }
    print(json.dumps(out))


main()
