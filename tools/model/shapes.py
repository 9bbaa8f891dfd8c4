"""Synthetic "shapes" dataset (squares, circles, triangles), exactly as documented in
models/shapes/README.md. Seeded: image `i` of split seed `s` is drawn from
numpy.random.default_rng([s, i]), so any split is regenerable image by image.

Used by train.py (on the fly), evaluate.py (held-out split) and make_fixtures.py.
"""
from __future__ import annotations

import math

import numpy as np

CLASSES = ["square", "circle", "triangle"]  # category ids 1, 2, 3 (0 = background)
SIN60 = math.sin(math.pi / 3)


def _shape_mask(cls: int, cx: int, cy: int, s: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    if cls == 1:  # square, half side s (inclusive pixel range)
        m = (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    elif cls == 2:  # circle, radius s
        m = (xx - cx) ** 2 + (yy - cy) ** 2 <= s * s
    else:  # triangle pointing up: (cx, cy-s), (cx - s/sin60, cy+s), (cx + s/sin60, cy+s)
        half = s / SIN60
        # inside iff below the apex line pair and above the base
        t = (yy - (cy - s)) / (2.0 * s)  # 0 at apex, 1 at base
        m = (yy >= cy - s) & (yy <= cy + s) & (np.abs(xx - cx) <= t * half)
    return m


def _box(m: np.ndarray):
    ys, xs = np.nonzero(m)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / ua


def make_image(seed: int, index: int, min_objects: int = 1, max_objects: int = 4,
               width=None, height=None):
    """Returns (rgb uint8 [H,W,3], list of {category_id, mask bool [H,W], bbox xywh})."""
    rng = np.random.default_rng([seed, index])
    w = int(width) if width is not None else int(rng.integers(128, 321))
    h = int(height) if height is not None else int(rng.integers(128, 321))
    bg = rng.integers(0, 256, size=3)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    n = int(rng.integers(min_objects, max_objects + 1))
    placed = []  # (cls, colour, full mask, box)
    for _ in range(n):
        ok = False
        for _try in range(20):
            cls = int(rng.integers(1, 4))
            while True:
                col = rng.integers(0, 256, size=3)
                if int(np.abs(col - bg).sum()) >= 120:
                    break
            lo = max(8, min(w, h) // 16)
            hi = max(lo, min(w, h) // 4)
            s = int(rng.integers(lo, hi + 1))
            cx = int(rng.integers(s, w - s))  # [s, W-s-1]
            cy = int(rng.integers(s, h - s))
            m = _shape_mask(cls, cx, cy, s, h, w)
            if not m.any():
                continue
            b = _box(m)
            if any(_iou(b, p[3]) > 0.3 for p in placed):
                continue
            placed.append((cls, col, m, b))
            ok = True
            break
        if not ok:
            break
    visible = [p[2].copy() for p in placed]
    for i, (cls, col, m, b) in enumerate(placed):
        img[m] = col
        for j in range(i):
            visible[j] &= ~m
    objects = []
    for (cls, col, m, b), vis in zip(placed, visible):
        if vis.sum() * 2 < m.sum():
            continue
        x0, y0, x1, y1 = _box(vis)
        objects.append({"category_id": cls, "mask": vis,
                        "bbox": [x0, y0, x1 - x0 + 1, y1 - y0 + 1]})
    return img, objects
